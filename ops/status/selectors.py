"""Reads for the public status page: the overall state and the entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ops.models.status import StatusEntry
from portal.formats import rfc3339


@dataclass(frozen=True)
class StatusOverview:
    state: str  # operational, maintenance or incident
    ongoing: list[StatusEntry]
    recent: list[StatusEntry]
    updated_at: datetime

    @property
    def headline(self) -> str:
        return {
            "operational": "All systems operational",
            "maintenance": "Maintenance in progress",
            "incident": "We are investigating an incident",
        }[self.state]


def status_overview(days: int = 90, limit: int = 50) -> StatusOverview:
    now = timezone.now()
    entries = StatusEntry.objects.filter(
        Q(resolved_at__isnull=True) | Q(started_at__gte=now - timedelta(days=days))
    )
    ongoing = [e for e in entries if e.resolved_at is None]
    recent = [e for e in entries.filter(resolved_at__isnull=False)[:limit]]
    kinds = {e.kind for e in ongoing}
    state = (
        "incident"
        if StatusEntry.Kind.INCIDENT in kinds
        else "maintenance"
        if StatusEntry.Kind.MAINTENANCE in kinds
        else "operational"
    )
    return StatusOverview(state=state, ongoing=ongoing, recent=recent, updated_at=now)


def _entry(entry: StatusEntry) -> dict[str, Any]:
    return {
        "reference": entry.reference,
        "kind": entry.kind,
        "title": entry.title,
        "body": entry.body,
        "started_at": rfc3339(entry.started_at),
        "resolved_at": rfc3339(entry.resolved_at) if entry.resolved_at else None,
    }


def status_json(overview: StatusOverview) -> dict[str, Any]:
    return {
        "status": overview.state,
        "description": overview.headline,
        "updated_at": rfc3339(overview.updated_at),
        "ongoing": [_entry(e) for e in overview.ongoing],
        "recent": [_entry(e) for e in overview.recent],
    }
