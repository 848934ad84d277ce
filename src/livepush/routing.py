"""WebSocket URL routing: ``websocket_urlpatterns`` and a ready-made secure application.

``websocket_urlpatterns`` routes ``ws/`` to the consumer class named by ``LIVEPUSH["CONSUMER"]``
(resolved at the first connection, so settings can change it in tests).
:func:`websocket_application` wraps routes in origin checking and JWT authentication.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from livepush.conf import livepush_settings
from livepush.exceptions import LivePushConfigurationError

if TYPE_CHECKING:
    from livepush._types import ASGIApp, ASGIReceive, ASGISend, Scope

__all__ = ["consumer_application", "websocket_application", "websocket_urlpatterns"]


@functools.lru_cache(maxsize=8)
def _as_asgi(consumer_class: Any) -> ASGIApp:
    app: ASGIApp = consumer_class.as_asgi()
    return app


def get_consumer_class() -> Any:
    """Import ``LIVEPUSH["CONSUMER"]``; an error names the setting."""
    cls = livepush_settings.import_setting("CONSUMER")
    if not (isinstance(cls, type) and hasattr(cls, "as_asgi")):
        raise LivePushConfigurationError(
            f"LIVEPUSH['CONSUMER'] is {livepush_settings.CONSUMER!r}, which is not a consumer "
            "class; subclass livepush.consumers.LivePushConsumer."
        )
    return cls


async def consumer_application(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
    """ASGI application running ``LIVEPUSH["CONSUMER"]`` for one connection."""
    await _as_asgi(get_consumer_class())(scope, receive, send)


# Channels' URLRouter takes ASGI applications where Django's path() expects views.
websocket_urlpatterns = [
    path("ws/", consumer_application, name="livepush"),  # type: ignore[arg-type]
]


def websocket_application(urlpatterns: list[Any] | None = None) -> ASGIApp:
    """Return ``AllowedHostsOriginValidator(JWTAuthMiddlewareStack(URLRouter(urlpatterns)))``.

    Origin is checked against ``ALLOWED_HOSTS`` (a cross-origin connection is refused with HTTP
    403) and the connection is authenticated by JWT. ``urlpatterns`` defaults to
    :data:`websocket_urlpatterns`.
    """
    from livepush.auth import JWTAuthMiddlewareStack

    app: ASGIApp = AllowedHostsOriginValidator(
        JWTAuthMiddlewareStack(
            URLRouter(websocket_urlpatterns if urlpatterns is None else urlpatterns)
        )
    )
    return app
