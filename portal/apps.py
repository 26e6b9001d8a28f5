from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Tenants and API tokens"

    def ready(self) -> None:
        from portal import counts  # noqa: F401 - registers the receivers that retire totals
