"""The message-type registry: every type name a push or a client frame may carry.

The built-in :class:`WebSocketMessageType` holds the 15 application types of the seed protocol and
the protocol's own ``PING``, ``PONG`` and ``ERROR``. A host project adds its own ``str`` enums
through ``LIVEPUSH["MESSAGE_TYPES"]`` or :func:`register`, optionally with a payload schema (a
``TypedDict``) that every push of that type is checked against.
"""

from __future__ import annotations

import difflib
import enum
import threading
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeAlias, Union, get_args, get_origin

import typing_extensions
from django.core.signals import setting_changed
from django.dispatch import receiver
from typing_extensions import is_typeddict

from livepush.exceptions import (
    DuplicateMessageType,
    LivePushConfigurationError,
    PayloadError,
    UnknownMessageType,
)

__all__ = [
    "PROTOCOL_TYPES",
    "MessageTypeRegistry",
    "RegisteredType",
    "WebSocketMessageType",
    "get_registry",
    "register",
]


class WebSocketMessageType(str, enum.Enum):
    """The message types of the seed protocol, plus the protocol's own types."""

    MESSAGE_CREATED = "MESSAGE_CREATED"
    MESSAGE_DELETED = "MESSAGE_DELETED"
    MESSAGE_VIEWED = "MESSAGE_VIEWED"
    USER_PRESENCE_CONNECTED = "USER_PRESENCE_CONNECTED"
    USER_PRESENCE_DISCONNECTED = "USER_PRESENCE_DISCONNECTED"
    BUCKETPOINT_CREATED = "BUCKETPOINT_CREATED"
    BUCKETPOINT_UPDATED = "BUCKETPOINT_UPDATED"
    BUCKETPOINT_DELETED = "BUCKETPOINT_DELETED"
    PHOTO_UPLOADED = "PHOTO_UPLOADED"
    PHOTO_UPDATED = "PHOTO_UPDATED"
    PHOTO_DELETED = "PHOTO_DELETED"
    ALBUM_CREATED = "ALBUM_CREATED"
    ALBUM_UPDATED = "ALBUM_UPDATED"
    ALBUM_DELETED = "ALBUM_DELETED"
    SYSTEM_NOTIFICATION = "SYSTEM_NOTIFICATION"
    # The protocol's own types (docs/reference/protocol.md).
    PING = "PING"
    PONG = "PONG"
    ERROR = "ERROR"
    PRESENCE_SNAPSHOT = "PRESENCE_SNAPSHOT"

    def __str__(self) -> str:
        return str(self.value)


#: Types that belong to the wire protocol itself and are never pushed by application code.
PROTOCOL_TYPES: frozenset[str] = frozenset({"PING", "PONG", "ERROR", "PRESENCE_SNAPSHOT"})

TypeRef: TypeAlias = str | enum.Enum


@dataclass(frozen=True)
class RegisteredType:
    """One registered message type."""

    name: str
    #: The enum member it came from, or ``None`` for a type registered by name.
    member: enum.Enum | None
    #: A ``TypedDict`` that payloads are checked against, or ``None``.
    schema: type | None
    #: Where it was registered from (the enum's dotted path), for error messages.
    source: str


class MessageTypeRegistry:
    """Maps type names to :class:`RegisteredType`; the one instance is :func:`get_registry`."""

    def __init__(self) -> None:
        self._types: dict[str, RegisteredType] = {}
        self._lock = threading.RLock()
        self._settings_loaded = False
        self.register(WebSocketMessageType)

    # Registration ---------------------------------------------------------------------------

    def register(
        self, message_type: TypeRef | type[enum.Enum], *, schema: type | None = None
    ) -> None:
        """Register an enum of message types, one member, or one name.

        Registering a name again from the same source only updates its schema; the same name from
        a different enum is an error, since a client could not tell the two apart.

        Args:
            message_type: a ``str`` enum class, one of its members, or a plain name.
            schema: a ``TypedDict`` class that payloads of this type must match.

        Raises:
            LivePushConfigurationError: the name is taken by another enum, the enum's values are
                not strings, or ``schema`` is not a ``TypedDict``.
        """
        if isinstance(message_type, type) and issubclass(message_type, enum.Enum):
            if schema is not None:
                raise LivePushConfigurationError(
                    "schema= applies to one message type; register the enum first, then "
                    "register(MyTypes.SOME_TYPE, schema=SomePayload) for each typed member."
                )
            for member in message_type:
                self._add(member, None)
            return
        if isinstance(message_type, enum.Enum):
            self._add(message_type, schema)
            return
        if isinstance(message_type, str):
            self._add_name(message_type, None, schema, "livepush.register()")
            return
        raise LivePushConfigurationError(
            f"Cannot register {message_type!r}: pass a str enum class, one of its members or a "
            "type name."
        )

    def _add(self, member: enum.Enum, schema: type | None) -> None:
        if not isinstance(member.value, str):
            raise LivePushConfigurationError(
                f"{type(member).__qualname__}.{member.name} has the value {member.value!r}; "
                "message type values must be strings (subclass str and enum.Enum)."
            )
        cls = type(member)
        self._add_name(member.value, member, schema, f"{cls.__module__}.{cls.__qualname__}")

    def _add_name(
        self, name: str, member: enum.Enum | None, schema: type | None, source: str
    ) -> None:
        if not name or not name.strip():
            raise LivePushConfigurationError("A message type name cannot be empty.")
        if schema is not None and not is_typeddict(schema):
            raise LivePushConfigurationError(
                f"The schema for message type {name!r} is {schema!r}; it must be a TypedDict class."
            )
        with self._lock:
            existing = self._types.get(name)
            if existing is not None and existing.source != source:
                if member is None and existing.member is not None:
                    # register("NAME", schema=...) for a type an enum already registered.
                    member, source = existing.member, existing.source
                elif not (member is not None and existing.member is member):
                    raise DuplicateMessageType(
                        f"Message type {name!r} is registered twice: by {existing.source} and by "
                        f"{source}. Rename one of them; clients only see the name."
                    )
            if existing is not None and schema is None:
                schema = existing.schema
            self._types[name] = RegisteredType(name, member, schema, source)

    def load_settings(self) -> None:
        """Import and register the enums named in ``LIVEPUSH["MESSAGE_TYPES"]`` (once).

        A change of ``LIVEPUSH`` (``override_settings`` in tests) makes the next lookup load
        them again; types registered before stay registered.
        """
        if self._settings_loaded:
            return
        with self._lock:
            for cls in load_message_type_enums():
                self.register(cls)
            self._settings_loaded = True

    def reset_settings(self) -> None:
        """Load ``LIVEPUSH["MESSAGE_TYPES"]`` again at the next lookup."""
        self._settings_loaded = False

    # Lookup ---------------------------------------------------------------------------------

    def resolve(self, message_type: TypeRef) -> RegisteredType:
        """Return the registration for an enum member or a name.

        Raises:
            UnknownMessageType: the name is not registered; the message names the closest ones.
            TypeError: ``message_type`` is neither a string nor an enum member.
        """
        self.load_settings()
        if isinstance(message_type, enum.Enum):
            name = message_type.value
        elif isinstance(message_type, str):
            name = message_type
        else:
            raise TypeError(
                f"event_type must be a registered message type name or enum member, not "
                f"{type(message_type).__name__} {message_type!r}"
            )
        found = self._types.get(name) if isinstance(name, str) else None
        if found is None:
            raise UnknownMessageType(self._unknown_message(name))
        return found

    def get(self, name: str) -> RegisteredType | None:
        """Return the registration for ``name``, or ``None``; never raises."""
        self.load_settings()
        return self._types.get(name)

    def suggest(self, name: object, among: list[str] | None = None) -> list[str]:
        """Return up to three registered names (or names from ``among``) close to ``name``."""
        candidates = sorted(self._types) if among is None else among
        return difflib.get_close_matches(str(name), candidates, n=3, cutoff=0.6)

    def _unknown_message(self, name: object) -> str:
        close = self.suggest(name)
        hint = (
            f" Did you mean {' or '.join(repr(c) for c in close)}?"
            if close
            else " Register it with LIVEPUSH['MESSAGE_TYPES'] or livepush.register()."
        )
        return f"Unknown message type {name!r}.{hint}"

    def __contains__(self, name: object) -> bool:
        self.load_settings()
        return name in self._types

    def __iter__(self) -> Iterator[RegisteredType]:
        self.load_settings()
        return iter(list(self._types.values()))

    def names(self) -> list[str]:
        return [t.name for t in self]

    # Payload schemas ------------------------------------------------------------------------

    def validate_payload(self, registered: RegisteredType, data: object) -> None:
        """Check ``data`` against the type's schema, if it has one.

        Raises:
            PayloadError: naming the first field that does not match.
        """
        if registered.schema is None:
            return
        problem = _check(data, registered.schema, "data")
        if problem is not None:
            raise PayloadError(
                f"Payload for message type {registered.name!r} does not match "
                f"{registered.schema.__qualname__}: {problem}"
            )


def load_message_type_enums() -> list[type[enum.Enum]]:
    """Import the enums named in ``LIVEPUSH["MESSAGE_TYPES"]``.

    Raises:
        LivePushConfigurationError: a path does not import or is not a ``str`` enum.
    """
    from django.utils.module_loading import import_string

    from livepush.conf import livepush_settings

    paths = livepush_settings.MESSAGE_TYPES
    if isinstance(paths, str):
        raise LivePushConfigurationError(
            f"LIVEPUSH['MESSAGE_TYPES'] is the string {paths!r}; make it a list: [{paths!r}]."
        )
    enums: list[type[enum.Enum]] = []
    for path in paths:
        if isinstance(path, type):
            obj: object = path
        elif not isinstance(path, str):
            raise LivePushConfigurationError(
                f"LIVEPUSH['MESSAGE_TYPES'] has {path!r}; give dotted paths of str enums, like "
                "'myapp.messages.MyMessageType'."
            )
        else:
            try:
                obj = import_string(path)
            except ImportError as exc:
                raise LivePushConfigurationError(
                    f"LIVEPUSH['MESSAGE_TYPES'] names {path!r}, which could not be imported: {exc}"
                ) from exc
        if not (isinstance(obj, type) and issubclass(obj, enum.Enum)):
            raise LivePushConfigurationError(
                f"LIVEPUSH['MESSAGE_TYPES'] names {path!r}, which is {obj!r}, not an enum class."
            )
        enums.append(obj)
    return enums


_NoneType = type(None)
_REQUIRED = {typing_extensions.Required, getattr(typing, "Required", None)} - {None}
_NOT_REQUIRED = {typing_extensions.NotRequired, getattr(typing, "NotRequired", None)} - {None}


def _required_keys(tp: Any) -> set[str]:
    """Return a TypedDict's required keys, also when its annotations are strings.

    ``__required_keys__`` misses ``NotRequired[...]`` written under
    ``from __future__ import annotations``, so the resolved hints have the last word.
    """
    required = set(getattr(tp, "__required_keys__", ()))
    for key, hint in typing.get_type_hints(tp, include_extras=True).items():
        origin = get_origin(hint)
        if origin in _NOT_REQUIRED:
            required.discard(key)
        elif origin in _REQUIRED:
            required.add(key)
    return required


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _check(value: Any, tp: Any, path: str) -> str | None:
    """Return a description of the first mismatch between ``value`` and ``tp``, or ``None``.

    Covers the forms a JSON payload schema uses: ``TypedDict``, ``list[X]``, ``dict[str, X]``,
    ``X | None``, ``Literal``, ``Any`` and the JSON scalars. Other annotations are not checked.
    """
    origin = get_origin(tp)
    # Python 3.10's get_type_hints() leaves Required/NotRequired/Annotated wrappers in place.
    while origin in _REQUIRED or origin in _NOT_REQUIRED or origin is Annotated:
        tp = get_args(tp)[0]
        origin = get_origin(tp)
    if tp is Any or tp is object:
        return None
    if tp is None or tp is _NoneType:
        return None if value is None else f"{path} must be None, got {type(value).__name__}"
    if is_typeddict(tp):
        if not isinstance(value, Mapping):
            return f"{path} must be an object ({tp.__qualname__}), got {type(value).__name__}"
        hints = typing.get_type_hints(tp)
        required = _required_keys(tp)
        missing = sorted(k for k in required if k not in value)
        if missing:
            return f"{path} is missing the key(s) {', '.join(repr(k) for k in missing)}"
        unknown = sorted(str(k) for k in value if k not in hints)
        if unknown:
            return f"{path} has unexpected key(s) {', '.join(repr(k) for k in unknown)}"
        for key, sub_tp in hints.items():
            if key in value:
                problem = _check(value[key], sub_tp, f"{path}[{key!r}]")
                if problem:
                    return problem
        return None
    if origin is Union or (origin is not None and origin is getattr(types, "UnionType", None)):
        options = get_args(tp)
        if any(_check(value, option, path) is None for option in options):
            return None
        names = " | ".join(_type_name(o) for o in options)
        return f"{path} must be {names}, got {type(value).__name__}"
    if origin is Literal:
        allowed = get_args(tp)
        return None if value in allowed else f"{path} must be one of {allowed!r}, got {value!r}"
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return f"{path} must be a list, got {type(value).__name__}"
        args = get_args(tp)
        if args and origin is list:
            for index, item in enumerate(value):
                problem = _check(item, args[0], f"{path}[{index}]")
                if problem:
                    return problem
        return None
    if origin is dict or tp is dict or origin is Mapping:
        if not isinstance(value, Mapping):
            return f"{path} must be an object, got {type(value).__name__}"
        args = get_args(tp)
        if len(args) == 2:
            for key, item in value.items():
                problem = _check(item, args[1], f"{path}[{key!r}]")
                if problem:
                    return problem
        return None
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"{path} must be float, got {type(value).__name__}"
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"{path} must be int, got {type(value).__name__}"
    if isinstance(tp, type) and tp in (str, bool):
        ok = isinstance(value, tp)
        return None if ok else f"{path} must be {tp.__name__}, got {type(value).__name__}"
    # Anything else (a datetime, a UUID, a custom class) is left to the JSON encoder.
    return None


_registry = MessageTypeRegistry()


@receiver(setting_changed)
def _reset_on_settings_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "LIVEPUSH":
        _registry.reset_settings()


def get_registry() -> MessageTypeRegistry:
    """Return the process-wide registry."""
    return _registry


def register(message_type: TypeRef | type[enum.Enum], *, schema: type | None = None) -> None:
    """Register message types with the process-wide registry.

    See :meth:`MessageTypeRegistry.register`.
    """
    _registry.register(message_type, schema=schema)
