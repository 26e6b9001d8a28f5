"""The admin's sign-in page, throttled per client address and per username (django-ratelimit).

Only attempts (POST) are counted. Over the limit the page answers 429 with Retry-After, as an
HTML page like every other error a person sees (portal.http.problems).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import is_ratelimited

from portal.http.problems import rate_limited_page
from portal.resilience.ratelimit import client_address

WINDOW_SECONDS = 60


def _address(group: str, request: HttpRequest) -> str:
    return client_address(request)


def _username(group: str, request: HttpRequest) -> str:
    return (request.POST.get("username") or "").strip().lower()[:150]


def throttled_admin_login(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    if request.method == "POST":
        for key in (_address, _username):
            if is_ratelimited(
                request,
                group=f"admin-login:{key.__name__}",
                key=key,
                rate=settings.ADMIN_LOGIN_RATE,
                method="POST",
                increment=True,
            ):
                return rate_limited_page(
                    request,
                    "Too many sign-in attempts; wait a minute and try again",
                    retry_after=WINDOW_SECONDS,
                )
    response: HttpResponse = admin.site.login(request, **kwargs)
    return response
