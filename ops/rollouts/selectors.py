"""Reads of rollouts for the console: a rollout's page, and which versions are stable and
canary for the SLO dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone

from ops.models import ControllerHeartbeat, GateResult, Release, Rollout
from ops.models.rollouts import RolloutQuerySet
from ops.rollouts.report import report_data
from ops.slo.dashboard import InFlight, Versions

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
    beat = ControllerHeartbeat.objects.filter(pk=1).first()
    last_tick = beat.last_tick_at if beat else None
    stale = settings.ROLLOUT_CONTROLLER_STALE_SECONDS
    silent = rollout.state in Rollout.LIVE_STATES and (
        last_tick is None or (timezone.now() - last_tick).total_seconds() > stale
    )
    reported = beat.canary_version if beat else ""
    return {
        # Nothing judges a live rollout without a controller: the page says so.
        "controller_silent": silent,
        "controller_last_tick": last_tick,
        # CANARY_URL answering with the stable version: the gates would judge the wrong server.
        "canary_reports_stable": bool(
            rollout.state in Rollout.LIVE_STATES
            and reported
            and rollout.baseline_version
            and reported == rollout.baseline_version
        ),
        "canary_reported_version": reported,
        "rollout": rollout,
        "phases": phases,
        "current": current,
        "bake_until": bake_until,
        "baked": bake_until is not None and bake_until <= timezone.now(),
        "results": sorted(results, key=lambda r: (r.created_at, r.pk), reverse=True)[:100],
        "events": list(reversed(data["events"])),
    }


def rollout_for_page(pk: int) -> Rollout:
    """A rollout with everything its page and report read, in a fixed number of queries."""
    queryset = Rollout.objects.select_related("release", "plan").prefetch_related(
        # report_data() walks every event and gate result; the gate's description is shown.
        "events",
        Prefetch("gate_results", queryset=GateResult.objects.select_related("gate")),
        "plan__phases",
    )
    return get_object_or_404(queryset, pk=pk)


def rollout_list() -> RolloutQuerySet:
    """Rollouts newest first, with what the list shows of each (no query per row)."""
    return Rollout.objects.select_related("release", "plan")


def current_versions(stable: str = "", canary: str = "") -> Versions:
    """Stable and canary as the rollout in flight defines them, unless the page asks for
    others: the canary is the release being rolled out, stable what it replaces."""
    active = Rollout.objects.live().select_related("release").first()
    last_good = Rollout.objects.filter(state=S.SUCCEEDED).select_related("release").first()
    default_stable = (
        (active.baseline_version if active else "")
        or (last_good.release.version if last_good else "")
        or settings.APP_VERSION
    )
    stable = stable or default_stable
    canary = canary or (active.release.version if active else "")
    in_flight = InFlight(id=active.pk, weight=active.weight) if active else None
    return Versions(
        stable=stable, canary=canary if canary and canary != stable else None, rollout=in_flight
    )


def known_versions() -> list[str]:
    versions = list(Release.objects.values_list("version", flat=True)[:50])
    return sorted({settings.APP_VERSION, *versions})
