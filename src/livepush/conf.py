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

import json
from typing import Any, Final

from django.conf import settings as django_settings

from livepush._rules import (
    Rule,
    Setting,
    each_entry_a_str_enum,
    each_entry_importable,
    group_name,
    importable,
    imports_a,
    known_algorithms,
    not_empty,
    positive,
    resolve_path,
    signing_algorithms,
    subclass_of,
)

__all__ = ["DEFAULTS", "livepush_settings"]


_NUMBER: Final = (int, float)
_PRESENCE_WINDOW: Final = positive(
    "livepush.E032", "seconds", "0 pushes each presence change at once.", zero=True
)
_LIM: Final = "Limits (see livepush._limits) are positive; None turns one off where accepted."
_HIST: Final = "A stream's history bounds (docs/topics/delivery.md) are positive."
_CAP: Final = positive("livepush.E031", "connections", "Set None for no cap.")
_HEARTBEAT_POSITIVE: Final = positive(
    "livepush.E004",
    "seconds",
    "Both heartbeat values are seconds, with HEARTBEAT_TIMEOUT below HEARTBEAT_INTERVAL.",
)

_SHUTDOWN_GRACE_RULE: Final = Rule(
    "livepush.E034",
    lambda name, value: None if value >= 0 else f"LIVEPUSH[{name!r}] is {value!r}, below 0.",
    "Zero or more seconds to wait on SIGTERM; None leaves SIGTERM to the server.",
)

#: Every key ``LIVEPUSH`` accepts. ``docs/reference/settings.md`` documents each, with its default.
SETTINGS: Final[dict[str, Setting]] = {
    "HEARTBEAT_INTERVAL": Setting(30.0, _NUMBER, (_HEARTBEAT_POSITIVE,)),
    "HEARTBEAT_TIMEOUT": Setting(10.0, _NUMBER, (_HEARTBEAT_POSITIVE,)),
    "MAX_MESSAGE_SIZE": Setting(
        65536,
        (int,),
        (
            positive(
                "livepush.E016", "bytes", "A larger client frame closes the connection (4009)."
            ),
        ),
    ),
    "MESSAGE_TYPES": Setting(
        [],
        (list, tuple),
        (
            each_entry_importable(
                "livepush.E010",
                "Give dotted paths of str enums, like 'myapp.messages.MyMessageType'.",
            ),
            each_entry_a_str_enum(
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
            importable("livepush.E014", "Give the dotted path of a json.JSONEncoder subclass."),
            imports_a(
                "livepush.E024",
                "a json.JSONEncoder subclass",
                subclass_of(json.JSONEncoder),
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
            signing_algorithms(
                "livepush.E005",
                "Use HS256, or an RS/ES/EdDSA algorithm with JWT_VERIFYING_KEY.",
            ),
            known_algorithms(
                "livepush.E021",
                "Check the spelling; RS/ES/PS/EdDSA algorithms need the 'cryptography' package.",
            ),
        ),
    ),
    "JWT_AUDIENCE": Setting(None, (str, list, tuple, None)),
    "JWT_ISSUER": Setting(None, (str, None)),
    "JWT_LEEWAY": Setting(0, _NUMBER),
    "JWT_USER_ID_CLAIM": Setting(
        "user_id", (str,), (not_empty("livepush.E017", "Name the claim holding the user id."),)
    ),
    "JWT_QUERY_PARAM": Setting(
        "accessToken",
        (str, None),
        (not_empty("livepush.E017", "Set None, not '', to turn the query-string token off."),),
    ),
    "ACCESS_TOKEN_LIFETIME": Setting(300, _NUMBER),
    "CONSUMER": Setting(
        "livepush.consumers.LivePushConsumer",
        (str, type),
        (
            importable("livepush.E012", "Give the dotted path of a consumer class."),
            imports_a(
                "livepush.E023",
                "a LivePushConsumer subclass",
                subclass_of("livepush.consumers.LivePushConsumer"),
                "Subclass livepush.consumers.LivePushConsumer.",
            ),
        ),
    ),
    "CHANNEL_LAYER": Setting("default", (str,)),
    "USER_GROUP": Setting("user_{id}", (str,), (group_name("livepush.E015", needs_id=True),)),
    "BROADCAST_GROUP": Setting("broadcast", (str,), (group_name("livepush.E015", needs_id=False),)),
    "PRESENCE": Setting(True, (bool,)),
    "PRESENCE_TTL": Setting(45.0, _NUMBER),
    "PRESENCE_GRACE": Setting(3.0, _NUMBER),
    "PRESENCE_SWEEP_INTERVAL": Setting(2.0, _NUMBER),
    "PRESENCE_AUDIENCE": Setting(
        None,
        (str, None),
        (
            importable("livepush.E019", "Give the dotted path of a function."),
            imports_a(
                "livepush.E025",
                "callable",
                callable,
                "Give a function that takes a user and returns the user ids and group names to "
                "tell.",
            ),
        ),
    ),
    "PRESENCE_WINDOW": Setting(0.25, _NUMBER, (_PRESENCE_WINDOW,)),
    "PRESENCE_REDIS_URL": Setting(None, (str, None)),
    "PRESENCE_PREFIX": Setting("livepush:presence", (str,)),
    "SHUTDOWN_GRACE": Setting(5.0, (int, float, None), (_SHUTDOWN_GRACE_RULE,)),
    "CHANNEL_LAYER_WAIT": Setting(
        4.0,
        _NUMBER,
        (positive("livepush.E036", "seconds", "0 refuses a connect at once.", zero=True),),
    ),
    "INBOUND_RATE": Setting(20.0, (*_NUMBER, None), (positive("livepush.E028", "frames", _LIM),)),
    "INBOUND_BURST": Setting(60, (int,), (positive("livepush.E029", "frames", _LIM),)),
    "MAX_BACKLOG_FRAMES": Setting(1000, (int, None), (positive("livepush.E030", "frames", _LIM),)),
    "MAX_BACKLOG_BYTES": Setting(2**24, (int, None), (positive("livepush.E030", "bytes", _LIM),)),
    "MAX_CONNECTIONS_PER_USER": Setting(None, (int, None), (_CAP,)),
    # Recovery (livepush.history): positions, history and resume.
    "RECOVERY": Setting(False, (bool,)),
    "HISTORY_SIZE": Setting(1000, (int,), (positive("livepush.E037", "pushes", _HIST),)),
    "HISTORY_TTL": Setting(300.0, _NUMBER, (positive("livepush.E038", "seconds", _HIST),)),
    "HISTORY_META_TTL": Setting(86400.0, _NUMBER, (positive("livepush.E039", "seconds", _HIST),)),
    "HISTORY_GROUPS": Setting([], (list, tuple)),
    "HISTORY_PREFIX": Setting("livepush:history", (str,)),
    "EPHEMERAL_TYPES": Setting([], (list, tuple)),
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
        return resolve_path(name, getattr(self, name))

    def user_group(self, user_id: object) -> str:
        return str(self.USER_GROUP).format(id=user_id)

    @property
    def broadcast_group(self) -> str:
        return str(self.BROADCAST_GROUP)


livepush_settings: Final = LivePushSettings()
