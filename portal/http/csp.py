"""Content-Security-Policy for the pages people open in a browser: the API docs and the admin.

The API's JSON answers set their own (`default-src 'none'`), and the staff console sets its own;
this middleware only fills in a policy where a response has none. Both pages here load scripts
and styles from this origin only: the docs page uses drf-spectacular's split Swagger view,
whose start-up script is a separate file, so no inline script is needed.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

# Swagger UI and the admin set inline `style` attributes; scripts stay strictly 'self'.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
PREFIXES = ("/v1/docs", "/admin/")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.path.startswith(PREFIXES):
            response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        return response
