"""HTTP URLs: ``path("livepush/", include("livepush.urls"))`` serves ``livepush/token/``."""

from __future__ import annotations

from django.urls import path

from livepush.tokens import access_token_view

app_name = "livepush"

urlpatterns = [path("token/", access_token_view, name="token")]
