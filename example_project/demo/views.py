"""The demo's two views: the live page, and a form that pushes a notification."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from livepush import WebSocketMessageType, send_ws_message_to_all, send_ws_message_to_user

from .wire import stamp


@login_required
def index(request: HttpRequest) -> HttpResponse:
    others = get_user_model().objects.exclude(pk=request.user.pk).order_by("username")
    context = {
        "others": others,
        "albums": request.user.albums.all(),
        "lists": request.user.bucket_lists.all(),
    }
    return render(request, "demo/index.html", context)


@require_POST
@login_required
def notify(request: HttpRequest) -> HttpResponse:
    text = request.POST.get("text", "").strip()[:500] or "Hello!"
    payload = stamp({"text": text, "from": request.user.get_username()})
    to = request.POST.get("to", "")
    if to:
        send_ws_message_to_user(int(to), WebSocketMessageType.SYSTEM_NOTIFICATION, payload)
    else:
        send_ws_message_to_all(WebSocketMessageType.SYSTEM_NOTIFICATION, payload)
    return redirect("index") if not request.headers.get("x-fetch") else HttpResponse(status=204)
