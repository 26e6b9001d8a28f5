from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Tenants and API tokens"

    def ready(self) -> None:
        # Here, once every model is loaded: list totals are retired by any tenant-owned write.
        from portal import list_totals
        from portal.tenancy import TenantOwnedModel

        list_totals.watch(TenantOwnedModel)
