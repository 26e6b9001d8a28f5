"""The public status page and its JSON feed: no login, no tenant data, cached briefly."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control

from ops.console import CSP
from ops.status import selectors


def _public(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=10)
    response["Content-Security-Policy"] = CSP
    return response


def status_page(request: HttpRequest) -> HttpResponse:
    overview = selectors.status_overview()
    return _public(render(request, "status/status.html", {"overview": overview}))


def status_feed(request: HttpRequest) -> HttpResponse:
    return _public(JsonResponse(selectors.status_json(selectors.status_overview())))
