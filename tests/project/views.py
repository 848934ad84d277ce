"""Views of the test project for the browser tests: a list whose first fetch the test holds open.

``GET /held-list/`` answers only once ``POST /held-list/release/`` was called, with the list
the release names. Both are async views, so they run on the server's event loop (sync views share
one thread, and a held one would block the release).
"""

from __future__ import annotations

import asyncio
import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

_released: asyncio.Event | None = None
_items: list[object] = []


def _event() -> asyncio.Event:
    global _released
    if _released is None:
        _released = asyncio.Event()
    return _released


async def held_list(request: HttpRequest) -> HttpResponse:
    await _event().wait()
    return JsonResponse({"items": _items})


@csrf_exempt
async def release(request: HttpRequest) -> HttpResponse:
    global _items
    _items = json.loads(request.body or b"[]")
    _event().set()
    return JsonResponse({"released": True})
