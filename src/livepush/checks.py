"""System checks for every misconfiguration of django-livepush a user can make.

Each problem has its own ID, listed in ``docs/reference/checks.md``; IDs are never reused. The
checks of one setting (its type and its rules) come from the settings table,
:data:`livepush.conf.SETTINGS`; the checks here that read several settings, or settings outside
``LIVEPUSH``, are named for what they check.
"""

from __future__ import annotations

import difflib
import re
import uuid
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from livepush.conf import SETTINGS, livepush_settings

__all__ = ["check_settings"]

#: Minimum key length in bytes per HMAC algorithm (the hash size).
_HMAC = {"HS256": 32, "HS384": 48, "HS512": 64}
#: Below this many messages in a server process's channels, a burst of pushes to a process that
#: falls behind for a moment is dropped (channels-redis's own default is 100).
_LOW_PROCESS_CAPACITY = 1000


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
    errors = _check_unknown_keys(raw)
    # Settings whose own checks failed; the checks across settings skip them.
    bad: set[str] = set()
    errors += _check_types(bad)
    errors += _check_rules(bad)
    errors += _check_heartbeat_order(bad)
    errors += _check_jwt_algorithm_families(bad)
    errors += _check_jwt_signing_key(bad)
    errors += _check_jwt_verifying_key(bad)
    errors += _check_channel_layers(bad)
    errors += _check_message_type_names(bad)
    errors += _check_consumer_handlers(bad)
    errors += _check_presence_timings(bad)
    return errors


# One setting at a time, from the settings table.


def _check_unknown_keys(raw: dict[Any, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key in raw:
        if key not in SETTINGS:
            close = difflib.get_close_matches(str(key), SETTINGS, n=1)
            hint = f"Did you mean {close[0]!r}?" if close else "Remove it."
            errors.append(
                Error(
                    f"LIVEPUSH has an unknown key {key!r}.",
                    hint=f"{hint} Valid keys: {', '.join(SETTINGS)}.",
                    id="livepush.E002",
                )
            )
    return errors


def _check_types(bad: set[str]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name, setting in SETTINGS.items():
        value = getattr(livepush_settings, name)
        if not setting.accepts(value):
            bad.add(name)
            types = " or ".join("None" if t is None else t.__name__ for t in setting.types)
            errors.append(
                Error(
                    f"LIVEPUSH[{name!r}] is {value!r} ({type(value).__name__}); it must be "
                    f"{types}.",
                    hint=f"The default is {setting.default!r}.",
                    id="livepush.E003",
                )
            )
    return errors


def _check_rules(bad: set[str]) -> list[CheckMessage]:
    """Each setting's rules, in order, stopping at the first broken one (see ``conf.Rule``)."""
    errors: list[CheckMessage] = []
    for name, setting in SETTINGS.items():
        value = getattr(livepush_settings, name)
        if name in bad or value is None:
            continue
        for rule in setting.rules:
            problem = rule.problem(name, value)
            if problem is not None:
                bad.add(name)
                errors.append(
                    Error(
                        problem,
                        hint=f"{rule.hint} The default is {setting.default!r}.",
                        id=rule.check_id,
                    )
                )
                break
    return errors


# Across settings.


def _check_heartbeat_order(bad: set[str]) -> list[CheckMessage]:
    if bad & {"HEARTBEAT_INTERVAL", "HEARTBEAT_TIMEOUT"}:
        return []
    interval = livepush_settings.HEARTBEAT_INTERVAL
    timeout = livepush_settings.HEARTBEAT_TIMEOUT
    if timeout < interval:
        return []
    return [
        Error(
            f"LIVEPUSH['HEARTBEAT_TIMEOUT'] ({timeout!r}) must be below "
            f"LIVEPUSH['HEARTBEAT_INTERVAL'] ({interval!r}).",
            hint="The PONG must be due before the next PING; the defaults are 10 and 30.",
            id="livepush.E020",
        )
    ]


def _algorithms(bad: set[str]) -> tuple[list[str], list[str]]:
    """The allowed HMAC and public-key algorithms; none while ``JWT_ALGORITHMS`` is bad."""
    if "JWT_ALGORITHMS" in bad:
        return [], []
    algorithms = [str(a) for a in livepush_settings.JWT_ALGORITHMS]
    return [a for a in algorithms if a in _HMAC], [a for a in algorithms if a not in _HMAC]


def _check_jwt_algorithm_families(bad: set[str]) -> list[CheckMessage]:
    hmac, asymmetric = _algorithms(bad)
    if not (hmac and asymmetric):
        return []
    return [
        Error(
            f"LIVEPUSH['JWT_ALGORITHMS'] mixes HMAC and public-key algorithms "
            f"({livepush_settings.JWT_ALGORITHMS!r}).",
            hint="Allow one family: mixing them lets a public key be used as an HMAC secret "
            "(algorithm confusion).",
            id="livepush.E008",
        )
    ]


def _check_jwt_signing_key(bad: set[str]) -> list[CheckMessage]:
    hmac, _ = _algorithms(bad)
    if "JWT_SIGNING_KEY" in bad or not hmac:
        return []
    try:
        key = livepush_settings.signing_key
    except ImproperlyConfigured:  # Django refuses to read an empty SECRET_KEY
        key = ""
    if not key:
        return [
            Error(
                "The JWT signing key is empty (LIVEPUSH['JWT_SIGNING_KEY'], or SECRET_KEY "
                "when that is unset).",
                hint="Set SECRET_KEY, or LIVEPUSH['JWT_SIGNING_KEY'] to a long random string.",
                id="livepush.E006",
            )
        ]
    needed = max(_HMAC[a] for a in hmac)
    size = len(key.encode() if isinstance(key, str) else key)
    if size >= needed:
        return []
    return [
        Warning(
            f"The JWT signing key is {size} bytes, shorter than the {needed} bytes "
            f"{'/'.join(hmac)} needs to be secure.",
            hint="Use a longer random key (SECRET_KEY or LIVEPUSH['JWT_SIGNING_KEY']).",
            id="livepush.W003",
        )
    ]


def _check_jwt_verifying_key(bad: set[str]) -> list[CheckMessage]:
    _, asymmetric = _algorithms(bad)
    if not asymmetric or livepush_settings.JWT_VERIFYING_KEY:
        return []
    return [
        Error(
            f"LIVEPUSH['JWT_ALGORITHMS'] is {livepush_settings.JWT_ALGORITHMS!r} but "
            "JWT_VERIFYING_KEY is not set.",
            hint="Set LIVEPUSH['JWT_VERIFYING_KEY'] to the PEM public key; JWT_SIGNING_KEY is "
            "the private key, needed only to issue tokens.",
            id="livepush.E007",
        )
    ]


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
                    "django/channels_redis#422) of your other Channels consumers, and whose pool "
                    "raises MaxConnectionsError past 100 concurrent Redis calls in a process.",
                    hint="Use CHANNEL_LAYERS = {'default': livepush.layers.redis_channel_layer("
                    "hosts)}, or set 'BACKEND': 'livepush.layers.RedisChannelLayer'.",
                    id="livepush.W002",
                )
            )
    errors += _check_process_capacity(alias)
    return errors


def _check_process_capacity(alias: str) -> list[CheckMessage]:
    """A channels-redis layer whose process channels hold few messages drops bursts."""
    from channels.layers import channel_layers
    from channels_redis.core import RedisChannelLayer

    from livepush.layers import DEFAULT_PROCESS_CAPACITY, PROCESS_CHANNELS

    try:
        # A layer of its own, as the processes build it (no Redis connection is made).
        layer = channel_layers.make_backend(alias)
    except Exception:  # a layer that cannot be built fails, naming why, at its first use
        return []
    if not isinstance(layer, RedisChannelLayer):
        return []
    capacity = layer.get_capacity(f"specific.{layer.client_prefix}!{uuid.uuid4().hex}")
    if capacity >= _LOW_PROCESS_CAPACITY:
        return []
    return [
        Warning(
            f"CHANNEL_LAYERS[{alias!r}] lets a server process's channels hold {capacity} "
            "messages in Redis: channels-redis drops the pushes past that for a process that "
            "falls behind for a moment (livepush logs them at WARNING and counts them).",
            hint="Use livepush.layers.redis_channel_layer(hosts), whose process channels hold "
            f"{DEFAULT_PROCESS_CAPACITY:,}, or give them more with 'channel_capacity': "
            f"{{{PROCESS_CHANNELS!r}: {DEFAULT_PROCESS_CAPACITY}}} in its CONFIG.",
            id="livepush.W004",
        )
    ]


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


def _check_message_type_names(bad: set[str]) -> list[CheckMessage]:
    """Type names are unique across ``MESSAGE_TYPES`` and the built-in enum."""
    from livepush.exceptions import DuplicateMessageType
    from livepush.registry import MessageTypeRegistry, load_message_type_enums

    if "MESSAGE_TYPES" in bad:
        return []
    errors: list[CheckMessage] = []
    scratch = MessageTypeRegistry()
    for cls in load_message_type_enums():
        try:
            scratch.register(cls)
        except DuplicateMessageType as exc:
            bad.add("MESSAGE_TYPES")
            errors.append(
                Error(
                    str(exc),
                    hint="Type names must be unique across MESSAGE_TYPES and the protocol's own "
                    "types (livepush.protocol.ProtocolType).",
                    id="livepush.E011",
                )
            )
    return errors


def _check_consumer_handlers(bad: set[str]) -> list[CheckMessage]:
    """Every type the ``CONSUMER`` class handles is registered."""
    from livepush.exceptions import LivePushConfigurationError
    from livepush.registry import get_registry

    if bad & {"CONSUMER", "MESSAGE_TYPES"}:
        return []
    cls = livepush_settings.import_setting("CONSUMER")
    registry = get_registry()
    try:
        registry.load_settings()
    except LivePushConfigurationError:
        # MESSAGE_TYPES clashes with a type registered in code; the first lookup at run time
        # raises the same error, naming both.
        return []
    return [
        Error(
            f"{cls.__qualname__}.{method} handles {name!r}, which is not a registered message "
            "type.",
            hint="Add its enum to LIVEPUSH['MESSAGE_TYPES'] or call livepush.register().",
            id="livepush.E013",
        )
        for name, method in cls.livepush_handlers.items()
        if name not in registry
    ]


def _check_presence_timings(bad: set[str]) -> list[CheckMessage]:
    if bad & {"PRESENCE_TTL", "PRESENCE_GRACE", "PRESENCE_SWEEP_INTERVAL"}:
        return []
    ttl = livepush_settings.PRESENCE_TTL
    grace = livepush_settings.PRESENCE_GRACE
    sweep = livepush_settings.PRESENCE_SWEEP_INTERVAL
    if ttl > 0 and sweep > 0 and grace >= 0 and sweep < ttl:
        return []
    return [
        Error(
            f"LIVEPUSH presence timings do not work together (PRESENCE_TTL={ttl!r}, "
            f"PRESENCE_GRACE={grace!r}, PRESENCE_SWEEP_INTERVAL={sweep!r}).",
            hint="PRESENCE_TTL and PRESENCE_SWEEP_INTERVAL must be positive with the sweep "
            "shorter than the TTL, and PRESENCE_GRACE not negative; the defaults are 45, 3 and "
            "2 seconds.",
            id="livepush.E018",
        )
    ]
