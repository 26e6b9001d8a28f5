"""Reads for the console and the status page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ops.models import GateResult, Rollout, StatusEntry
from ops.report import report_data

S = Rollout.State


def _phase_status(rollout: Rollout, order: int) -> str:
    if rollout.state == S.SUCCEEDED or order < rollout.phase_index:
        return "done"
    if order == rollout.phase_index:
        if rollout.state in {S.ABORTED, S.ROLLED_BACK}:
            return "stopped"
        return "paused" if rollout.state == S.PAUSED else "current"
    return "skipped" if rollout.is_terminal else "upcoming"


def rollout_detail(rollout: Rollout) -> dict[str, Any]:
    """The rollout page: its phases as a timeline, the current phase's latest gate verdicts,
    every gate result, and the event log (newest first)."""
    data = report_data(rollout)
    phases = []
    for phase, plan_phase in zip(data["phases"], rollout.plan.phases.all(), strict=True):
        phase["status"] = _phase_status(rollout, phase["order"])
        phase["bake_seconds"] = plan_phase.bake_seconds
        phases.append(phase)
    current = next((p for p in phases if p["order"] == rollout.phase_index), None)
    # A deadline, not a countdown: the live region's HTML stays the same between polls.
    bake_until = None
    if current is not None and rollout.state == S.RUNNING and rollout.phase_started_at:
        bake_until = rollout.phase_started_at + timedelta(seconds=current["bake_seconds"])
    results: list[GateResult] = list(rollout.gate_results.all())
    return {
        "rollout": rollout,
        "phases": phases,
        "current": current,
        "bake_until": bake_until,
        "baked": bake_until is not None and bake_until <= timezone.now(),
        "results": sorted(results, key=lambda r: (r.created_at, r.pk), reverse=True)[:100],
        "events": list(reversed(data["events"])),
    }


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
        "started_at": entry.started_at.isoformat(),
        "resolved_at": entry.resolved_at.isoformat() if entry.resolved_at else None,
    }


def status_json(overview: StatusOverview) -> dict[str, Any]:
    return {
        "status": overview.state,
        "description": overview.headline,
        "updated_at": overview.updated_at.isoformat(),
        "ongoing": [_entry(e) for e in overview.ongoing],
        "recent": [_entry(e) for e in overview.recent],
    }
