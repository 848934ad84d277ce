"""Reading a payload annotation into its description (:func:`describe`)."""

from __future__ import annotations

import collections.abc
import enum
import types
import typing
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typing_extensions
from typing_extensions import is_typeddict

from livepush.exceptions import LivePushConfigurationError
from livepush.schema.nodes import (
    ENCODED_TYPES,
    AnyValue,
    Encoded,
    Field,
    ListOf,
    MappingOf,
    Node,
    Object,
    OneOf,
    Scalar,
    TupleOf,
    UnionOf,
)

__all__ = ["describe"]

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
