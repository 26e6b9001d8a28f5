"""Writes of jobs, including status transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from rest_framework.exceptions import ValidationError

from contacts.models import Contact
from jobs.models import INITIAL_STATUSES, TRANSITIONS, Job, JobStatus
from portal.models import Tenant
from portal.problems import Problem


def job_check_transition(*, current: str, target: str) -> None:
    if target == current:
        return
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final status)"
        raise Problem(
            "INVALID_STATUS_TRANSITION",
            f"A job cannot move from {current} to {target}; allowed: {allowed}",
        )


def _check_schedule(job: Job) -> None:
    if job.status == JobStatus.SCHEDULED and job.scheduled_for is None:
        raise ValidationError({"scheduled_for": ["Required when status is scheduled."]})


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
        raise Problem(
            "INVALID_STATUS_TRANSITION",
            f"A new job starts as {' or '.join(sorted(INITIAL_STATUSES))}, not {status}",
        )
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
    job = Job.objects.select_for_update().get(pk=job.pk)
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
    # The files app removes the stored bytes of the job's files once this commits.
    job.delete()
