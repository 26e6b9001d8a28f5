"""Reads of contacts."""

from __future__ import annotations

from django.db.models import Q

from contacts.models import Contact
from portal.tenancy import TenantQuerySet


def contact_search(queryset: TenantQuerySet[Contact], q: str) -> TenantQuerySet[Contact]:
    """Case-insensitive match on name, email or company."""
    q = q.strip()
    if not q:
        return queryset
    return queryset.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(company__icontains=q))
