"""Query filters of /v1/contacts."""

from __future__ import annotations

import django_filters

from contacts.models import Contact
from contacts.selectors import contact_search
from portal.http.filters import StrictFilterSet
from portal.tenancy.scoping import TenantQuerySet


class ContactFilter(StrictFilterSet):
    q = django_filters.CharFilter(
        method="search",
        min_length=1,
        max_length=200,
        help_text="Search in name, email and company (leave it out to list everything).",
    )

    class Meta:
        model = Contact
        fields = ["q"]

    def search(
        self, queryset: TenantQuerySet[Contact], name: str, value: str
    ) -> TenantQuerySet[Contact]:
        return contact_search(queryset, value)
