"""The send time the demo's pushes carry, for the wire panel of every page to show their latency.

The library adds nothing to what an application pushes, so the demo stamps its own payloads with
``"sent_at"`` (``time.time()``, seconds). A live collection tells items apart by key and
version, so a fetched list whose ``sent_at`` differs from a push's compares as before.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

M = TypeVar("M")


def stamp(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with ``"sent_at"``: now, in seconds since the epoch."""
    return {**payload, "sent_at": time.time()}


def stamped(serializer: Callable[[M], dict[str, Any]]) -> Callable[[M], dict[str, Any]]:
    """Decorate a ``live_model()`` serializer: its payloads carry ``"sent_at"``.

    ``live_model()`` serializes as it pushes, right after the save (outside a transaction, as in
    the demo's views), so the stamp is the moment the push leaves.
    """

    @functools.wraps(serializer)
    def serialize(instance: M) -> dict[str, Any]:
        return stamp(serializer(instance))

    return serialize
