from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Tenants and API tokens"

    def ready(self) -> None:
        # Here, once every model is loaded: list totals are retired by any tenant-owned write.
        from django.core import checks
        from django.db.models.signals import post_delete, post_save

        from portal.http import totals as list_totals
        from portal.http.staff import check_staff_csrf_cookie, check_staff_middleware
        from portal.models import ApiToken, Tenant
        from portal.tenancy.scoping import TenantOwnedModel
        from portal.tenancy.tokens import auth_changed

        checks.register(check_staff_middleware)
        checks.register(check_staff_csrf_cookie, checks.Tags.security, deploy=True)
        list_totals.watch(TenantOwnedModel)
        # Any saved or deleted token or tenant retires every worker's cached tokens.
        for model in (ApiToken, Tenant):
            for signal in (post_save, post_delete):
                signal.connect(
                    lambda **kwargs: auth_changed(),
                    sender=model,
                    weak=False,
                    dispatch_uid=f"auth:{signal}:{model.__name__}",
                )
