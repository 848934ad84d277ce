from __future__ import annotations

from demo.saved import saved
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from livepush.live import payload

from .models import BucketList, BucketPoint


def _list_for(request: HttpRequest, pk: int) -> BucketList:
    bucket_list = get_object_or_404(BucketList, pk=pk)
    if not bucket_list.members.filter(pk=request.user.pk).exists():
        raise Http404("Not a list of yours")
    return bucket_list


@login_required
def list_detail(request: HttpRequest, pk: int) -> HttpResponse:
    bucket_list = _list_for(request, pk)
    return render(
        request, "bucketlist/list.html", {"list": bucket_list, "points": bucket_list.points.all()}
    )


@login_required
def list_points(request: HttpRequest, pk: int) -> JsonResponse:
    """The points as the pushes carry them: what the page's live collection loads."""
    bucket_list = _list_for(request, pk)
    return JsonResponse({"points": [payload(point) for point in bucket_list.points.all()]})


@require_POST
@login_required
def add_point(request: HttpRequest, pk: int) -> HttpResponse:
    bucket_list = _list_for(request, pk)
    title = request.POST.get("title", "").strip()[:200]
    if title:
        BucketPoint.objects.create(bucket_list=bucket_list, title=title)
    return saved(request, "bucketlist", bucket_list.pk)


@require_POST
@login_required
def edit_point(request: HttpRequest, pk: int) -> HttpResponse:
    point = get_object_or_404(BucketPoint, pk=pk)
    _list_for(request, point.bucket_list_id)
    if request.POST.get("delete"):
        point.delete()
    else:
        point.title = request.POST.get("title", point.title).strip()[:200] or point.title
        point.done = request.POST.get("done") == "on"
        point.save()
    return saved(request, "bucketlist", point.bucket_list_id)
