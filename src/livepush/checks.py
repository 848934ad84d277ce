"""System checks for every misconfiguration of django-livepush a user can make.

Each problem has its own ID, listed in ``docs/reference/checks.md``; IDs are never reused.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from livepush.conf import DEFAULTS, livepush_settings

__all__ = ["check_settings"]

_NUMBER = (int, float)
#: Accepted types per setting; ``None`` in a tuple means the value may be ``None``.
_TYPES: dict[str, tuple[Any, ...]] = {
    "HEARTBEAT_INTERVAL": _NUMBER,
    "HEARTBEAT_TIMEOUT": _NUMBER,
    "MAX_MESSAGE_SIZE": (int,),
    "MESSAGE_TYPES": (list, tuple),
    "VALIDATE_PAYLOADS": (bool,),
    "JSON_ENCODER": (str, type),
    "JWT_SIGNING_KEY": (str, bytes, None),
    "JWT_VERIFYING_KEY": (str, bytes, None),
    "JWT_ALGORITHMS": (list, tuple),
    "JWT_AUDIENCE": (str, list, tuple, None),
    "JWT_ISSUER": (str, None),
    "JWT_LEEWAY": _NUMBER,
    "JWT_USER_ID_CLAIM": (str,),
    "JWT_QUERY_PARAM": (str, None),
    "ACCESS_TOKEN_LIFETIME": _NUMBER,
    "CONSUMER": (str, type),
    "CHANNEL_LAYER": (str,),
    "USER_GROUP": (str,),
    "BROADCAST_GROUP": (str,),
    "PRESENCE": (bool,),
    "PRESENCE_TTL": _NUMBER,
    "PRESENCE_GRACE": _NUMBER,
    "PRESENCE_SWEEP_INTERVAL": _NUMBER,
    "PRESENCE_AUDIENCE": (str, None),
    "PRESENCE_REDIS_URL": (str, None),
    "PRESENCE_PREFIX": (str,),
}
_HMAC = {"HS256": 32, "HS384": 48, "HS512": 64}
_GROUP_NAME = re.compile(r"^[a-zA-Z\d\-_.]{1,99}$")


def _type_names(types: tuple[Any, ...]) -> str:
    return " or ".join("None" if t is None else t.__name__ for t in types)


@register(Tags.compatibility)
def check_settings(**kwargs: Any) -> list[CheckMessage]:
    """Check ``LIVEPUSH`` and the settings it depends on."""
    raw = getattr(settings, "LIVEPUSH", {})
    if not isinstance(raw, dict):
        return [
            Error(
                f"LIVEPUSH must be a dict, not {type(raw).__name__}.",
                hint="Set LIVEPUSH = {...} with the keys listed in docs/reference/settings.md.",
                id="livepush.E001",
            )
        ]
    errors: list[CheckMessage] = []
    for key in raw:
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key), DEFAULTS, n=1)
            hint = f"Did you mean {close[0]!r}?" if close else "Remove it."
            errors.append(
                Error(
                    f"LIVEPUSH has an unknown key {key!r}.",
                    hint=f"{hint} Valid keys: {', '.join(DEFAULTS)}.",
                    id="livepush.E002",
                )
            )
    bad_types = set()
    for key, types in _TYPES.items():
        value = getattr(livepush_settings, key)
        ok = (value is None and None in types) or isinstance(
            value, tuple(t for t in types if t is not None)
        )
        if isinstance(value, bool) and bool not in types:
            ok = False
        if not ok:
            bad_types.add(key)
            errors.append(
                Error(
                    f"LIVEPUSH[{key!r}] is {value!r} ({type(value).__name__}); it must be "
                    f"{_type_names(types)}.",
                    hint=f"The default is {DEFAULTS[key]!r}.",
                    id="livepush.E003",
                )
            )
    errors += _check_heartbeat(bad_types)
    errors += _check_jwt(bad_types)
    errors += _check_channel_layers(bad_types)
    errors += _check_message_types(bad_types)
    errors += _check_consumer(bad_types)
    errors += _check_misc(bad_types)
    errors += _check_presence(bad_types)
    return errors


def _check_presence(bad: set[str]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    keys = {"PRESENCE_TTL", "PRESENCE_GRACE", "PRESENCE_SWEEP_INTERVAL"}
    if not bad & keys:
        ttl = livepush_settings.PRESENCE_TTL
        grace = livepush_settings.PRESENCE_GRACE
        sweep = livepush_settings.PRESENCE_SWEEP_INTERVAL
        if ttl <= 0 or sweep <= 0 or grace < 0 or sweep >= ttl:
            errors.append(
                Error(
                    f"LIVEPUSH presence timings do not work together (PRESENCE_TTL={ttl!r}, "
                    f"PRESENCE_GRACE={grace!r}, PRESENCE_SWEEP_INTERVAL={sweep!r}).",
                    hint="PRESENCE_TTL and PRESENCE_SWEEP_INTERVAL must be positive with the "
                    "sweep shorter than the TTL, and PRESENCE_GRACE not negative; the defaults "
                    "are 45, 3 and 2 seconds.",
                    id="livepush.E018",
                )
            )
    if "PRESENCE_AUDIENCE" not in bad and livepush_settings.PRESENCE_AUDIENCE is not None:
        try:
            audience = livepush_settings.import_setting("PRESENCE_AUDIENCE")
        except Exception as exc:
            audience, message = None, str(exc)
        else:
            message = f"LIVEPUSH['PRESENCE_AUDIENCE'] is {audience!r}, which is not callable."
        if not callable(audience):
            errors.append(
                Error(
                    message,
                    hint="Give the dotted path of a function that takes a user and returns the "
                    "user ids and group names to tell.",
                    id="livepush.E019",
                )
            )
    return errors


def _check_heartbeat(bad: set[str]) -> list[CheckMessage]:
    if bad & {"HEARTBEAT_INTERVAL", "HEARTBEAT_TIMEOUT"}:
        return []
    interval = livepush_settings.HEARTBEAT_INTERVAL
    timeout = livepush_settings.HEARTBEAT_TIMEOUT
    if interval <= 0 or timeout <= 0:
        return [
            Error(
                f"LIVEPUSH heartbeat values must be positive (HEARTBEAT_INTERVAL={interval!r}, "
                f"HEARTBEAT_TIMEOUT={timeout!r}).",
                hint="The defaults are 30 and 10 seconds.",
                id="livepush.E004",
            )
        ]
    if timeout >= interval:
        return [
            Error(
                f"LIVEPUSH['HEARTBEAT_TIMEOUT'] ({timeout!r}) must be below "
                f"LIVEPUSH['HEARTBEAT_INTERVAL'] ({interval!r}).",
                hint="The PONG must be due before the next PING; the defaults are 10 and 30.",
                id="livepush.E004",
            )
        ]
    return []


def _check_jwt(bad: set[str]) -> list[CheckMessage]:
    import jwt.algorithms

    errors: list[CheckMessage] = []
    if "JWT_ALGORITHMS" in bad:
        return errors
    algorithms = [str(a) for a in livepush_settings.JWT_ALGORITHMS]
    known = set(jwt.algorithms.get_default_algorithms()) - {"none"}
    if not algorithms or any(a.lower() == "none" for a in algorithms):
        errors.append(
            Error(
                f"LIVEPUSH['JWT_ALGORITHMS'] is {algorithms!r}; it must name at least one signing "
                "algorithm and never 'none'.",
                hint="Use ['HS256'] (the default) or an RS/ES/EdDSA algorithm with "
                "JWT_VERIFYING_KEY.",
                id="livepush.E005",
            )
        )
        return errors
    unknown = [a for a in algorithms if a not in known]
    if unknown:
        errors.append(
            Error(
                f"LIVEPUSH['JWT_ALGORITHMS'] has algorithm(s) PyJWT does not know: {unknown!r}.",
                hint=f"Known algorithms: {', '.join(sorted(known))} (RS/ES/PS/EdDSA need the "
                "'cryptography' package).",
                id="livepush.E005",
            )
        )
    hmac = [a for a in algorithms if a in _HMAC]
    asymmetric = [a for a in algorithms if a not in _HMAC and a in known]
    if hmac and asymmetric:
        errors.append(
            Error(
                f"LIVEPUSH['JWT_ALGORITHMS'] mixes HMAC and public-key algorithms "
                f"({algorithms!r}).",
                hint="Allow one family: mixing them lets a public key be used as an HMAC secret "
                "(algorithm confusion).",
                id="livepush.E008",
            )
        )
    if "JWT_SIGNING_KEY" not in bad and hmac:
        try:
            key = livepush_settings.signing_key
        except ImproperlyConfigured:  # Django refuses to read an empty SECRET_KEY
            key = ""
        if not key:
            errors.append(
                Error(
                    "The JWT signing key is empty (LIVEPUSH['JWT_SIGNING_KEY'], or SECRET_KEY "
                    "when that is unset).",
                    hint="Set SECRET_KEY, or LIVEPUSH['JWT_SIGNING_KEY'] to a long random string.",
                    id="livepush.E006",
                )
            )
        else:
            needed = max(_HMAC[a] for a in hmac)
            size = len(key.encode() if isinstance(key, str) else key)
            if size < needed:
                errors.append(
                    Warning(
                        f"The JWT signing key is {size} bytes, shorter than the {needed} bytes "
                        f"{'/'.join(hmac)} needs to be secure.",
                        hint="Use a longer random key (SECRET_KEY or LIVEPUSH['JWT_SIGNING_KEY']).",
                        id="livepush.W003",
                    )
                )
    if asymmetric and not livepush_settings.JWT_VERIFYING_KEY:
        errors.append(
            Error(
                f"LIVEPUSH['JWT_ALGORITHMS'] is {algorithms!r} but JWT_VERIFYING_KEY is not set.",
                hint="Set LIVEPUSH['JWT_VERIFYING_KEY'] to the PEM public key; JWT_SIGNING_KEY is "
                "the private key, needed only to issue tokens.",
                id="livepush.E007",
            )
        )
    for key in ("JWT_USER_ID_CLAIM", "JWT_QUERY_PARAM"):
        if key not in bad and getattr(livepush_settings, key) == "":
            errors.append(
                Error(
                    f"LIVEPUSH[{key!r}] is an empty string.",
                    hint=f"Use the default {DEFAULTS[key]!r}"
                    + (
                        ", or None to turn the query-string token off."
                        if key == "JWT_QUERY_PARAM"
                        else "."
                    ),
                    id="livepush.E017",
                )
            )
    return errors


def _check_channel_layers(bad: set[str]) -> list[CheckMessage]:
    if "CHANNEL_LAYER" in bad:
        return []
    alias = livepush_settings.CHANNEL_LAYER
    layers = getattr(settings, "CHANNEL_LAYERS", None)
    if not isinstance(layers, dict) or not isinstance(layers.get(alias), dict):
        return [
            Error(
                f"CHANNEL_LAYERS has no {alias!r} layer (a dict with a BACKEND); "
                "django-livepush pushes through it.",
                hint="Add CHANNEL_LAYERS = {'default': livepush.layers.redis_channel_layer("
                "[('localhost', 6379)])}, or 'channels.layers.InMemoryChannelLayer' for one "
                "process in development.",
                id="livepush.E009",
            )
        ]
    config = layers[alias]
    backend = str(config.get("BACKEND", ""))
    errors: list[CheckMessage] = []
    if backend.endswith("InMemoryChannelLayer") and not settings.DEBUG:
        errors.append(
            Warning(
                f"CHANNEL_LAYERS[{alias!r}] is the in-memory layer while DEBUG is False.",
                hint="It only reaches connections of the same process: pushes from other "
                "workers, management commands or Celery are lost. Use "
                "livepush.layers.redis_channel_layer().",
                id="livepush.W001",
            )
        )
    if backend == "channels_redis.core.RedisChannelLayer" and _redis_major() >= 8:
        hosts = (config.get("CONFIG") or {}).get("hosts") or [None]
        if any(not _has_safe_timeout(h) for h in hosts):
            errors.append(
                Warning(
                    f"CHANNEL_LAYERS[{alias!r}] uses channels_redis with redis-py 8, whose 5 s "
                    "socket timeout kills idle receive loops (redis.exceptions.TimeoutError, "
                    "django/channels_redis#422): idle WebSocket connections stop getting pushes.",
                    hint="Use CHANNEL_LAYERS = {'default': livepush.layers.redis_channel_layer("
                    "hosts)}, or set 'BACKEND': 'livepush.layers.RedisChannelLayer'.",
                    id="livepush.W002",
                )
            )
    return errors


def _redis_major() -> int:
    try:
        import redis
    except ImportError:  # pragma: no cover - channels-redis depends on it
        return 0
    match = re.match(r"\d+", getattr(redis, "__version__", "0"))
    return int(match.group()) if match else 0


def _has_safe_timeout(host: Any) -> bool:
    if not isinstance(host, dict):
        return False
    timeout = host.get("socket_timeout", 5)
    return timeout is None or timeout > 5


def _check_message_types(bad: set[str]) -> list[CheckMessage]:
    from livepush.exceptions import LivePushConfigurationError
    from livepush.registry import MessageTypeRegistry, load_message_type_enums

    if "MESSAGE_TYPES" in bad:
        return []
    try:
        enums = load_message_type_enums()
    except LivePushConfigurationError as exc:
        return [
            Error(
                str(exc),
                hint="Give dotted paths of str enums, like 'myapp.messages.MyMessageType'.",
                id="livepush.E010",
            )
        ]
    errors: list[CheckMessage] = []
    scratch = MessageTypeRegistry()
    for cls in enums:
        try:
            scratch.register(cls)
        except LivePushConfigurationError as exc:
            duplicate = "registered twice" in str(exc)
            errors.append(
                Error(
                    str(exc),
                    hint="Type names must be unique across MESSAGE_TYPES and the built-in "
                    "WebSocketMessageType."
                    if duplicate
                    else "Message type enums must subclass str and enum.Enum.",
                    id="livepush.E011" if duplicate else "livepush.E010",
                )
            )
    return errors


def _check_consumer(bad: set[str]) -> list[CheckMessage]:
    from livepush.consumers import LivePushConsumer
    from livepush.exceptions import LivePushConfigurationError
    from livepush.registry import get_registry

    if "CONSUMER" in bad:
        return []
    try:
        cls = livepush_settings.import_setting("CONSUMER")
    except LivePushConfigurationError as exc:
        return [
            Error(str(exc), hint="Give the dotted path of a consumer class.", id="livepush.E012")
        ]
    if not (isinstance(cls, type) and issubclass(cls, LivePushConsumer)):
        return [
            Error(
                f"LIVEPUSH['CONSUMER'] is {livepush_settings.CONSUMER!r}, which is not a "
                "LivePushConsumer subclass.",
                hint="Subclass livepush.consumers.LivePushConsumer.",
                id="livepush.E012",
            )
        ]
    errors: list[CheckMessage] = []
    try:
        registry = get_registry()
        for name, method in cls.livepush_handlers.items():
            if name not in registry:
                errors.append(
                    Error(
                        f"{cls.__qualname__}.{method} handles {name!r}, which is not a registered "
                        "message type.",
                        hint="Add its enum to LIVEPUSH['MESSAGE_TYPES'] or call "
                        "livepush.register().",
                        id="livepush.E013",
                    )
                )
    except LivePushConfigurationError:
        pass  # reported by _check_message_types
    return errors


def _check_misc(bad: set[str]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if "MAX_MESSAGE_SIZE" not in bad and livepush_settings.MAX_MESSAGE_SIZE <= 0:
        errors.append(
            Error(
                f"LIVEPUSH['MAX_MESSAGE_SIZE'] is {livepush_settings.MAX_MESSAGE_SIZE!r}; it must "
                "be a positive number of bytes.",
                hint="The default is 65536 (64 KB).",
                id="livepush.E016",
            )
        )
    if "JSON_ENCODER" not in bad:
        try:
            encoder = livepush_settings.import_setting("JSON_ENCODER")
        except Exception as exc:
            encoder = None
            message = str(exc)
        else:
            message = f"LIVEPUSH['JSON_ENCODER'] is {encoder!r}, not a json.JSONEncoder subclass."
        if not (isinstance(encoder, type) and issubclass(encoder, json.JSONEncoder)):
            errors.append(
                Error(
                    message,
                    hint="The default is 'django.core.serializers.json.DjangoJSONEncoder'.",
                    id="livepush.E014",
                )
            )
    for key in ("USER_GROUP", "BROADCAST_GROUP"):
        if key in bad:
            continue
        template = getattr(livepush_settings, key)
        example = template.replace("{id}", "1")
        if (key == "USER_GROUP" and "{id}" not in template) or not _GROUP_NAME.match(example):
            errors.append(
                Error(
                    f"LIVEPUSH[{key!r}] is {template!r}, which does not make valid group names"
                    + (" (it needs '{id}')." if key == "USER_GROUP" else "."),
                    hint="Group names are ASCII letters, digits, '-', '_' and '.', under 100 "
                    f"characters; the default is {DEFAULTS[key]!r}.",
                    id="livepush.E015",
                )
            )
    return errors
