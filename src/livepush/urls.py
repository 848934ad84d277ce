"""HTTP URLs: ``path("livepush/", include("livepush.urls"))`` serves ``livepush/token/`` (a
short-lived access token for the logged-in user) and ``livepush/health/`` (the health check)."""

from __future__ import annotations

from django.urls import path

from livepush.tokens import access_token_view
from livepush.views import health

app_name = "livepush"

urlpatterns = [
    path("token/", access_token_view, name="token"),
    path("health/", health, name="health"),
]
