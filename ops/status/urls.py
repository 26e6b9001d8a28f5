"""The public status page, mounted at the site's root."""

from __future__ import annotations

from django.urls import path

from ops.status.views import status_feed, status_page

urlpatterns = [
    path("status", status_page, name="status"),
    path("status.json", status_feed, name="status-feed"),
]
