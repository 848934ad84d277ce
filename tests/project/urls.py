from __future__ import annotations

from django.urls import include, path
from django.views.generic import TemplateView

from livepush.views import websocket_endpoint

from . import views

urlpatterns = [
    path("livepush/", include("livepush.urls")),
    # A plain HTTP request to the WebSocket path says what it is (400), not a 404.
    path("ws/", websocket_endpoint),
    # The page the browser tests load: livepush.js from static files, driven from the test.
    path("client/", TemplateView.as_view(template_name="client.html")),
    # A live collection (livepush/collection.js) whose first fetch the test holds open.
    path("collection/", TemplateView.as_view(template_name="collection.html")),
    path("held-list/", views.held_list),
    path("held-list/release/", views.release),
]
