"""Browser-session middleware, for the pages people sign in to and not for the token API.

Sessions, CSRF, Django's authentication and messages serve the admin and the ops console. The
API (`/v1/…`) and `/metrics` authenticate every request by its bearer token and never read a
session, a CSRF cookie or a message, so running those four on each of their requests is work
for nothing (about a tenth of an anonymous health check). This one middleware runs them, in
Django's order and with every hook Django would call (CSRF's check lives in `process_view`),
around every request that is not the API's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

from portal.http.routes import is_token_api


class StaffPagesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        handler: Any = get_response
        self._view_hooks: list[Callable[..., HttpResponseBase | None]] = []
        for path in reversed(settings.STAFF_MIDDLEWARE):
            handler = import_string(path)(handler)
            if hasattr(handler, "process_view"):
                self._view_hooks.insert(0, handler.process_view)
        self.staff = handler

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if is_token_api(request):
            return self.get_response(request)
        return self.staff(request)  # type: ignore[no-any-return]

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        if is_token_api(request):
            return None
        for hook in self._view_hooks:
            response = hook(request, view, args, kwargs)
            if response is not None:
                return response
        return None


# What the admin's own checks (admin.E408-E410) and Django's CSRF check (security.W003)
# require, checked where this project puts it: they look only at MIDDLEWARE and are silenced
# in settings.
ADMIN_NEEDS = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
)


def check_staff_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if f"{__name__}.StaffPagesMiddleware" not in settings.MIDDLEWARE:
        return []  # settings that do not use it (the benchmark's peers)
    staff = list(getattr(settings, "STAFF_MIDDLEWARE", []))
    missing = [path for path in ADMIN_NEEDS if path not in staff]
    if missing:
        return [
            Error(
                f"STAFF_MIDDLEWARE lacks {', '.join(missing)}, which the admin needs.",
                id="portal.E001",
            )
        ]
    if staff.index(ADMIN_NEEDS[0]) > staff.index(ADMIN_NEEDS[1]):
        return [
            Error("STAFF_MIDDLEWARE must run sessions before authentication.", id="portal.E002")
        ]
    return []


def check_staff_csrf_cookie(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Django's security.W016, which looks for CSRF's middleware only in MIDDLEWARE."""
    csrf = "django.middleware.csrf.CsrfViewMiddleware"
    if csrf not in getattr(settings, "STAFF_MIDDLEWARE", []):
        return []
    if settings.CSRF_USE_SESSIONS or settings.CSRF_COOKIE_SECURE:
        return []
    return [
        Warning(
            "CSRF's middleware runs for the staff pages, but CSRF_COOKIE_SECURE is not True.",
            id="portal.W001",
        )
    ]
