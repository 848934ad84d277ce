"""Exceptions raised by django-livepush.

Configuration errors subclass Django's ``ImproperlyConfigured``; errors caused by bad input also
subclass ``ValueError`` or ``TypeError`` so callers can catch them the usual way.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "DuplicateMessageType",
    "LivePushConfigurationError",
    "LivePushError",
    "PayloadError",
    "PushError",
    "SettingImportError",
    "UnknownMessageType",
]


class LivePushError(Exception):
    """Base class of every exception django-livepush raises."""


class LivePushConfigurationError(LivePushError, ImproperlyConfigured):
    """A ``LIVEPUSH`` setting (or a registration) is wrong; the message names the fix."""


class SettingImportError(LivePushConfigurationError):
    """A dotted-path ``LIVEPUSH`` setting does not import; the ``ImportError`` is ``__cause__``."""


class DuplicateMessageType(LivePushConfigurationError):
    """Two enums (or an enum and the protocol) register the same message type name."""


class UnknownMessageType(LivePushError, KeyError, ValueError):
    """A message type name that the registry does not know.

    The message names the closest registered types, so a typo says what was meant.
    """

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes.
        return str(self.args[0]) if self.args else ""


class PayloadError(LivePushError, TypeError):
    """A push payload that cannot be sent: not JSON-serialisable or not matching its schema."""


class PushError(LivePushError):
    """The channel layer refused or failed a push (Redis unreachable, channel full, ...).

    The original exception is chained as ``__cause__``.
    """
