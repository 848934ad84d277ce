"""HTTP views: the health check, and the answer to a plain HTTP request at the WebSocket path.

``livepush.urls`` serves :func:`health` at ``livepush/health/``; route
:func:`websocket_endpoint` at the WebSocket path yourself (``path("ws/", websocket_endpoint)``),
so that opening it in a browser or with ``curl`` says what it is instead of a 404.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from livepush.status import health as deployment_health

__all__ = ["health", "websocket_endpoint"]


@never_cache
@require_GET
async def health(request: HttpRequest) -> JsonResponse:
    """200 with ``{"status": "ok", ...}``, or 503 when the channel layer or presence failed.

    A real round trip through the channel layer (Redis, with channels-redis). Staff users see
    the errors; others, what a load balancer needs (see :func:`livepush.status.health`).
    """
    auser = getattr(request, "auser", None)  # AuthenticationMiddleware's, when installed
    user = await auser() if auser is not None else None
    report = await deployment_health(errors=bool(getattr(user, "is_staff", False)))
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


def websocket_endpoint(request: HttpRequest) -> HttpResponse:
    """400 with a one-line explanation: the path serves WebSocket connections only."""
    return HttpResponse(
        "400 Bad Request: this is a WebSocket endpoint (django-livepush); connect with a "
        "WebSocket client (new WebSocket('ws://host/ws/') or livepush.js).\n",
        status=400,
        content_type="text/plain; charset=utf-8",
    )
