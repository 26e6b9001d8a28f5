"""Status room: the public status page's entries."""

from __future__ import annotations

from django.db import models


class StatusEntry(models.Model):
    """What the public status page shows: maintenance windows and rollbacks."""

    class Kind(models.TextChoices):
        MAINTENANCE = "maintenance", "Maintenance"
        ROLLBACK = "rollback", "Rollback"
        INCIDENT = "incident", "Incident"

    reference = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    rollout = models.ForeignKey(
        "ops.Rollout",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="status_entries",
    )
    started_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name_plural = "status entries"

    def __str__(self) -> str:
        return self.reference
