"""Writes of jobs, including status transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from contacts.models import Contact
from jobs.models import INITIAL_STATUSES, TRANSITIONS, Job, JobStatus
from portal.errors import DomainError, NotFoundError
from portal.models import Tenant


def job_check_transition(*, current: str, target: str) -> None:
    if target == current:
        return
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final status)"
        raise DomainError(
            "INVALID_STATUS_TRANSITION",
            f"A job cannot move from {current} to {target}; allowed: {allowed}",
        )


def _check_schedule(job: Job) -> None:
    # A rule about the job's state as a whole (the request may not even name scheduled_for):
    # a conflict with that state, like an illegal transition.
    if job.status == JobStatus.SCHEDULED and job.scheduled_for is None:
        message = "A job is scheduled only with a scheduled_for time"
        raise DomainError(
            "INVALID_STATUS_TRANSITION",
            message,
            errors=[{"field": "scheduled_for", "message": "Required when status is scheduled."}],
        )


@transaction.atomic
def job_create(
    *,
    tenant: Tenant,
    title: str,
    contact: Contact,
    status: str = JobStatus.PENDING,
    scheduled_for: datetime | None = None,
) -> Job:
    if status not in INITIAL_STATUSES:
        raise DomainError(
            "INVALID_STATUS_TRANSITION",
            f"A new job starts as {' or '.join(sorted(INITIAL_STATUSES))}, not {status}",
        )
    # The contact is locked until the job is saved, so a concurrent delete of the contact either
    # waits and then sees the job (409), or has happened already (404 here).
    if not Contact.objects.select_for_update().filter(pk=contact.pk, tenant=tenant).exists():
        raise NotFoundError("Contact not found")
    job = Job(
        tenant=tenant,
        title=title,
        contact=contact,
        status=status,
        scheduled_for=scheduled_for,
    )
    _check_schedule(job)
    job.full_clean()
    job.save()
    return job


@transaction.atomic
def job_update(*, job: Job, data: dict[str, Any]) -> Job:
    """Applies a partial update; the row is locked so concurrent transitions serialise."""
    locked = Job.objects.select_for_update().filter(pk=job.pk).first()
    if locked is None:  # deleted since the view read it
        raise NotFoundError("Job not found")
    job = locked
    contact = data.get("contact")
    if contact is not None and not (
        Contact.objects.select_for_update().filter(pk=contact.pk, tenant=job.tenant_id).exists()
    ):
        raise NotFoundError("Contact not found")
    if "status" in data:
        job_check_transition(current=job.status, target=data["status"])
    for field in ("title", "status", "contact", "scheduled_for"):
        if field in data:
            setattr(job, field, data[field])
    _check_schedule(job)
    job.full_clean()
    job.save()
    return job


@transaction.atomic
def job_delete(*, job: Job) -> None:
    # Locked first, so a file being added to it meanwhile either commits before (and goes with
    # the job) or finds it gone. The files app removes the stored bytes once this commits.
    if Job.objects.select_for_update().filter(pk=job.pk).exists():
        job.delete()
