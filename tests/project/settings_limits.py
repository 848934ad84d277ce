"""The test project with LIVEPUSH limits from LIVEPUSH_TEST_LIMITS (a JSON object of keys)."""

from __future__ import annotations

import json
import os

from .settings import *  # noqa: F403
from .settings import LIVEPUSH

LIVEPUSH = {**LIVEPUSH, **json.loads(os.environ.get("LIVEPUSH_TEST_LIMITS", "{}"))}
