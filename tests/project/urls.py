from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("livepush/", include("livepush.urls"))]
