"""Writes of tenants and tokens (used by the admin and the management commands)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from portal.models import ApiToken, Tenant, hash_token


@transaction.atomic
def tenant_ensure(*, slug: str, name: str | None = None) -> tuple[Tenant, bool]:
    """Creates the tenant if it does not exist; returns (tenant, created). Idempotent."""
    tenant, created = Tenant.objects.get_or_create(
        slug=slug, defaults={"name": name or slug.replace("-", " ").title()}
    )
    if created:
        tenant.full_clean()
    elif name and tenant.name != name:
        tenant.name = name
        tenant.full_clean()
        tenant.save(update_fields=["name"])
    return tenant, created


@transaction.atomic
def token_create(
    *,
    tenant: Tenant,
    name: str,
    expires_in_days: int | None = None,
    rotate: bool = False,
) -> tuple[ApiToken, str]:
    """Creates a token and returns it with its raw value, which is never stored.

    With `rotate`, the tenant's other usable tokens of the same name are revoked.
    """
    now = timezone.now()
    if rotate:
        ApiToken.objects.usable(now).filter(tenant=tenant, name=name).update(revoked_at=now)
    raw, prefix = ApiToken.generate()
    token = ApiToken(
        tenant=tenant,
        name=name,
        prefix=prefix,
        key_hash=hash_token(raw),
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    token.full_clean()
    token.save()
    return token, raw


@transaction.atomic
def token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
