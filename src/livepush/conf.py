"""The ``LIVEPUSH`` settings dict: one table gives each key's default, types and rules.

Values are read from ``django.conf.settings`` on every access, so ``override_settings`` works.
Dotted-path settings are imported on read, and an import error names the setting.

:data:`SETTINGS` is the one description of every key. :data:`DEFAULTS` is derived from it, and the
system checks (``livepush.checks``) read it for unknown keys (``livepush.E002``), wrong types
(``livepush.E003``) and each setting's own rules, every rule with its own check ID. Adding a setting
is one entry in the table, one heading in ``docs/reference/settings.md``, and a check ID in
``docs/reference/checks.md`` for each new rule.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from livepush.exceptions import SettingImportError

__all__ = ["DEFAULTS", "livepush_settings"]


@dataclass(frozen=True)
class Rule:
    """A condition one setting's value must meet, reported as system check ``check_id``.

    Rules run only on a value of an accepted type other than ``None``, in order, and stop at the
    first one broken, so a later rule can rely on the earlier ones (a dotted path imports before
    the class it names is inspected).
    """

    check_id: str
    #: Takes the setting's name and value; returns what is wrong, naming the setting, or ``None``.
    problem: Callable[[str, Any], str | None]
    #: How to fix it; the check adds the setting's default.
    hint: str


@dataclass(frozen=True)
class Setting:
    """One ``LIVEPUSH`` key: its default, the types its value may have, and its rules."""

    default: Any
    #: Accepted types; ``None`` in the tuple means the value may be ``None``. A ``bool`` is only
    #: accepted where ``bool`` is listed, never as a number.
    types: tuple[type | None, ...]
    rules: tuple[Rule, ...] = ()

    def accepts(self, value: object) -> bool:
        """Whether ``value`` has one of the accepted types."""
        if value is None:
            return None in self.types
        if isinstance(value, bool) and bool not in self.types:
            return False
        return isinstance(value, tuple(t for t in self.types if t is not None))


# Rules shared by several settings. Each factory is one kind of problem; the check ID says which
# setting's problem it is.


def _positive(check_id: str, unit: str, hint: str) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        if value > 0:
            return None
        return f"LIVEPUSH[{name!r}] is {value!r}; it must be a positive number of {unit}."

    return Rule(check_id, problem, hint)


def _not_empty(check_id: str, hint: str) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        return f"LIVEPUSH[{name!r}] is an empty string." if value == "" else None

    return Rule(check_id, problem, hint)


_GROUP_NAME = re.compile(r"^[a-zA-Z\d\-_.]{1,99}$")


def _group_name(check_id: str, *, needs_id: bool) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        if needs_id and "{id}" not in value:
            reason = " (it needs '{id}')."
        elif not _GROUP_NAME.match(value.replace("{id}", "1")):
            reason = "."
        else:
            return None
        return f"LIVEPUSH[{name!r}] is {value!r}, which does not make valid group names{reason}"

    return Rule(
        check_id,
        problem,
        "Group names are ASCII letters, digits, '-', '_' and '.', under 100 characters.",
    )


def _import(name: str, path: str, *, entry: bool = False) -> Any:
    """Import ``path``, the value of setting ``name`` (or, with ``entry``, one of its entries).

    Raises:
        SettingImportError: naming the setting, with the ``ImportError`` as ``__cause__``.
    """
    try:
        return import_string(path)
    except ImportError as exc:
        raise SettingImportError(
            f"LIVEPUSH[{name!r}] {'names' if entry else 'is'} {path!r}, which could not be "
            f"imported: {exc}"
        ) from exc


def _resolve(name: str, value: Any) -> Any:
    return _import(name, value) if isinstance(value, str) else value


def _importable(check_id: str, hint: str) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        try:
            _resolve(name, value)
        except SettingImportError as exc:
            return str(exc)
        return None

    return Rule(check_id, problem, hint)


def _imports_a(check_id: str, what: str, test: Callable[[Any], bool], hint: str) -> Rule:
    """The object a dotted-path setting names passes ``test``; follows an ``_importable`` rule."""

    def problem(name: str, value: Any) -> str | None:
        obj = _resolve(name, value)
        return None if test(obj) else f"LIVEPUSH[{name!r}] is {value!r}, which is not {what}."

    return Rule(check_id, problem, hint)


def _subclass_of(base: str | type) -> Callable[[Any], bool]:
    def test(obj: Any) -> bool:
        cls = import_string(base) if isinstance(base, str) else base
        return isinstance(obj, type) and issubclass(obj, cls)

    return test


def _each_entry_importable(check_id: str, hint: str) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        for entry in value:
            if isinstance(entry, str):
                try:
                    _import(name, entry, entry=True)
                except SettingImportError as exc:
                    return str(exc)
        return None

    return Rule(check_id, problem, hint)


def _each_entry_a_str_enum(check_id: str, hint: str) -> Rule:
    """Each entry is a ``str`` enum class (or its path) whose values are non-empty strings."""

    def problem(name: str, value: Any) -> str | None:
        for entry in value:
            if not isinstance(entry, (str, type)):
                return (
                    f"LIVEPUSH[{name!r}] has {entry!r}, which is neither a dotted path nor a class."
                )
            obj = _import(name, entry, entry=True) if isinstance(entry, str) else entry
            if not (isinstance(obj, type) and issubclass(obj, enum.Enum)):
                return f"LIVEPUSH[{name!r}] has {entry!r}, which is {obj!r}, not an enum class."
            for member in obj:
                if not (isinstance(member.value, str) and member.value.strip()):
                    return (
                        f"LIVEPUSH[{name!r}] has {entry!r}, whose member {member.name} has the "
                        f"value {member.value!r}; message type values must be non-empty strings."
                    )
        return None

    return Rule(check_id, problem, hint)


def _signing_algorithms(check_id: str, hint: str) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        algorithms = [str(a) for a in value]
        if algorithms and not any(a.lower() == "none" for a in algorithms):
            return None
        return (
            f"LIVEPUSH[{name!r}] is {algorithms!r}; it must name at least one signing algorithm "
            "and never 'none'."
        )

    return Rule(check_id, problem, hint)


def _known_algorithms(check_id: str, hint: str) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        import jwt.algorithms

        known = set(jwt.algorithms.get_default_algorithms()) - {"none"}
        unknown = [str(a) for a in value if str(a) not in known]
        if not unknown:
            return None
        return (
            f"LIVEPUSH[{name!r}] has algorithm(s) PyJWT does not know: {unknown!r}. Known "
            f"algorithms: {', '.join(sorted(known))}."
        )

    return Rule(check_id, problem, hint)


_NUMBER: Final = (int, float)
_LIM: Final = "Limits (see livepush._limits) are positive; None turns one off where accepted."
_CAP: Final = _positive("livepush.E031", "connections", "Set None for no cap.")
_HEARTBEAT_POSITIVE: Final = _positive(
    "livepush.E004",
    "seconds",
    "Both heartbeat values are seconds, with HEARTBEAT_TIMEOUT below HEARTBEAT_INTERVAL.",
)

#: Every key ``LIVEPUSH`` accepts. ``docs/reference/settings.md`` documents each, with its default.
SETTINGS: Final[dict[str, Setting]] = {
    "HEARTBEAT_INTERVAL": Setting(30.0, _NUMBER, (_HEARTBEAT_POSITIVE,)),
    "HEARTBEAT_TIMEOUT": Setting(10.0, _NUMBER, (_HEARTBEAT_POSITIVE,)),
    "MAX_MESSAGE_SIZE": Setting(
        65536,
        (int,),
        (
            _positive(
                "livepush.E016", "bytes", "A larger client frame closes the connection (4009)."
            ),
        ),
    ),
    "MESSAGE_TYPES": Setting(
        [],
        (list, tuple),
        (
            _each_entry_importable(
                "livepush.E010",
                "Give dotted paths of str enums, like 'myapp.messages.MyMessageType'.",
            ),
            _each_entry_a_str_enum(
                "livepush.E022",
                "Message type enums subclass str and enum.Enum, like "
                "class MyMessageType(str, enum.Enum), with non-empty values.",
            ),
        ),
    ),
    "VALIDATE_PAYLOADS": Setting(True, (bool,)),
    "JSON_ENCODER": Setting(
        "django.core.serializers.json.DjangoJSONEncoder",
        (str, type),
        (
            _importable("livepush.E014", "Give the dotted path of a json.JSONEncoder subclass."),
            _imports_a(
                "livepush.E024",
                "a json.JSONEncoder subclass",
                _subclass_of(json.JSONEncoder),
                "Subclass json.JSONEncoder (or DjangoJSONEncoder).",
            ),
        ),
    ),
    "JWT_SIGNING_KEY": Setting(None, (str, bytes, None)),
    "JWT_VERIFYING_KEY": Setting(None, (str, bytes, None)),
    "JWT_ALGORITHMS": Setting(
        ["HS256"],
        (list, tuple),
        (
            _signing_algorithms(
                "livepush.E005",
                "Use HS256, or an RS/ES/EdDSA algorithm with JWT_VERIFYING_KEY.",
            ),
            _known_algorithms(
                "livepush.E021",
                "Check the spelling; RS/ES/PS/EdDSA algorithms need the 'cryptography' package.",
            ),
        ),
    ),
    "JWT_AUDIENCE": Setting(None, (str, list, tuple, None)),
    "JWT_ISSUER": Setting(None, (str, None)),
    "JWT_LEEWAY": Setting(0, _NUMBER),
    "JWT_USER_ID_CLAIM": Setting(
        "user_id", (str,), (_not_empty("livepush.E017", "Name the claim holding the user id."),)
    ),
    "JWT_QUERY_PARAM": Setting(
        "accessToken",
        (str, None),
        (_not_empty("livepush.E017", "Set None, not '', to turn the query-string token off."),),
    ),
    "ACCESS_TOKEN_LIFETIME": Setting(300, _NUMBER),
    "CONSUMER": Setting(
        "livepush.consumers.LivePushConsumer",
        (str, type),
        (
            _importable("livepush.E012", "Give the dotted path of a consumer class."),
            _imports_a(
                "livepush.E023",
                "a LivePushConsumer subclass",
                _subclass_of("livepush.consumers.LivePushConsumer"),
                "Subclass livepush.consumers.LivePushConsumer.",
            ),
        ),
    ),
    "CHANNEL_LAYER": Setting("default", (str,)),
    "USER_GROUP": Setting("user_{id}", (str,), (_group_name("livepush.E015", needs_id=True),)),
    "BROADCAST_GROUP": Setting(
        "broadcast", (str,), (_group_name("livepush.E015", needs_id=False),)
    ),
    "PRESENCE": Setting(True, (bool,)),
    "PRESENCE_TTL": Setting(45.0, _NUMBER),
    "PRESENCE_GRACE": Setting(3.0, _NUMBER),
    "PRESENCE_SWEEP_INTERVAL": Setting(2.0, _NUMBER),
    "PRESENCE_AUDIENCE": Setting(
        None,
        (str, None),
        (
            _importable("livepush.E019", "Give the dotted path of a function."),
            _imports_a(
                "livepush.E025",
                "callable",
                callable,
                "Give a function that takes a user and returns the user ids and group names to "
                "tell.",
            ),
        ),
    ),
    "PRESENCE_REDIS_URL": Setting(None, (str, None)),
    "PRESENCE_PREFIX": Setting("livepush:presence", (str,)),
    "INBOUND_RATE": Setting(20.0, (*_NUMBER, None), (_positive("livepush.E028", "frames", _LIM),)),
    "INBOUND_BURST": Setting(60, (int,), (_positive("livepush.E029", "frames", _LIM),)),
    "MAX_BACKLOG_FRAMES": Setting(1000, (int, None), (_positive("livepush.E030", "frames", _LIM),)),
    "MAX_BACKLOG_BYTES": Setting(2**24, (int, None), (_positive("livepush.E030", "bytes", _LIM),)),
    "MAX_CONNECTIONS_PER_USER": Setting(None, (int, None), (_CAP,)),
}

#: Every key ``LIVEPUSH`` accepts, with its default (from :data:`SETTINGS`).
DEFAULTS: Final[dict[str, Any]] = {name: setting.default for name, setting in SETTINGS.items()}


class LivePushSettings:
    """Attribute access to ``settings.LIVEPUSH`` merged over the defaults in :data:`SETTINGS`."""

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(django_settings, "LIVEPUSH", None)
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        setting = SETTINGS.get(name)
        if setting is None:
            raise AttributeError(f"LIVEPUSH has no setting {name!r}")
        return self.user_settings.get(name, setting.default)

    # Typed accessors for the values the code reads on hot paths or needs derived.

    @property
    def heartbeat_interval(self) -> float:
        return float(self.HEARTBEAT_INTERVAL)

    @property
    def heartbeat_timeout(self) -> float:
        return float(self.HEARTBEAT_TIMEOUT)

    @property
    def max_message_size(self) -> int:
        return int(self.MAX_MESSAGE_SIZE)

    @property
    def signing_key(self) -> Any:
        key = self.JWT_SIGNING_KEY
        return django_settings.SECRET_KEY if key is None else key

    @property
    def verifying_key(self) -> Any:
        key = self.JWT_VERIFYING_KEY
        return self.signing_key if key is None else key

    def import_setting(self, name: str) -> Any:
        """Import the dotted path held by setting ``name``; a class or function is returned as is.

        Raises:
            SettingImportError: the path does not import; the message names the setting.
        """
        return _resolve(name, getattr(self, name))

    def user_group(self, user_id: object) -> str:
        return str(self.USER_GROUP).format(id=user_id)

    @property
    def broadcast_group(self) -> str:
        return str(self.BROADCAST_GROUP)


livepush_settings: Final = LivePushSettings()
