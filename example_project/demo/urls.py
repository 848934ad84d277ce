from albums import views as albums
from bucketlist import views as bucketlist
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from livepush.views import websocket_endpoint

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("notify/", views.notify, name="notify"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("livepush/", include("livepush.urls")),
    path("ws/", websocket_endpoint),  # a plain HTTP GET /ws/ says what it is (400)
    path("albums/<int:pk>/", albums.album_detail, name="album"),
    path("albums/<int:pk>/photos.json", albums.album_photos, name="album_photos"),
    path("albums/<int:pk>/upload/", albums.upload, name="upload"),
    path("photos/<int:pk>/", albums.edit_photo, name="edit_photo"),
    path("lists/<int:pk>/", bucketlist.list_detail, name="bucketlist"),
    path("lists/<int:pk>/points.json", bucketlist.list_points, name="list_points"),
    path("lists/<int:pk>/add/", bucketlist.add_point, name="add_point"),
    path("points/<int:pk>/", bucketlist.edit_point, name="edit_point"),
    path("admin/", admin.site.urls),
    *static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT),
]
