from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("notify/", views.notify, name="notify"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("livepush/", include("livepush.urls")),
    path("admin/", admin.site.urls),
]
