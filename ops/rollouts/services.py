"""The rollout state machine: the one writer of a rollout's state and of its traffic.

Every change of a rollout (a controller tick, the CLI, the console, promotion, rollback) goes
through `_transition`, in three steps:

1. **Intent**, under the rollout's row lock: the action must be legal now (`TRANSITIONS`), no
   other intent may be in flight (abort and rollback supersede one), and the phase and state
   the caller saw must still hold. The intent (target state, phase, weight and which lane is
   stable afterwards) is committed before any side effect.
2. **Effects**, with no database lock held: the entered phase's commands, then one driver call
   under the traffic lease (one at a time across every process, with its own deadline, and
   only while the intent is still the rollout's own), then rollback or cleanup commands.
3. **Outcome**, under the row lock again: state, phase, weight, the lane roles and the event
   row commit together, and only if the intent was not superseded meanwhile.

Invariants (tested by crashing at every `checkpoint` below and resuming):
- Traffic is always where the record says, or, while an intent is in flight, where the intent
  is taking it: never anywhere else.
- A promotion writes "all traffic on the new version's lane, now stable" to the driver before
  the swap is recorded, and records the swap in the same commit as the success, so readers
  see the old roles at weight 100 or the new roles at weight 0, both meaning the same traffic.
- An intent whose process died is carried out again by the controller, once; every step is
  idempotent (commands set a state, the driver sets a weight and roles).
- Abort and rollback always end at weight 0 or in "rollback pending" with an alert.

    pending --start--> running(phase 1)
    running(n) --advance--> running(n+1) | succeeded (after the last phase)
    running --pause--> paused --resume--> running
    paused --advance--> running(n+1) | succeeded   (a person confirms)
    pending | running | paused | rollback_pending --abort--> aborted   (weight 0)
    running | paused | rollback_pending --rollback--> rolled_back      (weight 0)
    (abort or rollback the driver refuses) --> rollback_pending, retried by the controller

`diagram()` draws the same table; docs/operator/state-machine.md holds its output, checked by
a test.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from ops.models import GateResult, Release, Rollout, RolloutPlan, TrafficLanes
from ops.rollouts import events, lanes, schema
from ops.rollouts.drivers import DriverError, drive, driver_for, run_command
from ops.rollouts.lint import lint_plan
from ops.rollouts.notify import notify
from ops.rollouts.plans import plan_changed, plan_digest, version_problem
from ops.rollouts.validators import validate_image, validate_version
from portal.formats import rfc3339

S = Rollout.State
logger = logging.getLogger("portal.rollouts")

TRANSITIONS: dict[str, frozenset[str]] = {
    "start": frozenset({S.PENDING}),
    "advance": frozenset({S.RUNNING, S.PAUSED}),
    "pause": frozenset({S.RUNNING}),
    "resume": frozenset({S.PAUSED}),
    "abort": Rollout.LIVE_STATES,
    "rollback": frozenset({S.RUNNING, S.PAUSED, S.ROLLBACK_PENDING}),
}


# Where each action can end: the intended state, or "rollback pending" when the driver refuses
# to send traffic back to stable. The controller's own moves use the same actions.
TARGETS: dict[str, frozenset[str]] = {
    "start": frozenset({S.RUNNING, S.ROLLED_BACK}),  # rolled back: phase 1's commands failed
    "advance": frozenset({S.RUNNING, S.SUCCEEDED}),
    "pause": frozenset({S.PAUSED}),
    "resume": frozenset({S.RUNNING}),
    "abort": frozenset({S.ABORTED, S.ROLLBACK_PENDING}),
    "rollback": frozenset({S.ROLLED_BACK, S.ROLLBACK_PENDING}),
}


def diagram() -> str:
    """The state machine as a Mermaid diagram, drawn from TRANSITIONS and TARGETS (the operator
    guide holds this output; a test keeps the two the same)."""
    edges: dict[tuple[str, str], list[str]] = {}
    for action, sources in TRANSITIONS.items():
        for source in sorted(sources):
            for target in sorted(TARGETS[action]):
                if target == S.ROLLBACK_PENDING and source in {S.PENDING, S.ROLLBACK_PENDING}:
                    # Pending holds no traffic (nothing for a driver to refuse); a refused
                    # retry stays where it is.
                    continue
                edges.setdefault((source, target), []).append(action)
    for target in (S.ABORTED, S.ROLLED_BACK):  # a person moved traffic back by hand
        edges.setdefault((S.ROLLBACK_PENDING, target), []).append("force")
    lines = ["stateDiagram-v2", f"    [*] --> {S.PENDING}: create"]
    for (source, target), actions in sorted(edges.items()):
        lines.append(f"    {source} --> {target}: {', '.join(actions)}")
    lines += [f"    {state} --> [*]" for state in sorted(Rollout.FINAL_STATES)]
    return "\n".join(lines)


class RolloutError(Exception):
    """A refused action: illegal in the current state, stale, or failed."""


class CommandFailedError(RolloutError):
    """A deploy, rollback or cleanup command failed (the rollout must not go on)."""


# The controller's own actor name (its decisions are signed with it).
CONTROLLER = "controller"


def command_argv(template: str, values: dict[str, Any]) -> list[str]:
    """The template split into arguments first, then each argument filled in: a value can never
    add, remove or quote an argument, whatever it contains."""
    try:
        return [argument.format_map(values) for argument in shlex.split(template)]
    except (ValueError, KeyError, IndexError) as exc:
        raise CommandFailedError(f"The plan's command {template!r} is malformed: {exc}") from exc


BASELINE_PLACEHOLDERS = ("{baseline}", "{baseline_image}")


def command_values(
    rollout: Rollout, weight: int, roles: lanes.Lanes | None = None
) -> dict[str, Any]:
    """What a plan's command templates may name: the release being rolled out, the traffic
    weight, and the baseline it replaces (for rollback commands that restore production).
    `roles`: the lanes as the action leaves them (default: as they are now)."""
    roles = roles or lanes.current()
    values: dict[str, Any] = {
        "version": rollout.release.version,
        "image": rollout.release.image or f"portal-api:v{rollout.release.version}",
        "weight": weight,
        # Where the canary and stable lanes are now (they swap at each promotion).
        "canary_upstream": roles.canary_upstream,
        "stable_upstream": roles.stable_upstream,
        "canary_url": roles.canary_url,
        "stable_url": roles.stable_url,
    }
    if rollout.baseline_version:
        baseline = Release.objects.filter(version=rollout.baseline_version).first()
        values["baseline"] = rollout.baseline_version
        values["baseline_image"] = (baseline.image if baseline else "") or (
            f"portal-api:v{rollout.baseline_version}"
        )
    return values


def run_plan_commands(
    rollout: Rollout, commands: list[str], *, weight: int, roles: lanes.Lanes | None = None
) -> str:
    values = command_values(rollout, weight, roles)
    outputs = []
    for template in commands:
        if "baseline" not in values and any(p in template for p in BASELINE_PLACEHOLDERS):
            outputs.append(f"skipped (no baseline release is known): {template}")
            continue
        argv = command_argv(template, values)
        try:
            outputs.append(run_command(argv, rollout.plan.command_timeout))
        except DriverError as exc:
            raise CommandFailedError(f"Command failed: {exc}") from exc
    return "\n".join(outputs)


def _locked(rollout_id: int) -> Rollout:
    rollout = Rollout.objects.select_for_update().filter(pk=rollout_id).first()
    if rollout is None:
        raise RolloutError(f"No rollout {rollout_id}")
    return rollout


def _check(
    rollout: Rollout,
    action: str,
    expected_phase: int | None = None,
    expected_state: str | None = None,
) -> None:
    """Under the row lock: the action must be legal now, and when the caller says which phase
    (and state) it saw, the rollout must still be there: a stale page, command or controller
    tick acts on nothing. That is how a person's pause wins over a tick judged before it."""
    if rollout.intent and action not in {"abort", "rollback"}:
        raise RolloutError(
            f"Rollout {rollout.pk} is busy: {rollout.intent.get('action')} by "
            f"{rollout.intent.get('actor')} since {rollout.intent.get('at')} is being carried "
            "out. Wait for it, or abort."
        )
    if expected_state is not None and rollout.state != expected_state:
        raise RolloutError(
            f"Rollout {rollout.pk} is {rollout.state} now, not {expected_state}: nothing was done."
        )
    if expected_phase is not None and rollout.phase_index != expected_phase:
        raise RolloutError(
            f"The rollout moved on since you looked: it is already in phase "
            f"{rollout.phase_index}, not {expected_phase}. Nothing was done."
        )
    if rollout.state not in TRANSITIONS[action]:
        allowed = ", ".join(a for a, states in TRANSITIONS.items() if rollout.state in states)
        raise RolloutError(
            f"Cannot {action} rollout {rollout.pk}: it is {rollout.state}"
            f" (allowed now: {allowed or 'nothing, it is finished'})"
        )


@dataclass(frozen=True)
class Move:
    """What a transition will do: the state, phase and weight it ends in."""

    action: str
    state: str | None = None
    phase: int | None = None
    weight: int | None = None
    # Promotion by swapping lanes: the canary's lane is the stable one afterwards.
    swap: bool = False


def _begin(
    rollout: Rollout, move: Move, *, actor: str, reason: str, public_note: str = ""
) -> dict[str, Any]:
    """Under the row lock: records what is about to happen (the intent) and nothing else. The
    side effects happen after this commits, without the lock; a controller finding an intent
    left by a process that died carries it out again (every step is idempotent)."""
    intent: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "action": move.action,
        "state": move.state,
        "phase": move.phase,
        "weight": move.weight,
        # Which lane is stable once this is done: the roles the driver expresses weight in.
        "swapped": lanes.is_swapped() != move.swap,
        "actor": actor,
        "reason": reason,
        "public_note": public_note,
        "before": events.snapshot(rollout),
        "at": rfc3339(timezone.now()),
    }
    rollout.intent = intent
    rollout.save(update_fields=["intent"])
    return intent


def _current(rollout_id: int, intent: dict[str, Any]) -> bool:
    mine: Any = Rollout.objects.filter(pk=rollout_id).values_list("intent", flat=True).first()
    return isinstance(mine, dict) and mine.get("id") == intent["id"]


class SupersededError(RolloutError):
    """Another action (an abort or a rollback) replaced this one while it was carried out."""


def checkpoint(step: str, intent: dict[str, Any]) -> None:
    """A named point between two side effects of an intent. Nothing happens here; the
    fault-injection tests make it raise, to kill the transition at each step in turn."""


class _Lease:
    """The traffic lease on the `TrafficLanes` row: taken and given back in short
    transactions, held (not locked) while the driver works. A holder that died loses it when
    it expires, after the driver's own deadline."""

    def __init__(self, rollout_id: int, intent: dict[str, Any]) -> None:
        self.rollout_id = rollout_id
        self.intent = intent
        self.holder = str(intent["id"])
        self.seconds = settings.ROLLOUT_DRIVER_TIMEOUT_SECONDS + 5

    def __enter__(self) -> None:
        # Any lease taken before this one started waiting has expired by then.
        give_up = time.monotonic() + self.seconds + 1
        while True:
            with transaction.atomic():
                row, _ = TrafficLanes.objects.select_for_update().get_or_create(pk=1)
                # Checked with the lease: a superseded intent never moves traffic, and one that
                # is current moves it before the action that supersedes it can.
                if not _current(self.rollout_id, self.intent):
                    raise SupersededError(
                        f"{self.intent['action']} was superseded; traffic not moved"
                    )
                now = timezone.now()
                free = not row.lease_holder or row.lease_holder == self.holder
                if free or (row.lease_expires_at is not None and row.lease_expires_at < now):
                    row.lease_holder = self.holder
                    row.lease_expires_at = now + timedelta(seconds=self.seconds)
                    row.save(update_fields=["lease_holder", "lease_expires_at"])
                    return
                holder = row.lease_holder
            if time.monotonic() > give_up:
                raise DriverError(f"traffic is being moved by another action ({holder})")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        TrafficLanes.objects.filter(pk=1, lease_holder=self.holder).update(
            lease_holder="", lease_expires_at=None
        )


def _set_weight(rollout: Rollout, intent: dict[str, Any], weight: int, roles: lanes.Lanes) -> str:
    """Moves traffic: one driver call at a time across every process, and only while this
    intent is still the rollout's own (a superseded advance never moves traffic after the
    abort that replaced it). No database lock is held during the call."""
    with _Lease(rollout.pk, intent):
        return drive(driver_for(rollout.driver), rollout, weight, roles)


def _carry_out(rollout_id: int, intent: dict[str, Any]) -> Rollout:
    """The side effects of an intent, outside any lock: the entered phase's commands, the
    traffic move (in the roles the intent leaves the lanes in), rollback or cleanup commands;
    then the outcome, under the lock."""
    rollout = Rollout.objects.select_related("plan", "release").get(pk=rollout_id)
    state, phase, weight = intent["state"], intent["phase"], intent["weight"]
    swapped_now = lanes.is_swapped()
    roles = lanes.roles(bool(intent.get("swapped", swapped_now)))
    promoting = state == S.SUCCEEDED
    outputs: list[str] = []
    checkpoint("intent_recorded", intent)
    try:
        if phase is not None and phase != rollout.phase_index:
            entering = rollout.plan.phases.filter(order=phase).first()
            if entering is not None and entering.commands:
                outputs.append(
                    run_plan_commands(
                        rollout, entering.commands, weight=entering.weight, roles=roles
                    )
                )
                checkpoint("commands_run", intent)
        if weight is not None and (weight != rollout.weight or roles.swapped != swapped_now):
            try:
                outputs.append(_set_weight(rollout, intent, weight, roles))
            except DriverError as exc:
                if promoting:
                    raise RolloutError(f"Promotion failed, the driver refused: {exc}") from exc
                if state not in {S.ABORTED, S.ROLLED_BACK}:
                    raise RolloutError(
                        f"The {rollout.driver} driver could not set {weight}%: {exc}"
                    ) from exc
                # Going back to stable must always be possible: wait in "rollback pending"
                # (the lane stays held, the weight says where traffic really is), retried by
                # the controller with back-off, alerted, and forceable by a person.
                with transaction.atomic():
                    locked = _locked(rollout_id)
                    if not _ours(locked, intent):
                        raise SupersededError(
                            f"{intent['action']} was superseded; its outcome is dropped"
                        ) from exc
                    locked.intent = None
                    return _rollback_pending(
                        locked,
                        intent["action"],
                        intent["actor"],
                        intent["reason"],
                        state,
                        intent["before"],
                        exc,
                    )
            checkpoint("traffic_moved", intent)
            rollout.weight = weight
        if state in {S.ABORTED, S.ROLLED_BACK} and rollout.plan.rollback_commands:
            # Traffic is already back on stable; a failing rollback command is recorded.
            try:
                outputs.append(
                    run_plan_commands(
                        rollout, rollout.plan.rollback_commands, weight=0, roles=roles
                    )
                )
            except CommandFailedError as exc:
                outputs.append(str(exc))
            checkpoint("rollback_commands_run", intent)
        if promoting:
            outputs.append(
                f"promoted: lanes swapped, stable is now {roles.stable_upstream}"
                if roles.swapped != swapped_now
                else "promoted: traffic back on the redeployed stable lane"
            )
            if rollout.plan.cleanup_commands:
                try:
                    outputs.append(
                        run_plan_commands(
                            rollout, rollout.plan.cleanup_commands, weight=0, roles=roles
                        )
                    )
                except CommandFailedError as exc:
                    outputs.append(str(exc))
                checkpoint("cleanup_run", intent)
    except (CommandFailedError, RolloutError):
        # Nothing is recorded as done: the intent is dropped and the caller decides (a failed
        # deploy command rolls back).
        _drop(rollout_id, intent)
        raise
    return _finish(rollout_id, intent, weight=rollout.weight, output="\n".join(outputs))


def _ours(rollout: Rollout, intent: dict[str, Any]) -> bool:
    mine: Any = rollout.intent
    return isinstance(mine, dict) and mine.get("id") == intent["id"]


def _drop(rollout_id: int, intent: dict[str, Any]) -> None:
    with transaction.atomic():
        locked = _locked(rollout_id)
        if _ours(locked, intent):
            locked.intent = None
            locked.save(update_fields=["intent"])


def _finish(rollout_id: int, intent: dict[str, Any], *, weight: int, output: str) -> Rollout:
    """Under the row lock: the outcome of an intent that is still the rollout's own."""
    with transaction.atomic():
        rollout = _locked(rollout_id)
        if not _ours(rollout, intent):
            raise SupersededError(f"{intent['action']} was superseded; its outcome is dropped")
        state, phase, action = intent["state"], intent["phase"], intent["action"]
        if "swapped" in intent and intent["swapped"] != lanes.is_swapped():
            # The promotion's swap, in the same commit as its success (see the module's
            # invariants): the driver already routes by the new roles.
            lanes.record_swapped(bool(intent["swapped"]))
        rollout.intent = None
        rollout.weight = weight
        if phase is not None and phase != rollout.phase_index:
            rollout.phase_index = phase
            rollout.phase_started_at = timezone.now()
            rollout.gate_failures = 0
        if state is not None:
            rollout.state = state
            finished = timezone.now()
            if rollout.is_terminal:
                rollout.finished_at = finished
            if state == S.SUCCEEDED and settings.ROLLOUT_WATCH_HOURS:
                # The stability watch: `rollout tick` keeps judging the new version's SLOs.
                rollout.watch_until = finished + timedelta(hours=settings.ROLLOUT_WATCH_HOURS)
                Release.objects.filter(pk=rollout.release_id).update(
                    stability=Release.Stability.WATCHING
                )
            if state == S.SUCCEEDED:
                # An earlier release still under watch no longer serves: its watch is over.
                Release.objects.filter(stability=Release.Stability.WATCHING).exclude(
                    pk=rollout.release_id
                ).update(stability=Release.Stability.SUPERSEDED)
        rollout.save()
        events.record(
            rollout=rollout,
            actor=intent["actor"],
            action=action,
            reason=intent["reason"],
            before=intent["before"],
            after=events.snapshot(rollout),
            output=output,
        )
        event = {
            "start": "started",
            "complete": "completed",
            "rollback": "rolled_back",
            "abort": "aborted",
            # Every wait for a person is announced to the operators.
            "pause": "waiting",
        }.get(action)
        if event:
            notify(event, rollout, intent["reason"], public_note=intent.get("public_note", ""))
        return rollout


_background: ContextVar[bool] = ContextVar("rollout_actions_in_background", default=False)


@contextmanager
def carried_out_in_background() -> Iterator[None]:
    """Within this block, a transition returns as soon as its intent is committed and its side
    effects run in a thread of their own (the console: a page never waits for `kubectl`).
    ROLLOUT_ACTIONS_IN_BACKGROUND=false keeps them inline."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


def _roll_back_after_failure(rollout_id: int, actor: str, reason: str) -> Rollout:
    """A deploy command failed: the rollout takes the rollback path from wherever it is
    (pending included), never waiting for a person."""
    with transaction.atomic():
        rollout = _locked(rollout_id)
        intent = _begin(
            rollout, Move("rollback", state=S.ROLLED_BACK, weight=0), actor=actor, reason=reason
        )
    return _carry_out(rollout_id, intent)


def _carry_out_in_thread(rollout_id: int, intent: dict[str, Any]) -> None:
    def work() -> None:
        try:
            try:
                _carry_out(rollout_id, intent)
            except CommandFailedError as exc:
                _roll_back_after_failure(
                    rollout_id, intent["actor"], f"{intent['action']} failed: {exc}"
                )
        except RolloutError as exc:
            logger.warning("Rollout %s: %s did not complete: %s", rollout_id, intent["action"], exc)
        except Exception:
            logger.exception("Rollout %s: %s failed", rollout_id, intent["action"])
        finally:
            connections.close_all()

    threading.Thread(target=work, name=f"rollout-{rollout_id}", daemon=True).start()


def _transition(
    rollout_id: int,
    action: str,
    decide: Callable[[Rollout], Move],
    *,
    actor: str,
    reason: str = "",
    expected_phase: int | None = None,
    expected_state: str | None = None,
    public_note: str = "",
) -> Rollout:
    """One transition: checked and its intent recorded under the row lock, its side effects
    carried out after that commits, its outcome recorded under the lock again."""
    with transaction.atomic():
        rollout = _locked(rollout_id)
        _check(rollout, action, expected_phase, expected_state)
        intent = _begin(
            rollout, decide(rollout), actor=actor, reason=reason, public_note=public_note
        )
    if _background.get() and settings.ROLLOUT_ACTIONS_IN_BACKGROUND:
        _carry_out_in_thread(rollout_id, intent)
        return Rollout.objects.select_related("release", "plan").get(pk=rollout_id)
    return _carry_out(rollout_id, intent)


def intent_is_stale(rollout: Rollout) -> bool:
    """Whether the process carrying out the rollout's intent must have died: it is older
    than every command it could run, each at the plan's timeout, plus a grace period."""
    intent: Any = rollout.intent
    if not isinstance(intent, dict):
        return False
    plan = rollout.plan
    commands = sum(len(p.commands) for p in plan.phases.all())
    commands += len(plan.rollback_commands) + len(plan.cleanup_commands)
    limit = plan.command_timeout * commands + settings.ROLLOUT_INTENT_GRACE_SECONDS
    # The driver call, and the wait for the traffic lease before it.
    limit += 2 * (settings.ROLLOUT_DRIVER_TIMEOUT_SECONDS + 5)
    started = datetime.fromisoformat(intent["at"])
    return (timezone.now() - started).total_seconds() > limit


def resume_intent(rollout: Rollout) -> Rollout:
    """Carries out again an intent whose process died (the controller calls this); every
    step is idempotent (commands set a state, the driver sets a weight)."""
    intent: Any = rollout.intent
    if not isinstance(intent, dict):
        return rollout
    return _carry_out(rollout.pk, intent)


def _rollback_pending(
    rollout: Rollout,
    action: str,
    actor: str,
    reason: str,
    target: str,
    before: dict[str, Any],
    error: DriverError,
) -> Rollout:
    first = rollout.state != S.ROLLBACK_PENDING
    rollout.state = S.ROLLBACK_PENDING
    rollout.rollback_target = target
    rollout.save()
    events.record(
        rollout=rollout,
        actor=actor,
        action="rollback_pending" if first else "rollback_retry",
        reason=reason,
        before=before,
        after=events.snapshot(rollout),
        output=f"The {rollout.driver} driver could not set 0%: {error}",
    )
    if first:
        notify("rollback_pending", rollout, f"{reason} — driver: {error}")
    return rollout


@transaction.atomic
def rollout_force_rollback(*, rollout_id: int, actor: str, reason: str) -> Rollout:
    """For a person who has moved the traffic back by hand while the driver kept refusing:
    records the rollback as done (weight 0) without calling the driver."""
    if not reason.strip():
        raise RolloutError("Forcing a rollback needs a reason (what was done by hand)")
    rollout = _locked(rollout_id)
    if rollout.state != S.ROLLBACK_PENDING:
        raise RolloutError(f"Rollout {rollout.pk} is {rollout.state}, not rollback pending")
    before = events.snapshot(rollout)
    rollout.state = rollout.rollback_target or S.ROLLED_BACK
    rollout.intent = None
    rollout.weight = 0
    rollout.finished_at = timezone.now()
    rollout.save()
    events.record(
        rollout=rollout,
        actor=actor,
        action="rollback_forced",
        reason=reason,
        before=before,
        after=events.snapshot(rollout),
        output="The driver was not called: a person says traffic is back on stable.",
    )
    notify("rolled_back" if rollout.state == S.ROLLED_BACK else "aborted", rollout, reason)
    return rollout


def rollout_create(
    *,
    version: str,
    actor: str,
    image: str = "",
    plan: RolloutPlan | None = None,
    driver: str = "record",
    baseline_version: str = "",
    force_reason: str = "",
) -> Rollout:
    """A rollout of `version`, pending. Refused: an unknown driver, a plan with lint errors
    (its warnings go into the create event), and without `force_reason` a release that is the
    version stable runs or older than it."""
    driver_for(driver)  # refuse an unknown driver before anything is written
    try:
        validate_version(version)
        if baseline_version:
            validate_version(baseline_version)
        if image:
            validate_image(image)
    except ValidationError as exc:
        raise RolloutError(" ".join(exc.messages)) from None
    plan = plan or RolloutPlan.objects.filter(is_default=True).first()
    if plan is None:
        raise RolloutError("No rollout plan given and no default plan exists")
    findings = lint_plan(plan)
    errors = [finding for finding in findings if finding.severity == "error"]
    if errors:
        listed = "; ".join(f"{f.where}: {f.message}" for f in errors[:5])
        raise RolloutError(
            f"Plan {plan} has {len(errors)} error(s) (rollout lint --plan {plan}): {listed}"
        )
    if not baseline_version:
        # What it replaces: the last release that succeeded (the stable lane's version).
        last = Rollout.objects.filter(state=S.SUCCEEDED).select_related("release").first()
        baseline_version = last.release.version if last else ""
    problem = version_problem(version, baseline_version)
    if problem and not force_reason.strip():
        raise RolloutError(f"{problem}. To roll it out anyway, force it with a reason.")
    reason = f"Forced: {problem}: {force_reason.strip()}" if problem else ""
    warnings = "\n".join(str(f) for f in findings if f.severity == "warning")
    release, _ = Release.objects.get_or_create(version=version, defaults={"image": image})
    try:
        with transaction.atomic():
            rollout = Rollout.objects.create(
                release=release,
                plan=plan,
                driver=driver,
                started_by=actor,
                baseline_version=baseline_version,
                plan_digest=plan_digest(plan),
            )
            events.record(
                rollout=rollout,
                actor=actor,
                action="create",
                reason=reason,
                after=events.snapshot(rollout),
                output=f"Plan {plan} lint warnings:\n{warnings}" if warnings else "",
            )
    except IntegrityError:
        active = Rollout.objects.live().first()
        raise RolloutError(f"Another rollout is in flight: {active}") from None
    return rollout


def rollout_start(*, rollout_id: int, actor: str, expected_phase: int | None = None) -> Rollout:
    """Enters phase 1. If its deploy commands fail, the rollout does not stay pending holding
    the lane: it takes the rollback path (rollback commands, an event, a notification) and
    the caller hears why."""

    def decide(rollout: Rollout) -> Move:
        first = rollout.plan.phases.order_by("order").first()
        if first is None:
            raise RolloutError(f"Plan {rollout.plan} has no phases")
        if (
            schema.gated(rollout)
            and not rollout.gate_results.filter(
                kind=schema.SMOKE, phase_index=0, verdict=GateResult.Verdict.PASS
            ).exists()
        ):
            raise RolloutError(
                f"Plan {rollout.plan} has a migration gate that has not passed: start the "
                "rollout with `rollout start` or from the console, which run it first"
            )
        return Move("start", state=S.RUNNING, phase=1, weight=first.weight)

    try:
        return _transition(rollout_id, "start", decide, actor=actor, expected_phase=expected_phase)
    except CommandFailedError as exc:
        _roll_back_after_failure(rollout_id, actor, f"Phase 1 could not start: {exc}")
        raise RolloutError(f"Phase 1 failed and the rollout was rolled back: {exc}") from exc


def rollout_advance(
    *,
    rollout_id: int,
    actor: str,
    expected_phase: int | None = None,
    reason: str = "",
    expected_state: str | None = None,
) -> Rollout:
    """Moves to the next phase, or finishes after the last one. `expected_phase` is the phase
    the caller saw: if the rollout has moved on meanwhile, nothing happens, so two people (or
    two controllers) pressing "advance" at once advance it once."""

    def decide(rollout: Rollout) -> Move:
        phases = list(rollout.plan.phases.order_by("order"))
        if rollout.phase_index >= len(phases):
            swap = rollout.plan.promotion == RolloutPlan.Promotion.SWAP_LANES
            return Move("complete", state=S.SUCCEEDED, weight=0, swap=swap)
        nxt = phases[rollout.phase_index]
        return Move("advance", state=S.RUNNING, phase=rollout.phase_index + 1, weight=nxt.weight)

    failing = _failing_gates(rollout_id)
    if failing and actor != CONTROLLER:
        # A person overriding a failed gate says why, and the log says it was an override.
        if not reason.strip():
            raise RolloutError(
                f"The current phase has failing gate(s): {', '.join(failing)}. Advancing over "
                "them needs a reason (--reason)."
            )
        reason = f"Advanced by hand over a failing gate ({', '.join(failing)}): {reason.strip()}"
    return _transition(
        rollout_id,
        "advance",
        decide,
        actor=actor,
        reason=reason,
        expected_phase=expected_phase,
        expected_state=expected_state,
    )


def _failing_gates(rollout_id: int) -> list[str]:
    """The gates of the rollout's current phase whose latest result failed."""
    rollout = Rollout.objects.filter(pk=rollout_id).only("phase_index").first()
    if rollout is None:
        return []
    latest: dict[Any, GateResult] = {}
    results = GateResult.objects.filter(rollout_id=rollout_id, phase_index=rollout.phase_index)
    for result in results.order_by("created_at", "id"):
        latest[result.gate_id or result.kind] = result
    return [r.kind for r in latest.values() if r.verdict == GateResult.Verdict.FAIL]


def rollout_pause(
    *,
    rollout_id: int,
    actor: str,
    reason: str = "",
    expected_phase: int | None = None,
    expected_state: str | None = None,
) -> Rollout:
    return _transition(
        rollout_id,
        "pause",
        lambda _: Move("pause", state=S.PAUSED),
        actor=actor,
        reason=reason,
        expected_phase=expected_phase,
        expected_state=expected_state,
    )


def rollout_resume(
    *, rollout_id: int, actor: str, reason: str = "", expected_phase: int | None = None
) -> Rollout:
    def decide(rollout: Rollout) -> Move:
        changed = plan_changed(rollout)
        if changed:
            raise RolloutError(changed)
        return Move("resume", state=S.RUNNING)

    return _transition(
        rollout_id,
        "resume",
        decide,
        actor=actor,
        reason=reason,
        expected_phase=expected_phase,
    )


def rollout_abort(
    *,
    rollout_id: int,
    actor: str,
    reason: str,
    expected_phase: int | None = None,
    expected_state: str | None = None,
    public_note: str = "",
) -> Rollout:
    if not reason.strip():
        raise RolloutError("An abort needs a reason")
    return _transition(
        rollout_id,
        "abort",
        lambda _: Move("abort", state=S.ABORTED, weight=0),
        actor=actor,
        reason=reason,
        expected_phase=expected_phase,
        expected_state=expected_state,
        public_note=public_note,
    )


def rollout_rollback(
    *,
    rollout_id: int,
    actor: str,
    reason: str,
    expected_phase: int | None = None,
    expected_state: str | None = None,
    public_note: str = "",
) -> Rollout:
    return _transition(
        rollout_id,
        "rollback",
        lambda _: Move("rollback", state=S.ROLLED_BACK, weight=0),
        actor=actor,
        reason=reason,
        expected_phase=expected_phase,
        expected_state=expected_state,
        public_note=public_note,
    )


def rollout_act(
    action: str,
    *,
    rollout_id: int,
    actor: str,
    reason: str = "",
    expected_phase: int | None = None,
    public_note: str = "",
) -> Rollout:
    """A person's action by name, for the CLI and the console alike. `expected_phase` is the
    phase the person saw; it is checked under the row lock, for every action. `public_note`
    (abort, rollback) is what the public status page says instead of its default sentence."""
    common: dict[str, Any] = {
        "rollout_id": rollout_id,
        "actor": actor,
        "expected_phase": expected_phase,
    }
    if action == "start":
        return rollout_start(**common)
    if action == "advance":
        return rollout_advance(**common, reason=reason)
    if action == "pause":
        return rollout_pause(**common, reason=reason)
    if action == "resume":
        return rollout_resume(**common, reason=reason)
    if action == "abort":
        return rollout_abort(**common, reason=reason, public_note=public_note)
    if action == "rollback":
        return rollout_rollback(**common, reason=reason, public_note=public_note)
    raise RolloutError(f"Unknown action {action!r}; known: {', '.join(TRANSITIONS)}")
