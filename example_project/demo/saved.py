"""The answer to a save, for both list pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def saved(request: HttpRequest, page: str, pk: int) -> HttpResponse:
    """204 to the page's fetch(): the change shows when its push comes back, as on every other
    member's page. A form posted without JavaScript is sent back to the page."""
    if "application/json" in request.headers.get("Accept", ""):
        return HttpResponse(status=204)
    return redirect(page, pk=pk)
