"""livepush.wiring: the checks that the WebSocket route reaches the consumer, authenticated."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.checks import Tags, run_checks
from django.test import override_settings
from django.urls import path

import livepush.wiring
from livepush.auth import JWTAuthMiddlewareStack
from livepush.consumers import LivePushConsumer
from livepush.routing import websocket_application, websocket_urlpatterns
from livepush.wiring import check_wiring, websocket_routes

HERE = "tests.test_wiring"


class ChatConsumer(AsyncWebsocketConsumer):
    """Someone else's consumer: not django-livepush's."""


class MyConsumer(LivePushConsumer):
    pass


async def opaque(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI application the walk cannot see into."""


RIGHT = ProtocolTypeRouter({"websocket": websocket_application()})
SESSION_TOO = ProtocolTypeRouter(
    {
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                JWTAuthMiddlewareStack(URLRouter([path("ws/", MyConsumer.as_asgi())]))
            )
        )
    }
)
NESTED = ProtocolTypeRouter(
    {
        "websocket": AllowedHostsOriginValidator(
            JWTAuthMiddlewareStack(URLRouter([path("api/", URLRouter(websocket_urlpatterns))]))
        )
    }
)
NO_JWT = ProtocolTypeRouter(
    {"websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns))}
)
NO_ORIGIN = ProtocolTypeRouter(
    {"websocket": JWTAuthMiddlewareStack(URLRouter(websocket_urlpatterns))}
)
NOT_OURS = ProtocolTypeRouter(
    {"websocket": AllowedHostsOriginValidator(URLRouter([path("ws/", ChatConsumer.as_asgi())]))}
)
NO_WEBSOCKET = ProtocolTypeRouter({"http": opaque})
OPAQUE = ProtocolTypeRouter({"websocket": AllowedHostsOriginValidator(opaque)})


def ids(**django: Any) -> list[str]:
    with override_settings(**django):
        return [m.id for m in check_wiring()]


@pytest.mark.parametrize(
    ("application", "expected"),
    [
        pytest.param("RIGHT", [], id="websocket_application"),
        pytest.param("SESSION_TOO", [], id="session-auth-around-jwt"),
        pytest.param("NESTED", [], id="nested-router"),
        pytest.param("OPAQUE", [], id="cannot-see-inside"),
        pytest.param("NO_JWT", ["livepush.E042"], id="E042"),
        pytest.param("NO_ORIGIN", ["livepush.W007"], id="W007"),
        pytest.param("NOT_OURS", ["livepush.W006"], id="W006-another-consumer"),
        pytest.param("NO_WEBSOCKET", ["livepush.W006"], id="W006-no-websocket-entry"),
    ],
)
def test_the_websocket_route_is_walked(application: str, expected: list[str]) -> None:
    assert ids(ASGI_APPLICATION=f"{HERE}.{application}") == expected


def test_asgi_application_missing_is_e040() -> None:
    assert ids(ASGI_APPLICATION=None) == ["livepush.E040"]


def test_asgi_application_that_does_not_import_is_e041() -> None:
    with override_settings(ASGI_APPLICATION="mysite.asgi.aplication"):
        [message] = check_wiring()
    assert message.id == "livepush.E041"
    assert "'mysite.asgi.aplication' does not import: ModuleNotFoundError" in message.msg


def test_runserver_without_daphne_is_w005_in_debug_only() -> None:
    from django.conf import settings

    apps = [app for app in settings.INSTALLED_APPS if app != "daphne"]
    assert ids(DEBUG=True, INSTALLED_APPS=apps) == ["livepush.W005"]
    assert ids(DEBUG=False, INSTALLED_APPS=apps) == []


def test_messages_name_the_route_and_say_the_fix() -> None:
    with override_settings(ASGI_APPLICATION=f"{HERE}.NO_JWT"):
        [message] = check_wiring()
    assert f"{HERE}.NO_JWT" in message.msg
    assert "tests.project.consumers.TestConsumer" in message.msg  # LIVEPUSH["CONSUMER"]
    assert "closed with 4000" in message.msg
    assert "JWTAuthMiddlewareStack" in message.hint


def test_routes_say_what_they_pass_through() -> None:
    routes, complete = websocket_routes(SESSION_TOO)
    assert complete
    assert [(r.consumer, r.authenticated, r.origin_checked) for r in routes] == [
        (MyConsumer, True, True)
    ]
    assert websocket_routes(OPAQUE) == ([], False)
    assert websocket_routes(opaque) == ([], False)  # not a ProtocolTypeRouter


def test_the_project_asgi_application_passes_and_the_check_is_registered() -> None:
    assert ids() == []
    with override_settings(ASGI_APPLICATION=f"{HERE}.NO_JWT"):
        assert "livepush.E042" in [m.id for m in run_checks(tags=[Tags.compatibility])]


def test_every_wiring_id_is_tested_here() -> None:
    source = Path(livepush.wiring.__file__).read_text(encoding="utf-8")
    emitted = {
        keyword.value.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "id" and isinstance(keyword.value, ast.Constant)
    }
    here = Path(__file__).read_text(encoding="utf-8")
    assert emitted == {"livepush.E040", "livepush.E041", "livepush.E042"} | {
        "livepush.W005",
        "livepush.W006",
        "livepush.W007",
    }
    assert all(f'"{check_id}"' in here for check_id in emitted)
