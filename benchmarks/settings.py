"""The benchmark's Django settings: the test project's, without DEBUG and its debug logging.

``DEBUG = False`` so that Django keeps no query log (it would grow the servers' memory per
authenticated connect), and the ``livepush`` logger at WARNING so that no debug line is formatted
on the measured paths.
"""

from __future__ import annotations

from tests.project.settings import *  # noqa: F403

DEBUG = False
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"livepush": {"handlers": ["console"], "level": "WARNING"}},
}
