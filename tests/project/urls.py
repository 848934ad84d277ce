from __future__ import annotations

from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    path("livepush/", include("livepush.urls")),
    # The page the browser tests load: livepush.js from static files, driven from the test.
    path("client/", TemplateView.as_view(template_name="client.html")),
]
