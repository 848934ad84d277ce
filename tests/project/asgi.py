"""ASGI entry point of the test project, written as the README tells users to."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402 - after Django is set up
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from livepush.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter(
    # Static files too, for the browser tests' page and livepush.js.
    {"http": ASGIStaticFilesHandler(django_asgi_app), "websocket": websocket_application()}
)
