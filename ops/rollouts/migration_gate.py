"""The migration gate around a rollout: before any traffic moves, and after it comes back.

`start` is how every writer (CLI, console, `make canary`) starts a rollout whose plan names the
`migrations_safe` gate:

1. the release's recorded migrations are judged (ops/rollouts/schema.py); unsafe ones refuse
   the start, unless a person accepts the risk with a reason (recorded in the execution log and
   the report);
2. the plan's migrate commands apply them (or they must already be applied);
3. the **stable** version's contract smoke runs against the migrated database; stable failing
   there stops the rollout before phase 1 and alerts, since production already runs on it.

Each refusal aborts the rollout (traffic never moved), with the reason in its log. After a
rollback or abort, the controller runs stable's smoke once more (`verify_after_rollback`), and
the report says which migrations stay applied and whether stable was verified on them.
`rollout rollback` never runs reverse migrations: that is a person's decision.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from ops.models import GateResult, Rollout
from ops.rollouts import events, lanes, schema
from ops.rollouts.gates import Outcome, next_attempt, record_result
from ops.rollouts.notify import notify
from ops.rollouts.probes import probe_credentials
from ops.rollouts.services import (
    CommandFailedError,
    RolloutError,
    rollout_abort,
    rollout_start,
    run_plan_commands,
)

V = GateResult.Verdict
S = Rollout.State
VERIFIED_AFTER_ROLLBACK = schema.VERIFIED_AFTER_ROLLBACK
# How long after a rollback the controller still looks for one to verify.
VERIFY_WITHIN = timedelta(hours=6)


def start(
    *,
    rollout_id: int,
    actor: str,
    accept_migration_risk: str = "",
    expected_phase: int | None = None,
) -> Rollout:
    """Starts phase 1, after the migration gate when the plan names it."""
    rollout = Rollout.objects.select_related("plan", "release").get(pk=rollout_id)
    if rollout.state == S.PENDING and schema.gated(rollout):
        _preflight(rollout, actor, accept_migration_risk.strip())
    return rollout_start(rollout_id=rollout_id, actor=actor, expected_phase=expected_phase)


# What the gate's two results are judged against.
MIGRATION_TARGET = "safe for stable, applied, stable smoke OK"


def _store(
    rollout: Rollout, kind: str, attempt: int, ok: bool, observed: str, query: str, evidence: str
) -> GateResult:
    verdict = V.PASS if ok else V.FAIL
    found = Outcome(verdict, observed, MIGRATION_TARGET, query, evidence)
    return record_result(rollout, kind, attempt, found)


def _refuse(rollout: Rollout, actor: str, reason: str, details: list[str]) -> None:
    rollout_abort(rollout_id=rollout.pk, actor=actor, reason=reason[:2000])
    listed = "".join(f"\n  - {line}" for line in details[:20])
    raise RolloutError(f"{reason}{listed}")


def _preflight(rollout: Rollout, actor: str, accept: str) -> None:
    attempt = next_attempt(rollout, phase_index=0)
    found = schema.verdict(rollout.release)
    query = f"Release.migrations of {rollout.release.version} (rollout record-release)"
    _store(rollout, schema.GATE, attempt, found.ok, found.summary, query, "\n".join(found.details))
    if not found.ok:
        if not accept:
            _refuse(
                rollout,
                actor,
                f"Migration gate: {found.summary}. Nothing was migrated and no traffic moved; "
                "to go on anyway, start again with --accept-migration-risk REASON",
                found.details,
            )
        events.record(
            rollout=rollout,
            actor=actor,
            action=schema.RISK_ACCEPTED,
            reason=accept,
            before=events.snapshot(rollout),
            after=events.snapshot(rollout),
            output="\n".join([found.summary, *found.details]),
        )
    if found.unapplied and rollout.plan.migrate_commands:
        try:
            output = run_plan_commands(rollout, rollout.plan.migrate_commands, weight=0)
        except CommandFailedError as exc:
            _refuse(rollout, actor, f"The release's migrations failed: {exc}", [])
        events.record(
            rollout=rollout,
            actor=actor,
            action="migrated",
            reason=f"Applied the release's migrations: {', '.join(found.unapplied)}",
            output=output,
        )
    applied = schema.applied_migrations()
    missing = [key for key in found.new if key not in applied]
    if missing:
        _refuse(
            rollout,
            actor,
            f"The release's migrations are not applied: {', '.join(missing)}. Apply them (its "
            "migrate Job) or give the plan migrate commands, then start again",
            [],
        )
    smoke = _smoke()
    evidence = "\n".join(f"{code} {label}" for label, code in smoke.steps)
    _store(
        rollout,
        schema.SMOKE,
        attempt,
        smoke.ok,
        smoke.observed,
        f"stable's contract smoke at {lanes.current().stable_url}",
        evidence,
    )
    if not smoke.ok:
        reason = (
            f"The stable version fails on the migrated schema ({smoke.observed}): stopped "
            "before phase 1. The migrations stay applied; reverse them by hand or roll forward"
        )
        with transaction.atomic():
            notify("schema_broken", rollout, reason)
        _refuse(rollout, actor, reason, [])


def _smoke() -> schema.SmokeResult:
    """Stable's contract smoke at the stable lane, as the controller's probe tenant."""
    try:
        token = probe_credentials().a.token
    except DatabaseError as exc:
        # The probe tenant's own rows cannot be read on this schema: that is the finding.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return schema.SmokeResult(False, f"the probe fixtures cannot be read: {first}", [])
    return schema.stable_smoke(
        lanes.current().stable_url, token, timeout=settings.ROLLOUT_PROBE_TIMEOUT
    )


def verify_after_rollback(actor: str) -> str | None:
    """Once per rolled-back or aborted rollout whose release migrated the database: stable's
    smoke on the schema it is left with, recorded for the report; an alert if it fails."""
    since = timezone.now() - VERIFY_WITHIN
    candidates = (
        Rollout.objects.filter(state__in=[S.ROLLED_BACK, S.ABORTED], finished_at__gte=since)
        .exclude(events__action=VERIFIED_AFTER_ROLLBACK)
        .select_related("release")
        .order_by("-finished_at")
    )
    for rollout in candidates[:5]:
        found = schema.verdict(rollout.release)
        applied = [key for key in found.new if key not in found.unapplied]
        if not applied:
            continue
        smoke = _smoke()
        attempt = next_attempt(rollout)
        with transaction.atomic():
            _store(
                rollout,
                schema.SMOKE,
                attempt,
                smoke.ok,
                smoke.observed,
                f"stable's contract smoke after the rollback, at {lanes.current().stable_url}",
                "\n".join(f"{code} {label}" for label, code in smoke.steps),
            )
            verdict = "passes" if smoke.ok else "FAILS"
            events.record(
                rollout=rollout,
                actor=actor,
                action=VERIFIED_AFTER_ROLLBACK,
                reason=f"Stable {verdict} its smoke on the schema the release left: "
                f"{smoke.observed}. Still applied: {', '.join(applied)}",
            )
            if not smoke.ok:
                notify("schema_broken", rollout, smoke.observed)
        return f"verified stable on rollout {rollout.pk}'s migrations: {smoke.observed}"
    return None
