"""Decoding a client's WebSocket message into a frame, or saying what is wrong with it.

Pure and synchronous: no I/O, so the consumer's receive path and the tests share one reading of
"what is a valid client frame" (docs/reference/protocol.md, "Errors").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from livepush.protocol import CloseCode, ErrorCode

__all__ = ["FrameError", "decode_frame", "too_big"]


@dataclass(frozen=True)
class FrameError:
    """A message that gets an ``ERROR`` frame; the connection stays open."""

    code: ErrorCode
    detail: str


def too_big(data: str | bytes, limit: int) -> bool:
    """Whether ``data`` is over ``limit`` bytes (a ``str`` counted in UTF-8)."""
    if len(data) > limit:
        return True
    # A str of n characters is n to 4n bytes of UTF-8; only encode when it matters.
    return isinstance(data, str) and len(data) * 4 > limit and len(data.encode()) > limit


def decode_frame(message: Mapping[str, Any], limit: int) -> dict[str, Any] | FrameError | CloseCode:
    """Decode a ``websocket.receive`` message of at most ``limit`` bytes.

    Returns the frame (a dict with a string ``"type"``), a :class:`FrameError` to answer, or the
    close code to close with (:attr:`CloseCode.MESSAGE_TOO_BIG_APP`).
    """
    text = message.get("text")
    if text is None:
        if too_big(message.get("bytes") or b"", limit):
            return CloseCode.MESSAGE_TOO_BIG_APP
        return FrameError(
            ErrorCode.BINARY_NOT_SUPPORTED, "Binary frames are not supported; send JSON text."
        )
    if too_big(text, limit):
        return CloseCode.MESSAGE_TOO_BIG_APP
    try:
        content = json.loads(text)
    except ValueError as exc:
        return FrameError(ErrorCode.MALFORMED_JSON, f"Frame is not valid JSON: {exc}")
    except RecursionError:  # nested deeper than the decoder goes (found by test_limits.py)
        return FrameError(ErrorCode.MALFORMED_JSON, "Frame is nested too deeply.")
    if not isinstance(content, dict) or not isinstance(content.get("type"), str):
        return FrameError(
            ErrorCode.INVALID_FRAME,
            'A frame must be a JSON object with a string "type", like {"type": "PING"}.',
        )
    return content
