"""Template context for every page: user names, for the who-is-online list."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest


def people(request: HttpRequest) -> dict[str, Any]:
    if not request.user.is_authenticated:
        return {}
    names = dict(get_user_model().objects.values_list("pk", "username"))
    return {"people": {str(pk): name for pk, name in names.items()}}
