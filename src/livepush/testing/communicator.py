"""A Channels ``WebsocketCommunicator`` that connects as a user, with a token made for it.

``channels.testing`` imports daphne: install it with your test dependencies.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable
from typing import Any

from channels.testing import WebsocketCommunicator
from typing_extensions import Self

from livepush.protocol import PONG_FRAME, SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, ProtocolType
from livepush.registry import TypeRef

__all__ = ["DEFAULT_ORIGIN", "LivePushCommunicator", "default_application"]

#: The Origin the communicator sends by default: Django's test setup adds ``testserver`` to
#: ``ALLOWED_HOSTS``, so the Origin check of ``websocket_application()`` allows it.
DEFAULT_ORIGIN = "http://testserver"

#: Frames the library sends on its own, which :meth:`LivePushCommunicator.receive_message`
#: passes over when asked for another type.
_UNASKED = frozenset(
    {
        ProtocolType.PING.value,
        ProtocolType.PRESENCE_SNAPSHOT.value,
        ProtocolType.PRESENCE_DIFF.value,
    }
)


def default_application(path: str = "/ws/") -> Any:
    """The application a :class:`LivePushCommunicator` talks to when given none.

    The project's ``ASGI_APPLICATION`` when it sets one (its real WebSocket stack); otherwise
    ``websocket_application()`` routing ``path`` to ``LIVEPUSH["CONSUMER"]``.
    """
    from django.conf import settings

    if getattr(settings, "ASGI_APPLICATION", None):
        from channels.routing import get_default_application

        return get_default_application()
    from django.urls import path as route

    from livepush.routing import consumer_application, websocket_application

    return websocket_application([route(path.lstrip("/"), consumer_application)])  # type: ignore[arg-type]


class LivePushCommunicator(WebsocketCommunicator):  # type: ignore[misc]  # channels is untyped
    """A ``WebsocketCommunicator`` on the library's subprotocol, authenticated as ``user``.

    The token (``livepush.tokens.issue_access_token(user)``) goes in the subprotocols, next to
    ``livepush``, as the browser client sends it. The user must be in the database where the
    middleware's thread can read it: in pytest-django, ``transactional_db`` (or
    ``TransactionTestCase``), not ``db``.

    As an async context manager it connects (failing the test if the connection is not
    accepted) and disconnects at the end::

        async with LivePushCommunicator(alice) as ws:
            await asend_ws_message_to_user(alice.pk, "SYSTEM_NOTIFICATION", {"text": "hi"})
            frame = await ws.receive_message("SYSTEM_NOTIFICATION")

    Args:
        user: the user, or its primary key, to connect as; ``None`` sends no token.
        application: the ASGI application; default :func:`default_application`.
        path: the URL path to connect to.
        origin: the ``Origin`` header (default :data:`DEFAULT_ORIGIN`); ``None`` sends none.
        token: a token to send instead of one made for ``user`` (an expired one, say).
        headers: more headers, as ``(name, value)`` byte pairs.
        subprotocols: more subprotocols, after ``livepush`` and the token.
        **kwargs: passed on to ``WebsocketCommunicator`` (``spec_version``).
    """

    #: Seconds the context manager waits for the connection to open, and
    #: :meth:`receive_message` for a frame, by default. Only a failing test waits that long.
    timeout: float = 5.0

    def __init__(
        self,
        user: Any,
        application: Any = None,
        *,
        path: str = "/ws/",
        origin: str | None = DEFAULT_ORIGIN,
        token: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] = (),
        subprotocols: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        if token is None and user is not None:
            from livepush.tokens import issue_access_token

            token = issue_access_token(user)
        protocols = [SUBPROTOCOL]
        if token is not None:
            protocols.append(f"{TOKEN_SUBPROTOCOL_PREFIX}{token}")
        protocols.extend(subprotocols)
        all_headers = [] if origin is None else [(b"origin", origin.encode())]
        all_headers.extend(headers)
        #: The user (or primary key) connected as.
        self.user = user
        #: The token sent, or ``None``.
        self.token = token
        super().__init__(
            application if application is not None else default_application(path),
            path,
            headers=all_headers,
            subprotocols=protocols,
            **kwargs,
        )

    async def receive_message(
        self, event_type: TypeRef | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """The next frame, decoded; with ``event_type``, the next frame of that type.

        Asked for a type, it passes over the frames the library sends on its own (``PING``,
        answered with ``PONG``, ``PRESENCE_SNAPSHOT`` and ``PRESENCE_DIFF``) and fails on any
        other.

        Args:
            event_type: an enum member or a name (a protocol type's too).
            timeout: seconds to wait in all (default :attr:`timeout`).

        Raises:
            AssertionError: a frame of another type (or not a JSON object) came first, or the
                connection closed.
            asyncio.TimeoutError: nothing came in time.
        """
        wanted = event_type.value if isinstance(event_type, enum.Enum) else event_type
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        while True:
            frame: Any = await self.receive_json_from(max(0.0, deadline - loop.time()))
            if not isinstance(frame, dict):
                raise AssertionError(f"Expected a JSON object frame, received {frame!r}")
            kind = frame.get("type")
            if wanted is None or kind == wanted:
                return frame
            if kind == ProtocolType.PING.value:
                await self.send_to(text_data=PONG_FRAME)
            elif kind not in _UNASKED:
                raise AssertionError(f"Expected a {wanted!r} frame, received {frame!r}")

    async def receive_close(self, *, timeout: float | None = None) -> int | None:
        """Wait for the server to close the connection; return the close code.

        Frames sent before the close are passed over. A refused connection is accepted first
        and then closed (``4001`` without a valid token), so browsers see the code.

        Raises:
            asyncio.TimeoutError: the connection was still open after ``timeout`` seconds
                (default :attr:`timeout`).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        while True:
            output = await self.receive_output(max(0.0, deadline - loop.time()))
            if output["type"] == "websocket.close":
                code: int | None = output.get("code")
                return code

    async def __aenter__(self) -> Self:
        connected, detail = await self.connect(timeout=self.timeout)
        if not connected:
            raise AssertionError(f"The connection was refused (close code {detail!r})")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect(timeout=self.timeout)
