from __future__ import annotations

from demo.saved import saved
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from livepush.live import payload

from .models import Album, Photo


def _album_for(request: HttpRequest, pk: int) -> Album:
    album = get_object_or_404(Album, pk=pk)
    if not album.members.filter(pk=request.user.pk).exists():
        raise Http404("Not an album of yours")
    return album


@login_required
def album_detail(request: HttpRequest, pk: int) -> HttpResponse:
    album = _album_for(request, pk)
    return render(request, "albums/album.html", {"album": album, "photos": album.photos.all()})


@login_required
def album_photos(request: HttpRequest, pk: int) -> JsonResponse:
    """The album's photos as the pushes carry them: what the page's live collection loads."""
    album = _album_for(request, pk)
    photos = album.photos.select_related("uploaded_by").order_by("pk")
    return JsonResponse({"photos": [payload(photo) for photo in photos]})


@require_POST
@login_required
def upload(request: HttpRequest, pk: int) -> HttpResponse:
    album = _album_for(request, pk)
    image = request.FILES.get("image")
    if image is not None:
        title = request.POST.get("title", "").strip()[:100] or image.name
        Photo.objects.create(album=album, title=title, image=image, uploaded_by=request.user)
    return saved(request, "album", album.pk)


@require_POST
@login_required
def edit_photo(request: HttpRequest, pk: int) -> HttpResponse:
    photo = get_object_or_404(Photo, pk=pk)
    _album_for(request, photo.album_id)
    if request.POST.get("delete"):
        photo.delete()
    else:
        photo.title = request.POST.get("title", photo.title).strip()[:100] or photo.title
        photo.save()
    return saved(request, "album", photo.album_id)
