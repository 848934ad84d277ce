"""The pytest plugin django-livepush installs (entry point ``pytest11``): ``livepush_pushes``.

Loaded by every pytest run where django-livepush is installed, Django project or not, so it reads
no Django setting and imports no more than ``livepush`` itself does until a test asks for the
fixture. Off with ``-p no:livepush``; with
``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, turn it on with ``-p livepush.testing.pytest_plugin``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from livepush.testing.capture import PushCapture

__all__ = ["livepush_pushes"]


@pytest.fixture
def livepush_pushes() -> Iterator[PushCapture]:
    """The pushes the test sends (``livepush.testing.capture_pushes()``, delivered as usual).

    Presence is reset (``livepush.testing.reset_presence()``) before and after the test.
    """
    from livepush.testing.capture import capture_pushes
    from livepush.testing.presence import reset_presence

    reset_presence()
    try:
        with capture_pushes() as pushes:
            yield pushes
    finally:
        reset_presence()
