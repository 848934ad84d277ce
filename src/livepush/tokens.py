"""Short-lived access tokens for sites that log users in with sessions.

:func:`issue_access_token` signs a token the JWT middleware accepts; :func:`access_token_view`
returns one to the logged-in user, for the browser client to fetch before it connects.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from livepush.auth import ACCESS_TOKEN_TYPE, TOKEN_TYPE_CLAIM, allowed_algorithms
from livepush.conf import livepush_settings
from livepush.exceptions import LivePushConfigurationError

__all__ = ["access_token_view", "issue_access_token"]


def issue_access_token(
    user: Any, *, lifetime: float | dt.timedelta | None = None, **extra_claims: Any
) -> str:
    """Return a signed access token for ``user`` (a user instance or a primary key).

    Claims: the user-id claim, ``exp``, ``iat``, ``token_type: "access"``, ``aud`` and ``iss``
    when ``JWT_AUDIENCE``/``JWT_ISSUER`` are set, and ``extra_claims``. Signed with
    ``JWT_SIGNING_KEY`` (default ``SECRET_KEY``) and the first algorithm of ``JWT_ALGORITHMS``.

    Args:
        user: the user or its primary key.
        lifetime: seconds or a timedelta; default ``LIVEPUSH["ACCESS_TOKEN_LIFETIME"]``.
        **extra_claims: added to the payload.
    """
    algorithms = allowed_algorithms()
    if not algorithms:
        raise LivePushConfigurationError("LIVEPUSH['JWT_ALGORITHMS'] allows no algorithm.")
    if lifetime is None:
        lifetime = livepush_settings.ACCESS_TOKEN_LIFETIME
    if not isinstance(lifetime, dt.timedelta):
        lifetime = dt.timedelta(seconds=float(lifetime))
    now = dt.datetime.now(tz=dt.timezone.utc)
    user_id = getattr(user, "pk", user)
    claim = livepush_settings.JWT_USER_ID_CLAIM
    # Integer ids stay integers, as djangorestframework-simplejwt writes them, except in "sub",
    # which RFC 7519 (and PyJWT) want as a string.
    if not isinstance(user_id, int) or claim == "sub":
        user_id = str(user_id)
    claims: dict[str, Any] = {
        claim: user_id,
        "iat": now,
        "exp": now + lifetime,
        TOKEN_TYPE_CLAIM: ACCESS_TOKEN_TYPE,
    }
    audience = livepush_settings.JWT_AUDIENCE
    if audience is not None:
        claims["aud"] = audience
    if livepush_settings.JWT_ISSUER is not None:
        claims["iss"] = livepush_settings.JWT_ISSUER
    claims.update(extra_claims)
    return jwt.encode(claims, livepush_settings.signing_key, algorithm=algorithms[0])


@never_cache
@require_GET
def access_token_view(request: HttpRequest) -> JsonResponse:
    """Return ``{"token": ..., "expires_in": seconds}`` to a logged-in user, 401 otherwise.

    ``expires_in`` is a whole number of seconds (``LIVEPUSH["ACCESS_TOKEN_LIFETIME"]``).
    """
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Authentication required."}, status=401)
    lifetime = livepush_settings.ACCESS_TOKEN_LIFETIME
    token = issue_access_token(request.user, lifetime=lifetime)
    return JsonResponse({"token": token, "expires_in": int(lifetime)})
