"""The test project plus the hand-written baseline consumer at ``ws/seed/``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from livepush.auth import JWTAuthMiddlewareStack  # noqa: E402
from livepush.routing import websocket_urlpatterns  # noqa: E402

from .seed_consumer import SeedConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": JWTAuthMiddlewareStack(
            URLRouter([path("ws/seed/", SeedConsumer.as_asgi()), *websocket_urlpatterns])
        ),
    }
)
