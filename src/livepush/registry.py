"""The message-type registry: every type name a push or a client frame may carry.

The registry starts with the protocol's own types (:class:`livepush.protocol.ProtocolType`, with
their payload schemas); those are the only names the library reserves. A host project adds its own
``str`` enums through ``LIVEPUSH["MESSAGE_TYPES"]`` or :func:`register`, optionally with a payload
schema (a ``TypedDict``) that every push of that type is checked against. The seed system's
application types are one such enum, :class:`livepush.seed.WebSocketMessageType`, registered only
by projects that list it.
"""

from __future__ import annotations

import difflib
import enum
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from django.core.signals import setting_changed
from django.dispatch import receiver
from typing_extensions import is_typeddict

from livepush import seed
from livepush.exceptions import (
    DuplicateMessageType,
    LivePushConfigurationError,
    PayloadError,
    UnknownMessageType,
)
from livepush.protocol import PAYLOAD_SCHEMAS, ProtocolType
from livepush.schema import Node, describe

__all__ = [
    "MessageTypeRegistry",
    "RegisteredType",
    "get_registry",
    "load_message_type_enums",
    "register",
]

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
    #: ``schema`` read by :func:`livepush.schema.describe`: what payloads are checked against and
    #: what TypeScript types them.
    payload: Node | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        payload = None if self.schema is None else describe(self.schema)
        object.__setattr__(self, "payload", payload)


class MessageTypeRegistry:
    """Maps type names to :class:`RegisteredType`; the one instance is :func:`get_registry`."""

    def __init__(self) -> None:
        self._types: dict[str, RegisteredType] = {}
        self._lock = threading.RLock()
        self._settings_loaded = False
        for member in ProtocolType:
            self._add(member, PAYLOAD_SCHEMAS.get(member))

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
            DuplicateMessageType: the name is taken by another enum (or by the protocol).
            LivePushConfigurationError: the enum's values are not strings, ``schema`` is not a
                ``TypedDict``, or it uses an annotation :mod:`livepush.schema` does not support.
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
                    reserved = (
                        " (the protocol's own types)"
                        if isinstance(existing.member, ProtocolType)
                        else ""
                    )
                    raise DuplicateMessageType(
                        f"Message type {name!r} is registered twice: by {existing.source}"
                        f"{reserved} and by {source}. Rename one of them; clients only see the "
                        "name."
                    )
            if existing is not None and schema is None:
                schema = existing.schema
            try:
                registered = RegisteredType(name, member, schema, source)
            except LivePushConfigurationError as exc:
                raise LivePushConfigurationError(
                    f"Cannot register message type {name!r} with its schema: {exc}"
                ) from exc
            self._types[name] = registered

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
        member = None
        if isinstance(message_type, enum.Enum):
            member, name = message_type, message_type.value
        elif isinstance(message_type, str):
            name = message_type
        else:
            raise TypeError(
                f"event_type must be a registered message type name or enum member, not "
                f"{type(message_type).__name__} {message_type!r}"
            )
        found = self._types.get(name) if isinstance(name, str) else None
        if found is None:
            raise UnknownMessageType(self._unknown_message(name, member))
        return found

    def get(self, name: str) -> RegisteredType | None:
        """Return the registration for ``name``, or ``None``; never raises."""
        self.load_settings()
        return self._types.get(name)

    def suggest(self, name: object, among: list[str] | None = None) -> list[str]:
        """Return up to three registered names (or names from ``among``) close to ``name``."""
        candidates = sorted(self._types) if among is None else among
        return difflib.get_close_matches(str(name), candidates, n=3, cutoff=0.6)

    def _unknown_message(self, name: object, member: enum.Enum | None = None) -> str:
        if member is None and name in seed.WebSocketMessageType.__members__:
            member = seed.WebSocketMessageType[str(name)]
        if member is not None:
            cls = type(member)
            path = f"{cls.__module__}.{cls.__qualname__}"
            return (
                f"Unknown message type {name!r}: it is a member of {path}, which is not "
                f"registered: add {path!r} to LIVEPUSH['MESSAGE_TYPES']."
            )
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
        if registered.payload is None or registered.schema is None:
            return
        problem = registered.payload.problem(data, "data")
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
