"""Writes of contacts."""

from __future__ import annotations

from django.db import transaction
from django.db.models import ProtectedError

from contacts.models import Contact
from portal.errors import DomainError, NotFoundError
from portal.models import Tenant


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


EDITABLE_FIELDS = ("name", "email", "phone", "company")


@transaction.atomic
def contact_update(*, contact: Contact, data: dict[str, str | None]) -> Contact:
    """Changes only the fields in `data`, on the row as it is now (locked), so two concurrent
    updates of different fields both survive."""
    locked = Contact.objects.select_for_update().filter(pk=contact.pk).first()
    if locked is None:  # deleted since the view read it
        raise NotFoundError("Contact not found")
    changed = [field for field in EDITABLE_FIELDS if field in data]
    for field in changed:
        setattr(locked, field, data[field] or "")
    locked.full_clean()
    locked.save(update_fields=[*changed, "updated_at"])
    return locked


@transaction.atomic
def contact_delete(*, contact: Contact) -> None:
    """Refuses to delete a contact that still has jobs: nothing is removed by surprise. The
    row is locked first, so a job being created for it meanwhile is either seen or waits."""
    if not Contact.objects.select_for_update().filter(pk=contact.pk).exists():
        return
    try:
        contact.delete()
    except ProtectedError as exc:
        count = len(exc.protected_objects)
        raise DomainError(
            "CONFLICT",
            f"Contact has {count} job(s); delete them or move them to another contact first",
        ) from None
