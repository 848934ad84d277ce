"""Payload schemas: one description of a ``TypedDict`` that the validator and TypeScript both read.

:func:`describe` reads an annotation once, at registration, into a small tree of nodes
(:class:`Scalar`, :class:`OneOf`, :class:`ListOf`, :class:`Object`, ...). The registry checks
payloads with :meth:`Node.problem`; ``manage.py livepush_typescript`` turns the same nodes into
TypeScript. An annotation neither of them could handle is refused with
:class:`~livepush.exceptions.LivePushConfigurationError` naming the schema, the field and the form,
so a schema never passes payloads its TypeScript type would reject.

The supported forms, and what each becomes on the wire and in TypeScript:

=========================================================  ======================================
Annotation                                                 Checked as / TypeScript
=========================================================  ======================================
``str``, ``int``, ``float``, ``bool``, ``None``            the JSON scalar (``bool`` is not an
                                                           ``int``) / ``string``, ``number``,
                                                           ``boolean``, ``null``
``Any``, ``object``                                        anything / ``unknown``
a ``TypedDict`` (``total=False``, ``Required``,            an object with exactly its keys /
``NotRequired``, ``ReadOnly``, nested, recursive)          an ``interface``, ``key?:`` if optional
``Annotated[X, ...]``, ``NewType("N", X)``                 as ``X``
``X | Y``, ``Optional[X]``, ``Union[X, Y]``                either / ``X | Y``
``Literal["a", 1]``, a ``str`` or ``int`` enum             one of the values / their literal union
``list[X]``, ``Sequence[X]``, ``set[X]``,                  a list or tuple of ``X`` / ``X[]``
``frozenset[X]``, ``tuple[X, ...]``
``tuple[X, Y]``                                            a list of exactly those / ``[X, Y]``
``dict[str, X]``, ``Mapping[str, X]``                      an object of ``X`` /
                                                           ``Record<string, X>``
``datetime``, ``date``, ``time``, ``timedelta``,           the object, or a string / ``string``
``UUID``, ``Decimal``                                      (``DjangoJSONEncoder`` writes them as
                                                           strings)
=========================================================  ======================================
"""

from __future__ import annotations

import collections.abc
import datetime
import decimal
import enum
import types
import typing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typing_extensions
from typing_extensions import is_typeddict

from livepush.exceptions import LivePushConfigurationError

__all__ = [
    "ENCODED_TYPES",
    "AnyValue",
    "Encoded",
    "Field",
    "ListOf",
    "MappingOf",
    "Node",
    "Object",
    "OneOf",
    "Scalar",
    "TupleOf",
    "UnionOf",
    "describe",
]

#: Types the default ``JSON_ENCODER`` (``DjangoJSONEncoder``) writes as strings: a payload may hold
#: the object (or the string already), and TypeScript sees a ``string``.
ENCODED_TYPES: tuple[type, ...] = (
    datetime.datetime,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    decimal.Decimal,
)

_NoneType = type(None)
_REQUIRED = {typing_extensions.Required, getattr(typing, "Required", None)} - {None}
_NOT_REQUIRED = {typing_extensions.NotRequired, getattr(typing, "NotRequired", None)} - {None}
_READ_ONLY = {typing_extensions.ReadOnly, getattr(typing, "ReadOnly", None)} - {None}
_UNIONS = {Union, types.UnionType}
_SEQUENCES = {
    list,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
    collections.abc.MutableSet,
}
_MAPPINGS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}
_SUPPORTED = (
    "str, int, float, bool, None, Any, a TypedDict, X | Y, Literal[...], a str or int enum, "
    "list[X], Sequence[X], set[X], tuple[X, ...], tuple[X, Y], dict[str, X], NewType, "
    "Annotated, datetime, date, time, timedelta, UUID or Decimal"
)


def _kind(value: object) -> str:
    return "None" if value is None else type(value).__name__


class Node:
    """One node of a payload description; the subclasses are the supported forms."""

    @property
    def label(self) -> str:
        """How error messages name the form: ``int``, ``list[str]``, ``Order``..."""
        raise NotImplementedError

    def problem(self, value: Any, path: str) -> str | None:
        """Return what is wrong with ``value`` at ``path`` (like ``data['id']``), or ``None``."""
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Scalar(Node):
    """``str``, ``int``, ``float``, ``bool`` or ``None``."""

    type: type

    @property
    def label(self) -> str:
        return "None" if self.type is _NoneType else self.type.__name__

    def problem(self, value: Any, path: str) -> str | None:
        if self.type is _NoneType:
            ok = value is None
        elif self.type is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif self.type is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, self.type)
        return None if ok else f"{path} must be {self.label}, got {_kind(value)}"


@dataclass(frozen=True, eq=False)
class AnyValue(Node):
    """``Any`` or ``object``: anything the JSON encoder takes."""

    @property
    def label(self) -> str:
        return "Any"

    def problem(self, value: Any, path: str) -> str | None:
        return None


@dataclass(frozen=True, eq=False)
class Encoded(Node):
    """A type ``JSON_ENCODER`` writes as a string (see :data:`ENCODED_TYPES`)."""

    type: type

    @property
    def label(self) -> str:
        return self.type.__name__

    def problem(self, value: Any, path: str) -> str | None:
        if isinstance(value, (self.type, str)):
            return None
        return f"{path} must be {self.label} or str, got {_kind(value)}"


@dataclass(frozen=True, eq=False)
class OneOf(Node):
    """``Literal[...]`` or an enum: one of a fixed set of JSON scalars."""

    values: tuple[str | int | None, ...]

    @property
    def label(self) -> str:
        return f"one of {self.values!r}"

    def problem(self, value: Any, path: str) -> str | None:
        # `True == 1` in Python, but not on the wire.
        if any(value == v and isinstance(value, bool) == isinstance(v, bool) for v in self.values):
            return None
        return f"{path} must be one of {self.values!r}, got {value!r}"


@dataclass(frozen=True, eq=False)
class UnionOf(Node):
    """``X | Y``: a value matching any option."""

    options: tuple[Node, ...]

    @property
    def label(self) -> str:
        return " | ".join(option.label for option in self.options)

    def problem(self, value: Any, path: str) -> str | None:
        if any(option.problem(value, path) is None for option in self.options):
            return None
        return f"{path} must be {self.label}, got {_kind(value)}"


@dataclass(frozen=True, eq=False)
class ListOf(Node):
    """``list[X]`` and the other homogeneous collections: a JSON array."""

    item: Node

    @property
    def label(self) -> str:
        return f"list[{self.item.label}]"

    def problem(self, value: Any, path: str) -> str | None:
        if not isinstance(value, (list, tuple)):
            return f"{path} must be a list, got {_kind(value)}"
        for index, item in enumerate(value):
            problem = self.item.problem(item, f"{path}[{index}]")
            if problem:
                return problem
        return None


@dataclass(frozen=True, eq=False)
class TupleOf(Node):
    """``tuple[X, Y]``: a JSON array of exactly these items."""

    items: tuple[Node, ...]

    @property
    def label(self) -> str:
        return f"tuple[{', '.join(item.label for item in self.items) or '()'}]"

    def problem(self, value: Any, path: str) -> str | None:
        if not isinstance(value, (list, tuple)):
            return f"{path} must be a list, got {_kind(value)}"
        if len(value) != len(self.items):
            return f"{path} must have {len(self.items)} item(s), got {len(value)}"
        for index, (item, node) in enumerate(zip(value, self.items, strict=True)):
            problem = node.problem(item, f"{path}[{index}]")
            if problem:
                return problem
        return None


@dataclass(frozen=True, eq=False)
class MappingOf(Node):
    """``dict[str, X]``: a JSON object with any string keys."""

    value: Node

    @property
    def label(self) -> str:
        return f"dict[str, {self.value.label}]"

    def problem(self, value: Any, path: str) -> str | None:
        if not isinstance(value, Mapping):
            return f"{path} must be an object, got {_kind(value)}"
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has the key {key!r}; object keys must be str"
            problem = self.value.problem(item, f"{path}[{key!r}]")
            if problem:
                return problem
        return None


@dataclass(frozen=True)
class Field:
    """One key of a :class:`Object`."""

    node: Node
    required: bool
    read_only: bool = False


class Object(Node):
    """A ``TypedDict``: a JSON object with exactly its keys.

    ``fields`` is filled after the node exists, so a ``TypedDict`` may refer to itself.
    """

    def __init__(self, cls: type) -> None:
        #: The ``TypedDict`` class; TypeScript names the interface after it.
        self.cls = cls
        #: Key -> :class:`Field`, in declaration order.
        self.fields: dict[str, Field] = {}

    @property
    def label(self) -> str:
        return self.cls.__qualname__

    def __repr__(self) -> str:
        return f"Object({self.cls.__qualname__})"

    def problem(self, value: Any, path: str) -> str | None:
        if not isinstance(value, Mapping):
            return f"{path} must be an object ({self.label}), got {_kind(value)}"
        missing = sorted(k for k, f in self.fields.items() if f.required and k not in value)
        if missing:
            return f"{path} is missing the key(s) {', '.join(repr(k) for k in missing)}"
        unknown = sorted(str(k) for k in value if k not in self.fields)
        if unknown:
            return f"{path} has unexpected key(s) {', '.join(repr(k) for k in unknown)}"
        for key, field in self.fields.items():
            if key in value:
                problem = field.node.problem(value[key], f"{path}[{key!r}]")
                if problem:
                    return problem
        return None


def describe(annotation: Any, *, where: str | None = None) -> Node:
    """Read a payload annotation (usually a ``TypedDict`` class) into its description.

    Args:
        annotation: the annotation; the registry passes each schema's ``TypedDict``.
        where: how an error names the annotation; default, its own name.

    Raises:
        LivePushConfigurationError: the annotation, or a field of a ``TypedDict`` in it, uses a
            form the validator and the TypeScript generator cannot both handle, or a ``TypedDict``'s
            annotations cannot be resolved; the message names the schema, the field and the form.
    """
    return _Reader().read(annotation, where or "The payload schema", annotation)


class _Reader:
    def __init__(self) -> None:
        # TypedDicts met so far, so that a recursive one ends.
        self.objects: dict[type, Object] = {}

    def read(self, tp: Any, where: str, whole: Any) -> Node:
        origin = get_origin(tp)
        args = get_args(tp)
        # Field qualifiers outside a TypedDict field (Python 3.10's get_type_hints() keeps them).
        if origin is Annotated or origin in _REQUIRED | _NOT_REQUIRED | _READ_ONLY:
            return self.read(args[0], where, whole)
        if tp is Any or tp is object:
            return AnyValue()
        if tp is None or tp is _NoneType:
            return Scalar(_NoneType)
        if tp in (str, int, float, bool):
            return Scalar(tp)
        if is_typeddict(tp):
            return self.object(tp)
        if origin in _UNIONS:
            return UnionOf(tuple(self.read(arg, where, whole) for arg in args))
        if origin is Literal:
            values = tuple(v.value if isinstance(v, enum.Enum) else v for v in args)
            if all(v is None or isinstance(v, (str, int)) for v in values):
                return OneOf(values)
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            values = tuple(member.value for member in tp)
            if values and all(
                isinstance(v, (str, int)) and not isinstance(v, bool) for v in values
            ):
                return OneOf(values)
        elif tp is tuple or tp is typing.Tuple:  # noqa: UP006 - the bare alias
            return ListOf(AnyValue())
        elif origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return ListOf(self.read(args[0], where, whole))
            if args == ((),):  # tuple[()] on Python 3.10; () on later versions
                args = ()
            return TupleOf(tuple(self.read(arg, where, whole) for arg in args))
        elif origin in _SEQUENCES or tp in _SEQUENCES:
            return ListOf(self.read(args[0], where, whole) if args else AnyValue())
        elif origin in _MAPPINGS or tp in _MAPPINGS:
            if not args:
                return MappingOf(AnyValue())
            key = self.read(args[0], where, whole)
            if isinstance(key, AnyValue) or (isinstance(key, Scalar) and key.type is str):
                return MappingOf(self.read(args[1], where, whole))
            raise LivePushConfigurationError(
                f"{where} is annotated {_form(whole)}: the keys of {_form(tp)} must be str "
                "(JSON object keys are strings)."
            )
        elif isinstance(tp, type) and issubclass(tp, ENCODED_TYPES):
            return Encoded(next(t for t in ENCODED_TYPES if issubclass(tp, t)))
        elif callable(tp) and hasattr(tp, "__supertype__"):  # typing.NewType
            return self.read(tp.__supertype__, where, whole)
        part = ", which" if tp is whole else f": {_form(tp)}"
        raise LivePushConfigurationError(
            f"{where} is annotated {_form(whole)}{part} is not supported in a payload schema. "
            f"Use {_SUPPORTED}."
        )

    def object(self, cls: type) -> Object:
        known = self.objects.get(cls)
        if known is not None:
            return known
        node = self.objects[cls] = Object(cls)
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception as exc:  # NameError for a missing name, TypeError for a bad form
            raise LivePushConfigurationError(
                f"Cannot read the annotations of the payload schema {_form(cls)}: {exc}"
            ) from exc
        required_keys = frozenset(getattr(cls, "__required_keys__", ()))
        for key, hint in hints.items():
            required, read_only = key in required_keys, False
            # `__required_keys__` misses `NotRequired[...]` written as a string (under
            # `from __future__ import annotations`), so the resolved hint has the last word.
            while True:
                origin = get_origin(hint)
                if origin in _REQUIRED:
                    required = True
                elif origin in _NOT_REQUIRED:
                    required = False
                elif origin in _READ_ONLY:
                    read_only = True
                elif origin is not Annotated:
                    break
                hint = get_args(hint)[0]
            where = f"The field {key!r} of the payload schema {_form(cls)}"
            node.fields[key] = Field(self.read(hint, where, hint), required, read_only)
        return node


def _form(tp: Any) -> str:
    """Name an annotation the way it is written: ``bytes``, ``list[bytes]``, ``app.Order``."""
    if isinstance(tp, type) and not get_args(tp):
        if tp.__module__ == "builtins":
            return tp.__qualname__
        return f"{tp.__module__}.{tp.__qualname__}"
    return repr(tp).replace("typing.", "")
