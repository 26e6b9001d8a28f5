"""Jobs: work done for a contact, with a status that moves through a fixed table."""

from __future__ import annotations

from django.db import models

from contacts.models import Contact
from portal.models import random_id
from portal.tenancy.scoping import TenantOwnedModel, TenantQuerySet

JOB_ID_PATTERN = r"job_[A-Za-z0-9_-]{1,60}"


def new_job_id() -> str:
    return f"job_{random_id(24)}"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


# The legal status transitions (docs/api.md, "Job status"). Completed and cancelled are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    JobStatus.PENDING: frozenset({JobStatus.SCHEDULED, JobStatus.IN_PROGRESS, JobStatus.CANCELLED}),
    JobStatus.SCHEDULED: frozenset({JobStatus.PENDING, JobStatus.IN_PROGRESS, JobStatus.CANCELLED}),
    JobStatus.IN_PROGRESS: frozenset({JobStatus.COMPLETED, JobStatus.CANCELLED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}
INITIAL_STATUSES = frozenset({JobStatus.PENDING, JobStatus.SCHEDULED})


class Job(TenantOwnedModel):
    id = models.CharField(primary_key=True, max_length=64, default=new_job_id, editable=False)
    title = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16,
        choices=JobStatus.choices,
        default=JobStatus.PENDING,
        db_index=True,
    )
    # PROTECT: deleting a contact never silently deletes its jobs (and their files).
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="jobs")
    scheduled_for = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet["Job"].as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="job_tenant_created"),
            models.Index(fields=["tenant", "status", "-created_at"], name="job_tenant_status"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.title}"
