"""The reconciler: `manage.py rollout tick` runs one step, `rollout run` loops until done.

A tick keeps no state of its own: everything is read from and written to the database, so it
is safe from cron or a Kubernetes CronJob, and a controller killed at any point resumes on the
next tick. Gates are evaluated without holding the rollout's lock; the decision is then applied
through the row-locked transitions with the phase the tick saw, so two ticks racing advance once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ops.models import Gate, GateResult, Rollout, RolloutEvent
from ops.rollouts.gates import GateContext, Outcome, run_gate
from ops.rollouts.probes import probe_credentials
from ops.rollouts.services import (
    CommandFailedError,
    RolloutError,
    rollout_advance,
    rollout_pause,
    rollout_rollback,
)
from ops.rollouts.watch import watch_step
from ops.slo.sources import default_source

V = GateResult.Verdict


TickAction = Literal[
    "idle", "waiting", "advanced", "succeeded", "retrying", "probe_error", "paused", "rolled_back"
]


@dataclass(frozen=True)
class TickResult:
    rollout_id: int | None
    action: TickAction
    detail: str = ""


def _record_failure(rollout_id: int, actor: str, reason: str) -> Rollout:
    with transaction.atomic():
        rollout = Rollout.objects.select_for_update().get(pk=rollout_id)
        before = {"gate_failures": rollout.gate_failures}
        rollout.gate_failures += 1
        rollout.save(update_fields=["gate_failures"])
        RolloutEvent.objects.create(
            rollout=rollout,
            actor=actor,
            action="gate_failed",
            reason=reason,
            before=before,
            after={"gate_failures": rollout.gate_failures},
        )
    return rollout


def evaluate_phase(rollout: Rollout, gates: list[Gate]) -> list[GateResult]:
    """Runs every gate of the rollout's current phase and stores each result as evidence."""
    context = GateContext(
        rollout=rollout,
        canary_url=settings.ROLLOUT_CANARY_URL,
        stable_url=settings.ROLLOUT_STABLE_URL,
        source=default_source(),
        probes=probe_credentials(),
        timeout=settings.ROLLOUT_PROBE_TIMEOUT,
    )
    previous = GateResult.objects.filter(rollout=rollout, phase_index=rollout.phase_index)
    attempt = (previous.aggregate(n=Max("attempt"))["n"] or 0) + 1
    results = []
    for gate in gates:
        outcome: Outcome = run_gate(gate.kind, context, gate.params)
        results.append(
            GateResult.objects.create(
                rollout=rollout,
                gate=gate,
                kind=gate.kind,
                phase_index=rollout.phase_index,
                attempt=attempt,
                verdict=outcome.verdict,
                observed=outcome.observed[:200],
                target=outcome.target[:200],
                window_seconds=outcome.window_seconds,
                query=outcome.query,
                evidence=outcome.evidence,
            )
        )
    return results


def check_gates(*, rollout_id: int, actor: str) -> list[GateResult]:
    """Judges the current phase's gates now, for a person deciding whether to advance. Records
    the results and an event; moves nothing."""
    rollout = Rollout.objects.select_related("plan", "release").get(pk=rollout_id)
    if rollout.state not in {Rollout.State.RUNNING, Rollout.State.PAUSED}:
        raise RolloutError(f"Rollout {rollout.pk} is {rollout.state}: there are no gates to check")
    phase = rollout.plan.phases.filter(order=rollout.phase_index).first()
    gates = list(phase.gates.order_by("order", "id")) if phase else []
    results = evaluate_phase(rollout, gates)
    verdicts = ", ".join(f"{r.kind} {r.verdict}" for r in results) or "the phase has no gates"
    RolloutEvent.objects.create(
        rollout=rollout,
        actor=actor,
        action="gates_checked",
        reason=f"Phase {rollout.phase_index}: {verdicts}",
        before={"phase": rollout.phase_index},
        after={"phase": rollout.phase_index},
    )
    return results


def _names(results: list[GateResult]) -> str:
    return "; ".join(
        f"{r.kind}: {r.observed or r.evidence[:80]} (target {r.target})" for r in results
    )


def tick(*, actor: str = "controller") -> TickResult:
    rollout = Rollout.objects.filter(state=Rollout.State.RUNNING).select_related("plan").first()
    if rollout is None:
        watched = watch_step(actor=actor)
        return TickResult(None, "idle", watched or "no running rollout")
    phase = rollout.plan.phases.filter(order=rollout.phase_index).first()
    if phase is None:
        return TickResult(rollout.pk, "idle", f"phase {rollout.phase_index} not in the plan")
    started = rollout.phase_started_at or rollout.created_at
    left = phase.bake_seconds - (timezone.now() - started).total_seconds()
    if left > 0:
        return TickResult(rollout.pk, "waiting", f"phase {phase.order} bakes {left:.0f}s more")

    results = evaluate_phase(rollout, list(phase.gates.order_by("order", "id")))
    failed = [r for r in results if r.verdict == V.FAIL]
    errors = [r for r in results if r.verdict == V.ERROR]
    unsure = [r for r in results if r.verdict == V.INCONCLUSIVE]
    try:
        if failed:
            reason = f"Phase {phase.order} gate(s) failed: {_names(failed)}"
            rollout = _record_failure(rollout.pk, actor, reason)
            if rollout.gate_failures >= rollout.plan.max_gate_failures:
                rollout_rollback(rollout_id=rollout.pk, actor=actor, reason=reason)
                return TickResult(rollout.pk, "rolled_back", reason)
            return TickResult(rollout.pk, "retrying", reason)
        if errors:
            attempts_with_errors = (
                GateResult.objects.filter(
                    rollout=rollout, phase_index=rollout.phase_index, verdict=V.ERROR
                )
                .values("attempt")
                .distinct()
                .count()
            )
            reason = f"Probe error(s): {_names(errors)}"
            if attempts_with_errors >= settings.ROLLOUT_MAX_PROBE_ERRORS:
                rollout_pause(rollout_id=rollout.pk, actor=actor, reason=reason)
                return TickResult(rollout.pk, "paused", reason)
            return TickResult(rollout.pk, "probe_error", reason)
        if unsure:
            # Never a silent pass: a person decides (advance, or abort).
            reason = f"Inconclusive gate(s): {_names(unsure)}"
            rollout_pause(rollout_id=rollout.pk, actor=actor, reason=reason)
            return TickResult(rollout.pk, "paused", reason)
        rollout = rollout_advance(
            rollout_id=rollout.pk,
            actor=actor,
            expected_phase=phase.order,
            reason=f"All {len(results)} gate(s) of phase {phase.order} passed",
        )
    except CommandFailedError as exc:
        # A deploy command of the next phase failed: the rollout must not go on.
        reason = str(exc)
        rollout_rollback(rollout_id=rollout.pk, actor=actor, reason=reason)
        return TickResult(rollout.pk, "rolled_back", reason)
    except RolloutError as exc:
        # Someone else moved the rollout meanwhile; the next tick sees the new state.
        return TickResult(rollout.pk, "idle", str(exc))
    if rollout.state == Rollout.State.SUCCEEDED:
        return TickResult(rollout.pk, "succeeded", "every phase passed")
    return TickResult(
        rollout.pk, "advanced", f"now phase {rollout.phase_index} at {rollout.weight}%"
    )
