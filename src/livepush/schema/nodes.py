"""The nodes of a payload description: what a value must be, checked by :meth:`Node.problem`."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
