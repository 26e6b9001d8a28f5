"""A tenant's contacts (the people and companies jobs are done for)."""

from __future__ import annotations

import uuid

from django.db import models

from portal.tenancy.scoping import TenantOwnedModel, TenantQuerySet

CONTACT_ID_PATTERN = (
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)


class Contact(TenantOwnedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    company = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet["Contact"].as_manager()

    class Meta:
        indexes = [
            # The list endpoint's default order within a tenant.
            models.Index(fields=["tenant", "-created_at", "-id"], name="contact_tenant_created"),
            models.Index(fields=["tenant", "name", "id"], name="contact_tenant_name"),
        ]

    def __str__(self) -> str:
        return self.name
