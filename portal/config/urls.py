"""Root URLs. API routes live under /v1/ and are written so a /v2/ can sit beside them."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal.http.admin_login import throttled_admin_login
from portal.http.health import HealthView
from portal.observability.metrics_view import metrics_endpoint


def landing(request: HttpRequest) -> HttpResponse:
    """`/`: where a newcomer lands: links to the docs, the schema, health, status and the
    staff pages."""
    return render(request, "landing.html", {"version": settings.APP_VERSION})


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    # Resolved per request: with the production storage it needs collectstatic's manifest.
    return HttpResponsePermanentRedirect(static("ops/favicon.svg"))


v1: list[URLPattern | URLResolver] = [
    path("health", HealthView.as_view(), name="health"),
    path("", include("contacts.urls")),
    path("", include("jobs.urls")),
    path("", include("files.urls")),
    path("schema", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script, so the
    # page keeps a strict Content-Security-Policy (portal.http.csp).
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="v1:schema"), name="docs"),
    # With a trailing slash (as people type them), the same pages.
    path("docs/", RedirectView.as_view(pattern_name="v1:docs", query_string=True, permanent=True)),
    path(
        "schema/", RedirectView.as_view(pattern_name="v1:schema", query_string=True, permanent=True)
    ),
]

urlpatterns = [
    path("", landing, name="landing"),
    path("v1/", include((v1, "v1"), namespace="v1")),
    path("admin/login/", throttled_admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("ops/", include("ops.urls")),
    path("", include("ops.status.urls")),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's login page).
    path("favicon.ico", favicon),
    path("metrics", metrics_endpoint, name="metrics"),
]

handler400 = "portal.http.problems.handler400"
handler403 = "portal.http.problems.handler403"
handler404 = "portal.http.problems.handler404"
handler500 = "portal.http.problems.handler500"
