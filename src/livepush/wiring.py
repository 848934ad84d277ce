"""System checks of the wiring: an ASGI server for ``runserver``, ``ASGI_APPLICATION``, and a
WebSocket route that reaches :class:`~livepush.consumers.LivePushConsumer` through
:class:`~livepush.auth.JWTAuthMiddleware` and an Origin check.

Each problem has its own ID (``docs/reference/checks.md``). The application is walked as
Channels builds it: ``ProtocolTypeRouter``'s ``"websocket"`` entry, then middleware (``inner``,
``application``), ``URLRouter`` routes and consumers (``as_asgi()``'s ``consumer_class``). A
wrapper it cannot see into is left alone: nothing is reported past it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

__all__ = ["Route", "check_wiring", "websocket_routes"]

_README = "the README's quick start, step 3: asgi.py"


@dataclass(frozen=True)
class Route:
    """A consumer the WebSocket entry reaches, and what it passes through on the way."""

    consumer: type[Any]
    #: ``JWTAuthMiddleware`` is on the way.
    authenticated: bool
    #: An Origin check (``AllowedHostsOriginValidator``, ``OriginValidator``) is on the way.
    origin_checked: bool


def websocket_routes(application: Any) -> tuple[list[Route], bool]:
    """The consumers ``application``'s ``"websocket"`` entry reaches, and whether the walk saw
    everything (``False``: a wrapper or router it cannot see into, or no ``ProtocolTypeRouter``).
    """
    from channels.routing import ProtocolTypeRouter

    if not isinstance(application, ProtocolTypeRouter):
        return [], False
    entry = application.application_mapping.get("websocket")
    if entry is None:
        return [], True
    walk = _Walk()
    routes = list(walk.routes(entry, authenticated=False, origin_checked=False, depth=0))
    return routes, walk.complete


class _Walk:
    def __init__(self) -> None:
        self.complete = True

    def routes(
        self, app: Any, *, authenticated: bool, origin_checked: bool, depth: int
    ) -> Iterator[Route]:
        from channels.routing import URLRouter
        from channels.security.websocket import OriginValidator

        from livepush.auth import JWTAuthMiddleware
        from livepush.routing import consumer_application, get_consumer_class

        if depth > 50:
            self.complete = False
            return
        below = {"authenticated": authenticated, "origin_checked": origin_checked}
        consumer = getattr(app, "consumer_class", None)
        if app is consumer_application:
            try:
                consumer = get_consumer_class()
            except Exception:  # LIVEPUSH["CONSUMER"] has its own checks (E012, E023)
                self.complete = False
                return
        if isinstance(consumer, type):
            yield Route(consumer, authenticated, origin_checked)
            return
        if isinstance(app, URLRouter):
            for route in app.routes:
                callback = getattr(route, "callback", None)
                if callback is None:
                    self.complete = False
                    continue
                yield from self.routes(callback, depth=depth + 1, **below)
            return
        if isinstance(app, JWTAuthMiddleware):
            below["authenticated"] = True
        if isinstance(app, OriginValidator):
            below["origin_checked"] = True
        for attribute in ("inner", "application", "app"):
            inner = getattr(app, attribute, None)
            if inner is not None and callable(inner):
                yield from self.routes(inner, depth=depth + 1, **below)
                return
        self.complete = False  # an ASGI callable of its own: nothing to see inside


@register(Tags.compatibility)
def check_wiring(**kwargs: Any) -> list[CheckMessage]:
    """Check that WebSockets reach the consumer, authenticated and Origin-checked."""
    messages: list[CheckMessage] = []
    if settings.DEBUG and "daphne" not in settings.INSTALLED_APPS:
        messages.append(
            Warning(
                "'daphne' is not in INSTALLED_APPS: `manage.py runserver` serves no WebSockets "
                "(a connection to /ws/ gets Django's HTML 404).",
                hint="Put 'daphne' first in INSTALLED_APPS (pip install daphne), or run an ASGI "
                "server (daphne, uvicorn); silence livepush.W005 if you never use runserver.",
                id="livepush.W005",
            )
        )
    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        messages.append(
            Error(
                "ASGI_APPLICATION is not set: Channels cannot find the application that routes "
                "WebSockets to the consumer.",
                hint=f'Set ASGI_APPLICATION = "mysite.asgi.application" ({_README}).',
                id="livepush.E040",
            )
        )
        return messages
    try:
        application = import_string(str(path))
    except Exception as exc:
        messages.append(
            Error(
                f"ASGI_APPLICATION {path!r} does not import: {type(exc).__name__}: {exc}",
                hint=f"Name the application object in your asgi.py ({_README}).",
                id="livepush.E041",
            )
        )
        return messages
    return messages + _check_routes(str(path), application)


def _check_routes(path: str, application: Any) -> list[CheckMessage]:
    from livepush.consumers import LivePushConsumer

    routes, complete = websocket_routes(application)
    ours = [r for r in routes if issubclass(r.consumer, LivePushConsumer)]
    messages: list[CheckMessage] = []
    if not ours and complete:
        messages.append(
            Warning(
                f"No WebSocket route of {path} reaches a LivePushConsumer: clients cannot "
                "connect to django-livepush.",
                hint='Add "websocket": livepush.routing.websocket_application() to the '
                f"ProtocolTypeRouter ({_README}).",
                id="livepush.W006",
            )
        )
    for route in ours:
        name = f"{route.consumer.__module__}.{route.consumer.__qualname__}"
        if not route.authenticated:
            messages.append(
                Error(
                    f"The WebSocket route of {path} to {name} does not pass through "
                    "livepush.auth.JWTAuthMiddleware: every connection is closed with 4000.",
                    hint="Wrap the route: JWTAuthMiddlewareStack(URLRouter(websocket_urlpatterns)) "
                    f"({_README}).",
                    id="livepush.E042",
                )
            )
        if not route.origin_checked:
            messages.append(
                Warning(
                    f"The WebSocket route of {path} to {name} has no Origin check: any web page "
                    "can open a connection with a token it obtained.",
                    hint="Wrap it in channels.security.websocket.AllowedHostsOriginValidator "
                    f"({_README}).",
                    id="livepush.W007",
                )
            )
    return messages
