"""Helpers for your project's tests: captured pushes, a communicator, presence reset.

- :func:`capture_pushes` records every push the library sends, as Django's ``mail.outbox``
  records mail, in a :class:`PushCapture` of :class:`CapturedPush` records with assertions;
  pushes that wait for a commit are recorded inside a test case's transaction too.
- :class:`LivePushCommunicator` is a Channels ``WebsocketCommunicator`` connected as a user.
- :func:`reset_presence` forgets this process's presence between tests.
- The pytest plugin (``livepush.testing.pytest_plugin``, installed as ``livepush``) provides the
  ``livepush_pushes`` fixture.

See ``docs/howto/testing.md``. Importing this module does not import ``channels.testing`` (and so
daphne) until :class:`LivePushCommunicator` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livepush.testing.capture import CapturedPush, PushCapture, capture_pushes
from livepush.testing.presence import reset_presence

if TYPE_CHECKING:
    from livepush.testing.communicator import DEFAULT_ORIGIN, LivePushCommunicator

__all__ = [
    "DEFAULT_ORIGIN",
    "CapturedPush",
    "LivePushCommunicator",
    "PushCapture",
    "capture_pushes",
    "reset_presence",
]


def __getattr__(name: str) -> Any:
    if name in ("DEFAULT_ORIGIN", "LivePushCommunicator"):
        from livepush.testing import communicator

        return getattr(communicator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
