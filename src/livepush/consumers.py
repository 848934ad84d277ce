"""The WebSocket consumer: authenticate, join groups, heartbeat, dispatch, deliver pushes.

Subclass :class:`LivePushConsumer` to add groups (:meth:`~LivePushConsumer.get_groups`), react to
connect and disconnect (:meth:`~LivePushConsumer.connect`, :meth:`~LivePushConsumer.disconnect`)
and handle client messages with :func:`handles`; none of these need ``super()``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from livepush import presence
from livepush._admission import admission
from livepush._db import close_old_connections
from livepush._expiry import TokenExpiry
from livepush._fanout import Fanout, get_fanout
from livepush._frames import FrameError, decode_frame
from livepush._handlers import call_handler, collect_handlers, handles
from livepush._limits import RATE_LIMITED_DETAIL, TokenBucket, Verdict, connection_slots
from livepush._listen import listen, resilient_receive
from livepush._resume import resume
from livepush._sender import Sender
from livepush._shutdown import register_connection, unregister_connection
from livepush._stats import stats
from livepush.auth import AuthError, Refusal, refusal
from livepush.conf import livepush_settings
from livepush.heartbeat import Heartbeat
from livepush.presence import snapshot
from livepush.protocol import (
    SUBPROTOCOL,
    CloseCode,
    ErrorCode,
    ProtocolType,
    error_frame,
)

if TYPE_CHECKING:
    from livepush._types import Message

__all__ = ["LivePushConsumer", "handles"]

logger = logging.getLogger("livepush.consumers")


class LivePushConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Authenticated push consumer with heartbeat and registry-based dispatch.

    Connect: refuses with ``4001`` unless ``scope["user"]`` is an authenticated user (put there
    by :class:`~livepush.auth.JWTAuthMiddleware`), joins ``user_{id}``, ``broadcast`` and
    :meth:`get_groups`, accepts, starts the heartbeat and calls :meth:`connect`. Any error during
    connect closes with ``4000``. Refusals accept first, so browsers see the close code.
    """

    #: Client message type name -> handler method name, collected from :func:`handles`.
    livepush_handlers: ClassVar[dict[str, str]] = {}
    #: Seconds between ``PING`` frames; ``None`` reads ``LIVEPUSH["HEARTBEAT_INTERVAL"]``.
    heartbeat_interval: ClassVar[float | None] = None
    #: Seconds to wait for the ``PONG``; ``None`` reads ``LIVEPUSH["HEARTBEAT_TIMEOUT"]``.
    heartbeat_timeout: ClassVar[float | None] = None
    #: Also receive Channels messages sent to the connection's own channel (``channel_name``,
    #: for ``channel_layer.group_add(group, self.channel_name)`` and handler methods). Off:
    #: pushes reach connections through their groups and the process's fan-out.
    channel_messages: ClassVar[bool] = False

    user: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.livepush_handlers = collect_handlers(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joined_groups: list[str] = []
        self._accepted = False
        #: Puts pushes on the socket (order, holding, slow clients); made from the ASGI ``send``.
        self.sender: Sender
        self.heartbeat = Heartbeat(
            self._send_text,
            self._close_with,
            interval=self.heartbeat_interval,
            timeout=self.heartbeat_timeout,
        )
        self._fanout: Fanout | None = None
        self._presence: presence.Tracker | None = None
        # Token lifetime (issue 9): closes with 4003 when the token expires, unless refreshed.
        self._token_expiry = TokenExpiry(self._close_with)
        # Limits (livepush._limits): the inbound rate, and the user this connection is counted
        # for in connection_slots (None while not counted).
        self._inbound = TokenBucket.from_settings()
        self._counted_user: Any = None

    @property
    def channel_layer_alias(self) -> str:
        return str(livepush_settings.CHANNEL_LAYER)

    # Hooks for subclasses -------------------------------------------------------------------

    async def get_groups(self) -> list[str]:
        """Return extra groups to join on connect (after authentication)."""
        return []

    async def connect(self) -> None:
        """Called after the connection is accepted and the groups are joined."""

    async def get_visible_online_user_ids(self, online: list[Any]) -> list[Any]:
        """Filter the ``PRESENCE_SNAPSHOT`` this connection gets; all online users by default."""
        return online

    async def disconnect(self, code: int) -> None:
        """Called when an authenticated connection closed, after its groups were left.

        Also called when :meth:`get_groups` or :meth:`connect` raised and the connection was
        closed with 4000.
        """

    # Protocol handlers ----------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels' AsyncConsumer.__call__, but the connection's own channel is listened to only
        # with channel_messages (see livepush._listen).
        self.scope = scope
        self.base_send = send
        self.sender = Sender(
            send,
            max_frames=livepush_settings.MAX_BACKLOG_FRAMES,
            max_bytes=livepush_settings.MAX_BACKLOG_BYTES,
            on_overflow=self._backlog_overflow,
        )
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        channel_receive = None
        try:
            if self.channel_messages and self.channel_layer is not None:
                self.channel_name = await self.channel_layer.new_channel()
                channel_receive = resilient_receive(self.channel_layer, self.channel_name)
            else:
                # Unique across processes: presence counts connections by it.
                self.channel_name = f"livepush.{uuid.uuid4().hex}"
            await listen(receive, self.dispatch, channel_receive)
        except StopConsumer:
            pass
        finally:
            # The one place a connection's tasks end, however it ended: none outlives it.
            self.sender.close()
            if self._counted_user is not None:
                connection_slots.release(self._counted_user)
                self._counted_user = None
            await self.heartbeat.aclose()
            await self._token_expiry.aclose()
            unregister_connection(self)  # last: graceful shutdown waits for it

    async def dispatch(self, message: Message) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        if message["type"] == "websocket.connect":
            async with admission():  # first come, first accepted (livepush._admission)
                await close_old_connections()
                await handler(message)
            return
        # As Channels does before every handled message, but one run for all the connections
        # waiting at once (a connect storm queues no hop per connection in the database thread).
        await close_old_connections()
        await handler(message)

    def livepush_deliver(self, text: str) -> None:
        """Send a pre-encoded push frame to this connection, after the ones before it.

        Called by the process's fan-out for each push to a group this connection is in, sent by
        its :class:`~livepush._sender.Sender` without blocking; override it to filter or alter
        pushes per connection, calling ``super()`` to send.
        """
        self.sender.deliver(text)

    def livepush_deliver_at(self, text: str, stream: str, offset: int, epoch: str) -> None:
        """A positioned push (recovery): to :meth:`livepush_deliver` unless a duplicate."""
        self.sender.deliver_at(text, stream, offset, epoch)

    async def websocket_connect(self, message: Message) -> None:
        try:
            if "user" not in self.scope:
                logger.error(  # livepush.E042 reports it at `manage.py check`
                    "%s got no scope['user']: wrap the WebSocket route in "
                    "livepush.auth.JWTAuthMiddlewareStack (README, asgi.py).",
                    type(self).__qualname__,
                )
                await self._refuse(CloseCode.SERVER_ERROR)
                return
            if self.scope.get("livepush_auth_error") == AuthError.SERVER_ERROR:
                await self._refuse(CloseCode.SERVER_ERROR)
                return
            user = self.scope["user"]
            if user is None or not user.is_authenticated:
                await self._refuse(CloseCode.UNAUTHENTICATED, refusal(self.scope))
                return
            if self.channel_layer is None:
                logger.error("No channel layer %r: set CHANNEL_LAYERS.", self.channel_layer_alias)
                await self._refuse(CloseCode.SERVER_ERROR)
                return
            if not connection_slots.take(user.pk):
                await self._refuse(CloseCode.TOO_MANY_CONNECTIONS)
                return
            self._counted_user = user.pk
            self.user = user
            groups = [
                livepush_settings.user_group(user.pk),
                livepush_settings.broadcast_group,
                *await self.get_groups(),
            ]
            self.joined_groups = list(dict.fromkeys(groups))
            track_presence = bool(livepush_settings.PRESENCE)
            recovery = bool(livepush_settings.RECOVERY)
            if track_presence or recovery:
                # The presence snapshot and the replay go first; pushes wait for them.
                self.sender.hold()
            self._fanout = get_fanout(self.channel_layer)
            member = self._member()
            await asyncio.gather(*(self._fanout.join(g, member) for g in self.joined_groups))
            await self._accept()
            # SIGTERM closes it with 1012/4012 from now on (livepush._shutdown).
            register_connection(self)
            self.heartbeat.start()
            # Token lifetime (issue 9): scope["livepush_token_exp"] is set by the JWT middleware.
            self._token_expiry.start(self.scope.get("livepush_token_exp"))
            if track_presence or recovery:
                try:
                    if track_presence:
                        await self._presence_connect(user)
                    if recovery:  # livepush._resume
                        await resume(self.scope, self.joined_groups, self._send_text, self.sender)
                finally:
                    self.sender.release()
            await self.connect()
        except Exception:
            logger.exception("Error while connecting a WebSocket; closing with 4000")
            await self._refuse(CloseCode.SERVER_ERROR)

    async def websocket_receive(self, message: Message) -> None:
        if self.user is None:
            # A refused connection is accepted only to be closed; frames a client sends before
            # the close lands reach no handler.
            return
        if self._inbound is not None:
            verdict = self._inbound.take()
            if verdict is not Verdict.PASS:
                await self._over_rate(verdict)
                return
        frame = decode_frame(message, livepush_settings.max_message_size)
        if isinstance(frame, CloseCode):
            await self.close(code=int(frame))
        elif isinstance(frame, FrameError):
            await self.send_error(frame.code, frame.detail)
        else:
            await self.receive_frame(frame)

    async def receive_frame(self, content: dict[str, Any]) -> None:
        """Dispatch a decoded client frame through the registry to its handler."""
        type_name: str = content["type"]
        if await self.heartbeat.receive(type_name):
            return
        if type_name == ProtocolType.REFRESH_TOKEN:  # token lifetime (issue 9)
            reply = await self._token_expiry.refresh(content.get("data"), self.user, self.scope)
            if reply is not None:
                await self.send(text_data=reply)
            return
        await call_handler(self, content)

    async def websocket_disconnect(self, message: Message) -> None:
        if self._presence is not None:
            tracker, self._presence = self._presence, None
            try:
                await tracker.disconnect(self.user, self.channel_name)
            except Exception as exc:
                logger.warning("Presence could not record a disconnect: %r", exc)
        fanout, self._fanout = self._fanout, None
        if fanout is not None and self.joined_groups:
            results = await asyncio.gather(
                *(fanout.leave(g, self._member()) for g in self.joined_groups),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    # Group membership expires in the channel layer anyway (group_expiry).
                    logger.warning("Could not leave a group on disconnect: %r", result)
        if self.user is not None:
            try:
                await self.disconnect(message.get("code", CloseCode.NORMAL))
            except Exception:
                logger.exception("%s.disconnect() failed", type(self).__qualname__)
        raise StopConsumer()

    # Limits (livepush._limits, and the sender's backlog bound) -------------------------------

    async def _over_rate(self, verdict: Verdict) -> None:
        if verdict is Verdict.REFUSE:
            await self.send_error(ErrorCode.RATE_LIMITED, RATE_LIMITED_DETAIL)
        elif verdict is Verdict.CLOSE:
            logger.warning(
                "Closing the connection of user %r with 4008: it kept sending over INBOUND_RATE",
                getattr(self.user, "pk", None),
            )
            await self.close(code=int(CloseCode.RATE_LIMITED))

    async def _backlog_overflow(self) -> None:
        # Called by the sender, which has dropped the backlog already.
        logger.warning(
            "Closing the connection of user %r with 4010: it is not reading its pushes and its "
            "backlog passed MAX_BACKLOG_FRAMES or MAX_BACKLOG_BYTES",
            getattr(self.user, "pk", None),
        )
        await self.close(code=int(CloseCode.BACKLOG_OVERFLOW))

    # Helpers --------------------------------------------------------------------------------

    async def _presence_connect(self, user: Any) -> None:
        tracker = presence.get_tracker()
        try:
            await tracker.connect(user, self.channel_name)
            self._presence = tracker
            online = await snapshot.online_user_ids()  # shared by the connects asking together
            if type(self).get_visible_online_user_ids is not _DEFAULT_VISIBLE:
                online = await self.get_visible_online_user_ids(list(online))
        except Exception as exc:
            # Presence is best effort: the connection works without it.
            logger.warning("Presence could not record a connection: %r", exc)
            return
        await self.send(text_data=snapshot.encode(online))

    async def send_error(self, code: ErrorCode, detail: str) -> None:
        """Send an ``ERROR`` frame; the connection stays open."""
        await self.send(text_data=error_frame(code, detail))

    def _subprotocol(self) -> str | None:
        return SUBPROTOCOL if SUBPROTOCOL in (self.scope.get("subprotocols") or ()) else None

    def _member(self) -> Any:
        # What the fan-out hands pushes to: the sender itself, one call less per delivery,
        # unless a subclass overrides livepush_deliver to filter or alter them.
        overridden = type(self).livepush_deliver is not LivePushConsumer.livepush_deliver
        if overridden:
            # Positioned pushes (recovery) pass the sender's duplicate check first.
            self.sender.hook = self.livepush_deliver
        return self if overridden else self.sender

    async def _accept(self) -> None:
        if not self._accepted:
            self._accepted = True
            await self.accept(self._subprotocol())

    async def _refuse(self, code: CloseCode, why: Refusal | None = None) -> None:
        stats.refusals[int(code)] += 1
        # Accepted first: a close before accept is an HTTP 403, 1006 with no code in browsers.
        # No heartbeat; the reason also goes in an ERROR frame (daphne drops a close's reason).
        await self._accept()
        if why is not None:
            await self.send(text_data=why.frame)
        await self.close(code=int(code), reason=why.reason if why else None)

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _close_with(self, code: int) -> None:
        await self.close(code=code)


_DEFAULT_VISIBLE = LivePushConsumer.get_visible_online_user_ids
