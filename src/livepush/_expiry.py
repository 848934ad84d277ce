"""Token lifetime on an open connection: close with ``4003`` at ``exp``, unless refreshed.

:class:`TokenExpiry` is the one owner of a connection's token lifetime.
:class:`~livepush.consumers.LivePushConsumer` holds one, starts it after ``accept()`` with
``scope["livepush_token_exp"]`` (set by :class:`~livepush.auth.JWTAuthMiddleware`) and ends it
with the connection, where the heartbeat and the sender end. It costs one timer handle per
connection (``loop.call_later``), not a task: a task exists only for the moment of the close.

A client keeps its connection open by sending ``{"type": "REFRESH_TOKEN", "data": {"token": ...}}``
before the current token expires. The new token is verified exactly like a connect token
(:func:`livepush.auth.authenticate_token`: algorithm allowlist, ``exp`` required, access tokens
only, the user exists and is active) and must name the connection's user. A valid one moves the
close to its own ``exp`` (earlier or later: the last token wins) and gets no answer; any other
gets ``ERROR token_refused`` and changes nothing, so the connection closes when its current token
expires and the client reconnects with a fresh token. The token is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from livepush.auth import authenticate_token, token_exp
from livepush.conf import livepush_settings
from livepush.exceptions import PayloadError
from livepush.protocol import CloseCode, ErrorCode, ProtocolType, error_frame
from livepush.registry import get_registry

__all__ = ["TokenExpiry"]

logger = logging.getLogger("livepush.auth")

REFUSED_DETAIL = (
    "REFRESH_TOKEN refused: the token does not verify, is not for this connection's user, or the "
    "user is no longer active. The connection closes with 4003 when its current token expires."
)


class TokenExpiry:
    """One connection's token lifetime.

    Args:
        close: closes the connection with a code.
    """

    def __init__(self, close: Callable[[int], Awaitable[None]]) -> None:
        self._close = close
        #: The ``exp`` of the connection's current token (seconds since the epoch), or ``None``.
        self.exp: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    @property
    def expired(self) -> bool:
        """Whether the close for an expired token has begun."""
        return self._closing is not None

    def start(self, exp: float | None) -> None:
        """Close with ``4003`` at ``exp`` plus ``JWT_LEEWAY``, replacing any earlier schedule.

        ``None`` (a connection authenticated without a token) schedules nothing.
        """
        self._cancel_timer()
        if self._closing is not None:
            return
        self.exp = exp
        if exp is None:
            return
        delay = exp + float(livepush_settings.JWT_LEEWAY) - time.time()
        self._handle = asyncio.get_running_loop().call_later(max(delay, 0.0), self._expire)

    async def refresh(self, data: object, user: Any, scope: MutableMapping[str, Any]) -> str | None:
        """Handle a ``REFRESH_TOKEN`` frame's ``data`` for the connection of ``user``.

        On success the close moves to the new token's ``exp``, ``scope["jwt_claims"]`` and
        ``scope["livepush_token_exp"]`` become the new token's, and nothing is returned.
        Otherwise returns the ``ERROR`` frame to send (``invalid_payload`` or ``token_refused``).
        """
        registry = get_registry()
        try:
            registry.validate_payload(registry.resolve(ProtocolType.REFRESH_TOKEN), data)
        except PayloadError as exc:
            return error_frame(ErrorCode.INVALID_PAYLOAD, str(exc))
        token = data.get("token") if isinstance(data, dict) else None  # a str, by the schema
        result = await authenticate_token(token if isinstance(token, str) else None)
        if result.error is not None:
            reason: str | None = str(result.error)
        elif result.user.pk != getattr(user, "pk", None):
            reason = "the token is for another user"
        elif self._closing is not None:
            reason = "the connection's token expired while the new one was checked"
        else:
            reason = None
        if reason is not None:
            logger.debug("REFRESH_TOKEN refused (%s)", reason)
            return error_frame(ErrorCode.TOKEN_REFUSED, REFUSED_DETAIL)
        exp = token_exp(result.claims)
        self.start(exp)
        scope["jwt_claims"] = result.claims
        scope["livepush_token_exp"] = exp
        return None

    async def aclose(self) -> None:
        """Cancel the timer, and a close still under way; the connection has ended."""
        self._cancel_timer()
        task = self._closing
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait((task,))

    def _cancel_timer(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _expire(self) -> None:
        self._handle = None
        self._closing = asyncio.get_running_loop().create_task(
            self._close_expired(), name=f"livepush-token-expiry-{id(self):x}"
        )

    async def _close_expired(self) -> None:
        logger.debug("The connection's token expired; closing with %d", CloseCode.TOKEN_EXPIRED)
        with contextlib.suppress(Exception):
            await self._close(int(CloseCode.TOKEN_EXPIRED))
