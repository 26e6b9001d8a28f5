"""The reconciler: `manage.py rollout tick` runs one step, `rollout run` loops until done.

A tick keeps no state of its own: everything is read from and written to the database, so it
is safe from cron or a Kubernetes CronJob, and a controller killed at any point resumes on the
next tick. Every tick, baking or not:

1. **The guard** judges the hard signals (canary health, its breakers, its 5xx rate over the
   last minute). A breach rolls back at once; ROLLOUT_MAX_PROBE_ERRORS consecutive ticks that
   cannot reach the canary roll back too (an unreachable canary is a failed one).
2. Once the bake is over, the phase's gates are judged; failures roll back, probe errors that
   persist roll back. Gates short of samples extend the bake (up to the plan's
   max_bake_extension_seconds) while the controller tops samples up with its probe tenants'
   requests on both lanes; gates that passed meanwhile are not judged again in that phase. Only
   what is still inconclusive at the cap waits for a person (who is notified).
3. A rollout left paused longer than ROLLOUT_PAUSE_DEADLINE_SECONDS is aborted.

Gates are evaluated without holding the rollout's lock; every decision is then applied through
the row-locked transitions with the phase *and state* the tick saw, so two ticks racing advance
once, and a person's pause (or any other move) made meanwhile wins over the tick.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ops.models import ControllerHeartbeat, Gate, GateResult, Rollout, RolloutEvent
from ops.rollouts import events, lanes
from ops.rollouts.gates import (
    GateContext,
    Outcome,
    next_attempt,
    record_result,
    run_gate,
    sampled_endpoints,
    stable_lane_version,
)
from ops.rollouts.migration_gate import verify_after_rollback
from ops.rollouts.notify import deliver_notifications, notify
from ops.rollouts.plans import plan_changed
from ops.rollouts.probes import probe_credentials
from ops.rollouts.services import (
    CommandFailedError,
    RolloutError,
    intent_is_stale,
    resume_intent,
    rollout_abort,
    rollout_advance,
    rollout_pause,
    rollout_rollback,
)
from ops.rollouts.topup import top_up
from ops.rollouts.watch import watch_step
from ops.slo.sources import SERVED, default_source

V = GateResult.Verdict


TickAction = Literal[
    "idle",
    "verified",
    "waiting",
    "advanced",
    "succeeded",
    "retrying",
    "probe_error",
    "paused",
    "rolled_back",
    "aborted",
    "rollback_pending",
    "resumed",
    "extending",
    "error",
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
        events.record(
            rollout=rollout,
            actor=actor,
            action="gate_failed",
            reason=reason,
            before=before,
            after={"gate_failures": rollout.gate_failures},
        )
    return rollout


def _context(rollout: Rollout) -> GateContext:
    roles = lanes.current()
    return GateContext(
        rollout=rollout,
        canary_url=roles.canary_url,
        stable_url=roles.stable_url,
        source=default_source(),
        probes=probe_credentials(),
        timeout=settings.ROLLOUT_PROBE_TIMEOUT,
    )


def guard_gates() -> list[tuple[str, dict[str, Any]]]:
    """The hard signals judged on every tick, whatever the phase's own gates are."""
    return [
        ("canary_health", {}),
        ("breakers_closed", {}),
        (
            "error_rate",
            {
                "endpoint": "",
                "max_rate": settings.ROLLOUT_GUARD_MAX_ERROR_RATE,
                "window_seconds": settings.ROLLOUT_GUARD_WINDOW_SECONDS,
                "min_samples": settings.ROLLOUT_GUARD_MIN_SAMPLES,
                # A 5xx to the controller's own probes is a hard signal too; a rehearsal's
                # injected faults are not.
                "traffic": list(SERVED),
                # Only the canary's 5xx rate above stable's, over the same minute.
                "relative_to_stable": True,
            },
        ),
    ]


def evaluate_phase(rollout: Rollout, gates: list[Gate]) -> list[GateResult]:
    """Runs every gate of the rollout's current phase and stores each result as evidence."""
    context = _context(rollout)
    if not rollout.baseline_version:
        # No release has succeeded here yet: the baseline is what the stable lane runs. Kept
        # on the rollout, so every later gate and the report compare with the same version.
        stable = stable_lane_version(context)
        if stable and stable != rollout.release.version:
            Rollout.objects.filter(pk=rollout.pk, baseline_version="").update(
                baseline_version=stable
            )
            rollout.baseline_version = stable
    attempt = next_attempt(rollout)
    return [
        record_result(rollout, gate.kind, attempt, run_gate(gate.kind, context, gate.params), gate)
        for gate in gates
    ]


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
    events.record(
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


def _outcomes(outcomes: list[tuple[str, Outcome]]) -> str:
    return "; ".join(
        f"{kind}: {o.observed or o.evidence[:80]} (target {o.target})" for kind, o in outcomes
    )


def _set_probe_errors(rollout: Rollout, value: int) -> int:
    Rollout.objects.filter(pk=rollout.pk).update(probe_errors=value)
    return value


def guard(rollout: Rollout, actor: str) -> TickResult | None:
    """Judges the hard signals now; rolls back on a breach, or after too many ticks in a row
    that could not reach the canary. Returns what it did, or None when all is well."""
    context = _context(rollout)
    judged = [(kind, run_gate(kind, context, params)) for kind, params in guard_gates()]
    _beat(
        canary_version=_reported_version(dict(judged)["canary_health"]),
        canary_checked_at=timezone.now(),
    )
    failed = [(kind, o) for kind, o in judged if o.verdict == V.FAIL]
    errors = [(kind, o) for kind, o in judged if o.verdict == V.ERROR]
    seen: dict[str, Any] = {"expected_phase": rollout.phase_index, "expected_state": rollout.state}
    reason = ""
    if failed:
        reason = f"Guard: {_outcomes(failed)}"
    elif errors:
        count = _set_probe_errors(rollout, rollout.probe_errors + 1)
        if count < settings.ROLLOUT_MAX_PROBE_ERRORS:
            detail = f"canary unreachable ({count} of {settings.ROLLOUT_MAX_PROBE_ERRORS})"
            return TickResult(rollout.pk, "probe_error", f"{detail}: {_outcomes(errors)}")
        reason = f"Guard: the canary did not answer {count} ticks in a row: {_outcomes(errors)}"
    else:
        if rollout.probe_errors:
            _set_probe_errors(rollout, 0)
        return None
    # The breach is evidence like any gate's: stored with the phase's results.
    attempt = next_attempt(rollout)
    for kind, outcome in failed + errors:
        record_result(rollout, kind, attempt, outcome)
    events.record(
        rollout=rollout,
        actor=actor,
        action="guard_failed",
        reason=reason,
        before={"phase": rollout.phase_index, "state": rollout.state},
        after={"phase": rollout.phase_index, "state": rollout.state},
    )
    return _acted(rollout.pk, "rolled_back", rollout_rollback, actor=actor, reason=reason, **seen)


def _reported_version(health: Outcome) -> str:
    """The version the canary lane's health reported (its evidence is the body)."""
    try:
        body = json.loads(health.evidence or "{}")
    except ValueError:
        return ""
    return str(body.get("version") or "")[:64] if isinstance(body, dict) else ""


def _paused_since(rollout: Rollout) -> Any:
    event = rollout.events.filter(action="pause").order_by("-at", "-id").first()
    return event.at if event is not None else rollout.phase_started_at or rollout.created_at


def expire_paused(actor: str) -> TickResult | None:
    """Aborts a rollout that has waited for a person longer than the progress deadline."""
    deadline = settings.ROLLOUT_PAUSE_DEADLINE_SECONDS
    paused = Rollout.objects.filter(state=Rollout.State.PAUSED).first()
    if not deadline or paused is None:
        return None
    waited = (timezone.now() - _paused_since(paused)).total_seconds()
    if waited < deadline:
        return None
    reason = f"Paused for {waited:.0f}s, past the {deadline}s progress deadline: aborted"
    return _acted(
        paused.pk,
        "aborted",
        rollout_abort,
        actor=actor,
        reason=reason,
        expected_phase=paused.phase_index,
        expected_state=Rollout.State.PAUSED,
    )


RETRY_EVENTS = ("rollback_pending", "rollback_retry")


def retry_rollback(rollout: Rollout, actor: str) -> TickResult:
    """A rollback the driver refused: tried again with back-off (10 s doubling to 5 min)
    until the driver takes it or a person forces it."""
    attempts = rollout.events.filter(action__in=RETRY_EVENTS)
    last = attempts.order_by("-at", "-id").first()
    wait = min(300, 10 * 2 ** max(0, attempts.count() - 1))
    if last is not None and (timezone.now() - last.at).total_seconds() < wait:
        return TickResult(rollout.pk, "rollback_pending", f"driver refused; next try in {wait}s")
    act = rollout_abort if rollout.rollback_target == Rollout.State.ABORTED else rollout_rollback
    try:
        done = act(
            rollout_id=rollout.pk,
            actor=actor,
            reason="Retrying the rollback the driver refused",
            expected_state=Rollout.State.ROLLBACK_PENDING,
        )
    except RolloutError as exc:
        return TickResult(rollout.pk, "idle", str(exc))
    if done.state == Rollout.State.ROLLBACK_PENDING:
        return TickResult(rollout.pk, "rollback_pending", "the driver still refuses")
    return TickResult(rollout.pk, "rolled_back", f"traffic back on stable: {done.state}")


def _extension(rollout: Rollout) -> RolloutEvent | None:
    """The current phase's bake extension, if its gates ran short of samples."""
    return (
        rollout.events.filter(action="bake_extended", after__phase=rollout.phase_index)
        .order_by("-at", "-id")
        .first()
    )


def _extend(
    rollout: Rollout,
    actor: str,
    unsure: list[GateResult],
    extension: RolloutEvent | None,
    waited: float,
    cap: int,
) -> TickResult:
    """Too few samples: the bake goes on (up to the cap) and the controller tops samples up."""
    reason = f"Too few samples: {_names(unsure)}"
    if extension is None:
        events.record(
            rollout=rollout,
            actor=actor,
            action="bake_extended",
            reason=f"{reason}. Bake extended up to {cap}s with probe top-up",
            before={"phase": rollout.phase_index},
            after={"phase": rollout.phase_index, "attempt": unsure[0].attempt},
        )
    endpoints = sorted(
        {
            endpoint
            for result in unsure
            for endpoint in sampled_endpoints(
                result.kind, result.gate.params if result.gate else {}
            )
        }
    )
    sent = top_up(_context(rollout), sorted(endpoints))
    return TickResult(
        rollout.pk,
        "extending",
        f"{reason}; bake extended {max(0.0, waited):.0f}s of {cap}s; {sent}",
    )


def _beat(**fields: Any) -> None:
    """Records that a controller is ticking (the console warns when none has for a while)."""
    ControllerHeartbeat.objects.update_or_create(pk=1, defaults=fields)


def tick(*, actor: str = "controller") -> TickResult:
    result = _tick(actor=actor)
    _beat(last_tick_at=timezone.now(), last_action=result.action)
    return result


def _tick(*, actor: str) -> TickResult:
    # The outbox first: notifications of earlier transitions go out, whatever this tick does.
    deliver_notifications()
    unfinished = _finish_what_was_left(actor)
    if unfinished is not None:
        return unfinished
    live = Rollout.objects.filter(state__in=[Rollout.State.RUNNING, Rollout.State.PAUSED])
    rollout = live.select_related("plan", "release").first()
    if rollout is None:
        verified = verify_after_rollback(actor)
        if verified is not None:
            return TickResult(None, "verified", verified)
        watched = watch_step(actor=actor)
        return TickResult(None, "idle", watched or "no running rollout")
    guarded = guard(rollout, actor)
    if guarded is not None:
        return guarded
    changed = plan_changed(rollout)
    if rollout.state == Rollout.State.PAUSED:
        return TickResult(rollout.pk, "paused", changed or "paused, waiting for a person")
    if changed:
        return _pause_for_plan_change(rollout, actor, changed)
    phase = rollout.plan.phases.filter(order=rollout.phase_index).first()
    if phase is None:
        return TickResult(rollout.pk, "idle", f"phase {rollout.phase_index} not in the plan")
    started = rollout.phase_started_at or rollout.created_at
    left = phase.bake_seconds - (timezone.now() - started).total_seconds()
    if left > 0:
        return TickResult(rollout.pk, "waiting", f"phase {phase.order} bakes {left:.0f}s more")
    return _judge_phase(rollout, phase, started, actor)


def _acted(
    rollout_id: int, result: TickAction, action: Any, *, reason: str, **seen: Any
) -> TickResult:
    """`action` (a service: rollback, abort, pause) taken on the rollout, answered as `result`;
    "idle" when someone else moved the rollout meanwhile (the service's RolloutError), so the
    next tick sees the new state."""
    try:
        action(rollout_id=rollout_id, reason=reason, **seen)
    except RolloutError as exc:
        return TickResult(rollout_id, "idle", str(exc))
    return TickResult(rollout_id, result, reason)


def _finish_what_was_left(actor: str) -> TickResult | None:
    """A pause past its deadline, an action whose process died, a rollback the driver
    refused: each is finished before anything else is judged."""
    expired = expire_paused(actor)
    if expired is not None:
        return expired
    interrupted = Rollout.objects.live().filter(intent__isnull=False).first()
    if interrupted is not None and intent_is_stale(interrupted):
        action = (interrupted.intent or {}).get("action")
        try:
            done = resume_intent(interrupted)
        except RolloutError as exc:
            return TickResult(interrupted.pk, "idle", f"resuming {action} failed: {exc}")
        return TickResult(done.pk, "resumed", f"carried out the interrupted {action}")
    pending = Rollout.objects.filter(state=Rollout.State.ROLLBACK_PENDING).first()
    if pending is not None:
        return retry_rollback(pending, actor)
    return None


def _pause_for_plan_change(rollout: Rollout, actor: str, changed: str) -> TickResult:
    # Never judge by, or advance into, phases nobody reviewed for this rollout: a person
    # restores the plan (the rollout resumes) or aborts; the pause alerts the operators.
    return _acted(
        rollout.pk,
        "paused",
        rollout_pause,
        actor=actor,
        reason=changed,
        expected_phase=rollout.phase_index,
        expected_state=Rollout.State.RUNNING,
    )


def _judge_phase(rollout: Rollout, phase: Any, started: Any, actor: str) -> TickResult:
    """The baked phase's gates judged, and the one decision they lead to."""
    gates = list(phase.gates.order_by("order", "id"))
    extension = _extension(rollout)
    if extension is not None:
        passed = GateResult.objects.filter(
            rollout=rollout,
            phase_index=phase.order,
            attempt__gte=extension.after.get("attempt", 0),
            verdict=V.PASS,
        ).values_list("gate_id", flat=True)
        gates = [gate for gate in gates if gate.pk not in set(passed)]
    results = evaluate_phase(rollout, gates)
    # What this tick saw: if a person paused, resumed or moved the rollout while the gates
    # were judged, the decision below acts on nothing.
    seen: dict[str, Any] = {"expected_phase": phase.order, "expected_state": Rollout.State.RUNNING}
    try:
        decided = _decide(rollout, phase, results, extension, started, actor, seen)
    except CommandFailedError as exc:
        # A deploy command of the next phase failed: the rollout must not go on.
        reason = str(exc)
        rollout_rollback(rollout_id=rollout.pk, actor=actor, reason=reason, **seen)
        return TickResult(rollout.pk, "rolled_back", reason)
    except RolloutError as exc:
        # Someone else moved the rollout meanwhile; the next tick sees the new state.
        return TickResult(rollout.pk, "idle", str(exc))
    if isinstance(decided, TickResult):
        return decided
    if decided.state == Rollout.State.SUCCEEDED:
        return TickResult(decided.pk, "succeeded", "every phase passed")
    return TickResult(
        decided.pk, "advanced", f"now phase {decided.phase_index} at {decided.weight}%"
    )


def _decide(
    rollout: Rollout,
    phase: Any,
    results: list[Any],
    extension: Any,
    started: Any,
    actor: str,
    seen: dict[str, Any],
) -> TickResult | Rollout:
    """Fail (retry or roll back), probe error, extend the bake, pause, or advance: a
    TickResult, or the rollout once advanced."""
    failed = [r for r in results if r.verdict == V.FAIL]
    errors = [r for r in results if r.verdict == V.ERROR]
    unsure = [r for r in results if r.verdict == V.INCONCLUSIVE]
    if failed:
        reason = f"Phase {phase.order} gate(s) failed: {_names(failed)}"
        rollout = _record_failure(rollout.pk, actor, reason)
        notify("gate_failed", rollout, reason)
        if rollout.gate_failures >= rollout.plan.max_gate_failures:
            rollout_rollback(rollout_id=rollout.pk, actor=actor, reason=reason, **seen)
            return TickResult(rollout.pk, "rolled_back", reason)
        return TickResult(rollout.pk, "retrying", reason)
    if errors:
        return _probe_errors(rollout, errors, actor, seen)
    if unsure and all(r.needs_samples for r in unsure):
        waited = (timezone.now() - started).total_seconds() - phase.bake_seconds
        cap = rollout.plan.max_bake_extension_seconds
        if waited < cap:
            return _extend(rollout, actor, unsure, extension, waited, cap)
    if unsure:
        # Never a silent pass: a person decides (advance, or abort), and is told so. The
        # pause notifies the operators that a person is needed.
        reason = f"Inconclusive gate(s): {_names(unsure)}"
        rollout_pause(rollout_id=rollout.pk, actor=actor, reason=reason, **seen)
        return TickResult(rollout.pk, "paused", reason)
    reason = f"All {len(results)} gate(s) of phase {phase.order} passed"
    if extension is not None:
        reason = (
            f"All {len(phase.gates.all())} gate(s) of phase {phase.order} passed, after "
            f"extending the bake with probe top-up"
        )
    return rollout_advance(rollout_id=rollout.pk, actor=actor, reason=reason, **seen)


def _probe_errors(
    rollout: Rollout, errors: list[Any], actor: str, seen: dict[str, Any]
) -> TickResult:
    attempts_with_errors = (
        GateResult.objects.filter(rollout=rollout, phase_index=rollout.phase_index, verdict=V.ERROR)
        .values("attempt")
        .distinct()
        .count()
    )
    reason = f"Probe error(s): {_names(errors)}"
    if attempts_with_errors >= settings.ROLLOUT_MAX_PROBE_ERRORS:
        # A gate that cannot be judged again and again is a failed gate.
        reason = f"{reason} ({attempts_with_errors} attempts)"
        notify("gate_failed", rollout, reason)
        rollout_rollback(rollout_id=rollout.pk, actor=actor, reason=reason, **seen)
        return TickResult(rollout.pk, "rolled_back", reason)
    return TickResult(rollout.pk, "probe_error", reason)
