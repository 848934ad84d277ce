"""Settings of the test project, for pytest and for the daphne servers the live tests start.

The live tests steer the server processes through environment variables:
LIVEPUSH_TEST_DB (SQLite file), LIVEPUSH_TEST_REDIS_URL (the Redis of the channel layer; the
in-memory layer without it), LIVEPUSH_TEST_LAYER (which Redis layer configuration, see
``_redis_layer`` below; "core" by default; "sentinel" with LIVEPUSH_TEST_SENTINEL, "host:port"
of a Redis Sentinel, instead of the URL), LIVEPUSH_TEST_HEARTBEAT ("interval,timeout" seconds),
LIVEPUSH_TEST_PRESENCE ("ttl,grace,sweep" seconds; presence is off without it),
LIVEPUSH_TEST_RECOVERY (the history size; recovery is off without it),
LIVEPUSH_TEST_PROCESS_CAPACITY (messages a server process's channel may hold in Redis, for the
"core" layer), LIVEPUSH_TEST_SOCKET_TIMEOUT (the "core" layer's redis-py socket_timeout in
seconds, or "none").
"""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from livepush.layers import redis_channel_layer

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = "test-secret-key-long-enough-for-hs256-hs384-and-hs512-0123456789abcdef"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
ROOT_URLCONF = "tests.project.urls"
ASGI_APPLICATION = "tests.project.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "daphne",  # runserver serves WebSockets (livepush.W005)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "livepush",
    "tests.liveapp",
]
STATIC_URL = "static/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [os.path.join(BASE_DIR, "templates")],
    }
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("LIVEPUSH_TEST_DB", ":memory:"),
    }
}


def _redis_layer(name: str, host: str, port: int) -> dict[str, object]:
    """The ``CHANNEL_LAYERS`` entry of the Redis layer configuration ``name``.

    "core" (the default): livepush.layers.redis_channel_layer with the seed's (host, port) tuple,
    made safe by the helper (channels_redis#422); "pubsub": channels-redis's
    RedisPubSubChannelLayer as its docs configure it. The real-socket suite runs over both
    (tests/conftest.py, ``live_layer``). "seed": the seed system's plain channels-redis layer with
    tuple hosts (tests/test_layer_configs.py).
    """
    if name == "core":
        capacity = os.environ.get("LIVEPUSH_TEST_PROCESS_CAPACITY")
        config = {"channel_capacity": {"*!*": int(capacity)}} if capacity else {}
        hosts: list[Any] = [(host, port)]
        timeout = os.environ.get("LIVEPUSH_TEST_SOCKET_TIMEOUT")
        if timeout:
            socket_timeout = None if timeout == "none" else float(timeout)
            hosts = [{"host": host, "port": port, "socket_timeout": socket_timeout}]
        return redis_channel_layer(hosts, **config)
    if name == "pubsub":
        return {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [(host, port)]},
        }
    if name == "seed":
        return {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [(host, port)]},
        }
    raise ImproperlyConfigured(
        f"LIVEPUSH_TEST_LAYER={name!r} is not a layer of the test project: use 'core', "
        "'pubsub', 'seed' or 'sentinel' (with LIVEPUSH_TEST_SENTINEL)."
    )


_redis_url = os.environ.get("LIVEPUSH_TEST_REDIS_URL")
_sentinel = os.environ.get("LIVEPUSH_TEST_SENTINEL")
if os.environ.get("LIVEPUSH_TEST_LAYER") == "sentinel":
    if not _sentinel:
        raise ImproperlyConfigured("LIVEPUSH_TEST_LAYER='sentinel' needs LIVEPUSH_TEST_SENTINEL.")
    # The master's address comes from the sentinel (tests.servers.RedisSentinel names it
    # "mymaster"); presence finds it through the same host dict.
    _host, _, _port = _sentinel.partition(":")
    CHANNEL_LAYERS = {
        "default": redis_channel_layer(
            [
                {
                    "sentinels": [(_host, int(_port))],
                    "master_name": "mymaster",
                    "sentinel_kwargs": {"socket_connect_timeout": 5.0},
                }
            ]
        )
    }
elif _redis_url:
    _host, _, _port = _redis_url.removeprefix("redis://").partition(":")
    CHANNEL_LAYERS = {
        "default": _redis_layer(os.environ.get("LIVEPUSH_TEST_LAYER", "core"), _host, int(_port))
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

_interval, _, _timeout = os.environ.get("LIVEPUSH_TEST_HEARTBEAT", "30,10").partition(",")

# Presence is off unless a test turns it on, here with LIVEPUSH_TEST_PRESENCE="ttl,grace,sweep",
# so that other tests see only the frames they are about.
_presence = os.environ.get("LIVEPUSH_TEST_PRESENCE")
_ttl, _grace, _sweep = (_presence or "45,3,2").split(",")

# Recovery is off unless LIVEPUSH_TEST_RECOVERY gives the history size (pushes per stream).
_recovery = os.environ.get("LIVEPUSH_TEST_RECOVERY")

LIVEPUSH = {
    "RECOVERY": bool(_recovery),
    "HISTORY_SIZE": int(_recovery or 1000),
    # TestConsumer's own group is a stream too, so a reconnect can recover everything.
    "HISTORY_GROUPS": ["testers"],
    "PRESENCE": bool(_presence),
    "PRESENCE_TTL": float(_ttl),
    "PRESENCE_GRACE": float(_grace),
    "PRESENCE_SWEEP_INTERVAL": float(_sweep),
    "HEARTBEAT_INTERVAL": float(_interval),
    "HEARTBEAT_TIMEOUT": float(_timeout),
    "MESSAGE_TYPES": [
        "livepush.seed.WebSocketMessageType",  # the seed's PHOTO_* and others, opted into
        "tests.project.messages.TestMessageType",
    ],
    "CONSUMER": "tests.project.consumers.TestConsumer",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"livepush": {"handlers": ["console"], "level": "DEBUG"}},
}
