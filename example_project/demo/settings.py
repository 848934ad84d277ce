"""Settings of the django-livepush demo.

Embedded defaults: SQLite and the in-memory channel layer in one process. With REDIS_URL (or the
seed's REDIS_HOST) set, pushes and presence go through Redis, so several server processes share
them (see the README of example_project).
"""

from __future__ import annotations

import os
from pathlib import Path

from livepush.layers import redis_channel_layer

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "demo-only-secret-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"
)
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "livepush",
    "demo",
    "albums",
    "bucketlist",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "demo.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo.context.people",
            ]
        },
    }
]
ASGI_APPLICATION = "demo.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DB", str(BASE_DIR / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
MEDIA_URL = "media/"
MEDIA_ROOT = os.environ.get("DEMO_MEDIA_ROOT", str(BASE_DIR / "media"))
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "index"
LOGOUT_REDIRECT_URL = "login"

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {"default": redis_channel_layer([os.environ["REDIS_URL"]])}
elif os.environ.get("REDIS_HOST"):
    CHANNEL_LAYERS = {"default": redis_channel_layer([(os.environ["REDIS_HOST"], 6379)])}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LIVEPUSH: dict[str, object] = {
    # The seed's message types (ALBUM_*, PHOTO_*, BUCKETPOINT_*, SYSTEM_NOTIFICATION, ...).
    "MESSAGE_TYPES": ["livepush.seed.WebSocketMessageType"],
    # Presence: who is online, shown at the top of every page.
    "PRESENCE_GRACE": float(os.environ.get("DEMO_PRESENCE_GRACE", "3")),
}
