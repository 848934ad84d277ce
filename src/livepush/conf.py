"""The ``LIVEPUSH`` settings dict, with its defaults in one place.

Values are read from ``django.conf.settings`` on every access, so ``override_settings`` works.
Dotted-path settings are imported on read, and an import error names the setting.
"""

from __future__ import annotations

from typing import Any, Final

from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from livepush.exceptions import LivePushConfigurationError

__all__ = ["DEFAULTS", "livepush_settings"]

#: Every key ``LIVEPUSH`` accepts, with its default. ``docs/reference/settings.md`` documents each.
DEFAULTS: Final[dict[str, Any]] = {
    "HEARTBEAT_INTERVAL": 30.0,
    "HEARTBEAT_TIMEOUT": 10.0,
    "MAX_MESSAGE_SIZE": 65536,
    "MESSAGE_TYPES": [],
    "VALIDATE_PAYLOADS": True,
    "JSON_ENCODER": "django.core.serializers.json.DjangoJSONEncoder",
    "JWT_SIGNING_KEY": None,
    "JWT_VERIFYING_KEY": None,
    "JWT_ALGORITHMS": ["HS256"],
    "JWT_AUDIENCE": None,
    "JWT_ISSUER": None,
    "JWT_LEEWAY": 0,
    "JWT_USER_ID_CLAIM": "user_id",
    "JWT_QUERY_PARAM": "accessToken",
    "ACCESS_TOKEN_LIFETIME": 300,
    "CONSUMER": "livepush.consumers.LivePushConsumer",
    "CHANNEL_LAYER": "default",
    "USER_GROUP": "user_{id}",
    "BROADCAST_GROUP": "broadcast",
    "PRESENCE": True,
    "PRESENCE_TTL": 45.0,
    "PRESENCE_GRACE": 3.0,
    "PRESENCE_SWEEP_INTERVAL": 2.0,
    "PRESENCE_AUDIENCE": None,
    "PRESENCE_REDIS_URL": None,
    "PRESENCE_PREFIX": "livepush:presence",
}


class LivePushSettings:
    """Attribute access to ``settings.LIVEPUSH`` merged over :data:`DEFAULTS`."""

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(django_settings, "LIVEPUSH", None)
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"LIVEPUSH has no setting {name!r}")
        return self.user_settings.get(name, DEFAULTS[name])

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
        """Import the dotted path held by setting ``name``; an error names the setting."""
        path = getattr(self, name)
        if not isinstance(path, str):
            return path
        try:
            return import_string(path)
        except ImportError as exc:
            raise LivePushConfigurationError(
                f"LIVEPUSH[{name!r}] is {path!r}, which could not be imported: {exc}"
            ) from exc

    def user_group(self, user_id: object) -> str:
        return str(self.USER_GROUP).format(id=user_id)

    @property
    def broadcast_group(self) -> str:
        return str(self.BROADCAST_GROUP)


livepush_settings: Final = LivePushSettings()
