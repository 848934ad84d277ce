"""Settings of the test project, for pytest and for the daphne servers the live tests start.

The live tests steer the server processes through environment variables:
LIVEPUSH_TEST_DB (SQLite file), LIVEPUSH_TEST_REDIS_URL (use Redis through
livepush.layers.redis_channel_layer), LIVEPUSH_TEST_HEARTBEAT ("interval,timeout" seconds),
LIVEPUSH_TEST_PRESENCE ("ttl,grace,sweep" seconds; presence is off without it),
LIVEPUSH_TEST_LAYER ("seed" or "pubsub": another Redis layer configuration),
LIVEPUSH_TEST_PROCESS_CAPACITY (messages a server process's channel may hold in Redis, for the
default layer), LIVEPUSH_TEST_SOCKET_TIMEOUT (the default layer's redis-py socket_timeout in
seconds, or "none").
"""

from __future__ import annotations

import os
from typing import Any

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

_redis_url = os.environ.get("LIVEPUSH_TEST_REDIS_URL")
if _redis_url:
    # The seed's (host, port) tuple form, made safe by the helper (channels_redis#422).
    _host, _, _port = _redis_url.removeprefix("redis://").partition(":")
    _capacity = os.environ.get("LIVEPUSH_TEST_PROCESS_CAPACITY")
    _config = {"channel_capacity": {"*!*": int(_capacity)}} if _capacity else {}
    _hosts: list[Any] = [(_host, int(_port))]
    _timeout = os.environ.get("LIVEPUSH_TEST_SOCKET_TIMEOUT")
    if _timeout:
        _socket_timeout = None if _timeout == "none" else float(_timeout)
        _hosts = [{"host": _host, "port": int(_port), "socket_timeout": _socket_timeout}]
    CHANNEL_LAYERS = {"default": redis_channel_layer(_hosts, **_config)}
    # LIVEPUSH_TEST_LAYER picks another configuration users have: "seed" is the seed system's
    # plain channels-redis layer with tuple hosts, "pubsub" channels-redis's pub/sub layer.
    _layer = os.environ.get("LIVEPUSH_TEST_LAYER")
    if _layer == "seed":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [(_host, int(_port))]},
            }
        }
    elif _layer == "pubsub":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [(_host, int(_port))]},
            }
        }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

_interval, _, _timeout = os.environ.get("LIVEPUSH_TEST_HEARTBEAT", "30,10").partition(",")

# Presence is off unless a test turns it on, here with LIVEPUSH_TEST_PRESENCE="ttl,grace,sweep",
# so that other tests see only the frames they are about.
_presence = os.environ.get("LIVEPUSH_TEST_PRESENCE")
_ttl, _grace, _sweep = (_presence or "45,3,2").split(",")

LIVEPUSH = {
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
