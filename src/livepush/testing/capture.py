"""Pushes recorded in tests, as Django's ``mail.outbox`` records mail.

:func:`capture_pushes` records every push the library sends while it is active: the push helpers
and their async twins, ``live_model`` and ``push_change``. A push is recorded when it is sent, so
a sync push made inside ``transaction.atomic()`` is recorded after the commit, and not at all
when the transaction rolls back. Inside a test case's transaction, which never commits, such a
push is sent and recorded as soon as the code that made it has left its own atomic blocks without
a rollback (``livepush.testing.commits``), the next time the capture is read.

The capture hooks the one step every push goes through (``livepush._publish``'s taps); without an
active capture that costs one ``if`` per push.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from livepush import _publish
from livepush.conf import livepush_settings
from livepush.protocol import SERVER_ONLY_TYPES
from livepush.registry import TypeRef, get_registry
from livepush.testing.commits import commit_state

__all__ = ["CapturedPush", "PushCapture", "capture_pushes"]

logger = logging.getLogger("livepush.testing")

#: ``data`` not given: any payload matches.
_ANY: Any = object()


@dataclass(frozen=True)
class CapturedPush:
    """One push as it was sent.

    Attributes:
        type: the message type's name.
        data: the payload, decoded from the frame (what clients receive).
        groups: the audience as the library resolved it: user groups (``user_{id}``), the
            broadcast group (``broadcast``) and your own group names.
        text: the encoded frame.
    """

    type: str
    data: Any
    groups: tuple[str, ...]
    text: str

    def __str__(self) -> str:
        data = json.dumps(self.data, sort_keys=True, default=repr)
        return f"{self.type} to {', '.join(self.groups)}: {data}"


class PushCapture:
    """The pushes sent while a :func:`capture_pushes` block is active, in the order sent.

    ``len(capture)`` and iterating over it read :attr:`pushes`.
    """

    def __init__(self, *, deliver: bool = True, run_on_commit: bool = True) -> None:
        self.deliver = deliver
        self.run_on_commit = run_on_commit
        self._pushes: list[CapturedPush] = []
        # Sync pushes made while active that wait for a commit, oldest first.
        self._waiting: list[_publish.DeferredPush] = []
        # Only an active capture sends what waits: after it, a push may still roll back.
        self._active = False

    # As a tap of livepush._publish --------------------------------------------------------------

    def published(self, groups: Sequence[str], text: str) -> bool:
        """Record a push about to be sent; return whether to send it (``deliver``)."""
        frame = json.loads(text)
        if frame["type"] in SERVER_ONLY_TYPES:
            return True  # the library's own frames (PRESENCE_DIFF) are not pushes
        self._pushes.append(CapturedPush(frame["type"], frame.get("data"), tuple(groups), text))
        return self.deliver

    def deferred(self, push: _publish.DeferredPush) -> None:
        """Note a sync push that waits for a commit, to send it in a test case's transaction."""
        if self.run_on_commit:
            self._waiting.append(push)

    # Reading --------------------------------------------------------------------------------

    @property
    def pushes(self) -> list[CapturedPush]:
        """The pushes sent so far (a new list).

        While the capture is active, in sync code, this first sends the pushes waiting in a
        test case's transaction that count as committed (with ``run_on_commit``).
        """
        self._send_committed()
        return list(self._pushes)

    def __len__(self) -> int:
        return len(self.pushes)

    def __iter__(self) -> Iterator[CapturedPush]:
        return iter(self.pushes)

    def of_type(self, event_type: TypeRef) -> list[CapturedPush]:
        """The pushes of one message type (an enum member or a registered name).

        Raises:
            UnknownMessageType: ``event_type`` is not registered (a typo, say).
        """
        name = _type_name(event_type)
        return [push for push in self.pushes if push.type == name]

    def to_user(self, user: Any) -> list[CapturedPush]:
        """The pushes to ``user``'s group (a user or a primary key, a ``str`` one too)."""
        group = livepush_settings.user_group(getattr(user, "pk", user))
        return [push for push in self.pushes if group in push.groups]

    def to_group(self, group: str) -> list[CapturedPush]:
        """The pushes whose audience includes ``group`` (``"broadcast"`` for the push to all)."""
        return [push for push in self.pushes if group in push.groups]

    def clear(self) -> None:
        """Forget the pushes sent so far (the ones still waiting for a commit stay waiting)."""
        self._send_committed()
        self._pushes.clear()

    # Assertions -----------------------------------------------------------------------------

    def assert_pushed(
        self,
        event_type: TypeRef | None = None,
        *,
        to: Any = None,
        data: Any = _ANY,
        count: int | None = None,
    ) -> CapturedPush:
        """Assert that a push matching the arguments was sent; return the first that was.

        Args:
            event_type: the message type; ``None``: any.
            to: who must be in the audience: a group name (a ``str``), a user or a user id
                (anything else), or a list of them (each of them).
            data: the payload; for a dict, the keys given (each key must be in the payload,
                with an equal value; other keys may be there too).
            count: how many matching pushes must have been sent; ``None``: at least one.

        Raises:
            AssertionError: no such push (or not ``count`` of them); the message lists the
                pushes that were sent.
        """
        matching = self._matching(event_type, to, data)
        if matching and (count is None or len(matching) == count):
            return matching[0]
        wanted = "a push" if count is None else f"{count} push{'es' if count != 1 else ''}"
        found = "none was" if not matching else f"{len(matching)} were"
        raise AssertionError(
            f"Expected {wanted}{_describe(event_type, to, data)}, but {found} sent. "
            + self._report()
        )

    def assert_not_pushed(
        self, event_type: TypeRef | None = None, *, to: Any = None, data: Any = _ANY
    ) -> None:
        """Assert that no push matching the arguments was sent (no push at all, without any).

        Arguments as :meth:`assert_pushed`.

        Raises:
            AssertionError: one was; the message lists the pushes that were sent.
        """
        matching = self._matching(event_type, to, data)
        if matching:
            raise AssertionError(
                f"Expected no push{_describe(event_type, to, data)}, but {len(matching)} "
                f"{'was' if len(matching) == 1 else 'were'} sent. " + self._report()
            )

    def _matching(self, event_type: TypeRef | None, to: Any, data: Any) -> list[CapturedPush]:
        name = None if event_type is None else _type_name(event_type)
        groups = _target_groups(to)
        return [
            push
            for push in self.pushes
            if (name is None or push.type == name)
            and all(group in push.groups for group in groups)
            and _data_matches(push.data, data)
        ]

    def _report(self) -> str:
        pushes = self._pushes
        if pushes:
            lines = [f"Pushes sent ({len(pushes)}):", *(f"  {push}" for push in pushes)]
        else:
            lines = ["No push was sent."]
        if self._waiting:
            lines.append(f"{len(self._waiting)} more wait for their transaction's commit.")
        return "\n".join(lines)

    # Pushes waiting in a test case's transaction --------------------------------------------

    def _send_committed(self) -> None:
        if not (self._active and self._waiting):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            return  # async code cannot run the sync send; a read from sync code will
        waiting = []
        for push in self._waiting:
            state = commit_state(push)
            if state == "waiting":
                waiting.append(push)
            elif state == "committed":
                try:
                    push.send()
                except Exception:
                    # As Django's robust on_commit does with the same callback after a commit.
                    logger.exception("Could not send a push its transaction committed")
        self._waiting = waiting


@contextlib.contextmanager
def capture_pushes(*, deliver: bool = True, run_on_commit: bool = True) -> Iterator[PushCapture]:
    """Record the pushes sent inside the ``with`` block (sync and async code alike).

    Args:
        deliver: also send them, as usual (the default); with ``False`` they are only recorded,
            and no channel layer is needed.
        run_on_commit: inside a test case's transaction (Django's ``TestCase``, pytest-django's
            ``db``), which never commits, send a sync push that waits for the commit once the
            code that made it has left its own atomic blocks without a rollback (recorded at
            the next read of the capture, or when the block ends). With ``False`` such a push
            is recorded only if something runs its callback (Django's
            ``captureOnCommitCallbacks(execute=True)``).

    Yields:
        The :class:`PushCapture`.
    """
    capture = PushCapture(deliver=deliver, run_on_commit=run_on_commit)
    capture._active = True
    _publish.taps.append(capture)
    try:
        yield capture
        capture._send_committed()
    finally:
        capture._active = False
        _publish.taps.remove(capture)


def _type_name(event_type: TypeRef) -> str:
    return get_registry().resolve(event_type).name


def _target_groups(to: Any) -> list[str]:
    if to is None:
        return []
    targets: Iterable[Any] = to if isinstance(to, (list, tuple, set, frozenset)) else [to]
    return [
        t if isinstance(t, str) else livepush_settings.user_group(getattr(t, "pk", t))
        for t in targets
    ]


def _data_matches(actual: Any, expected: Any) -> bool:
    if expected is _ANY:
        return True
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(key in actual and actual[key] == value for key, value in expected.items())
    return bool(actual == expected)


def _describe(event_type: TypeRef | None, to: Any, data: Any) -> str:
    parts = []
    if event_type is not None:
        name = event_type.value if isinstance(event_type, enum.Enum) else event_type
        parts.append(f" of {name!r}")
    if to is not None:
        parts.append(f" to {', '.join(_target_groups(to))}")
    if data is not _ANY:
        parts.append(f" with data {'including ' if isinstance(data, dict) else ''}{data!r}")
    return "".join(parts)
