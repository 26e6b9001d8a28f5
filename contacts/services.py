"""Writes of contacts."""

from __future__ import annotations

from django.db import transaction
from django.db.models import ProtectedError

from contacts.models import Contact
from portal.models import Tenant
from portal.problems import Problem


@transaction.atomic
def contact_create(
    *,
    tenant: Tenant,
    name: str,
    email: str | None = "",
    phone: str | None = "",
    company: str | None = "",
) -> Contact:
    contact = Contact(
        tenant=tenant, name=name, email=email or "", phone=phone or "", company=company or ""
    )
    contact.full_clean()
    contact.save()
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, data: dict[str, str | None]) -> Contact:
    for field in ("name", "email", "phone", "company"):
        if field in data:
            setattr(contact, field, data[field] or "")
    contact.full_clean()
    contact.save()
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact) -> None:
    """Refuses to delete a contact that still has jobs: nothing is removed by surprise."""
    try:
        contact.delete()
    except ProtectedError as exc:
        count = len(exc.protected_objects)
        raise Problem(
            "CONFLICT",
            f"Contact has {count} job(s); delete them or move them to another contact first",
        ) from None
