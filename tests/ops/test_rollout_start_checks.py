"""What is checked before a rollout runs, and what holds while it runs: a plan with lint errors
is refused (its warnings are printed and logged), a release that is stable's own version or
older needs a reason, and a plan in use is not edited under its rollout; if it changes anyway
(a raw update), the controller pauses and alerts instead of judging by phases nobody
reviewed."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from ops.models import Gate, PlanInUseError, Release, Rollout, RolloutPhase
from ops.rollouts.plans import version_problem
from ops.rollouts.reconciler import tick
from ops.rollouts.services import (
    RolloutError,
    rollout_abort,
    rollout_advance,
    rollout_create,
    rollout_resume,
    rollout_start,
)
from tests.factories import RolloutPlanFactory

pytestmark = pytest.mark.django_db
S = Rollout.State


def succeeded(version: str) -> Rollout:
    plan = RolloutPlanFactory.create(phases=1)
    rollout = rollout_create(version=version, actor="alice", plan=plan, force_reason="setup")
    rollout = rollout_start(rollout_id=rollout.pk, actor="alice")
    return rollout_advance(rollout_id=rollout.pk, actor="alice", expected_phase=1)


@pytest.mark.parametrize(
    ("version", "baseline", "needs_reason"),
    [
        ("2.0.0", "2.0.0", True),  # the same version: nothing to compare, nothing to gain
        ("1.9.9", "2.0.0", True),  # a downgrade
        ("v1.2.0", "1.10.0", True),  # compared as numbers, not as text
        ("2.0.1", "2.0.0", False),
        ("10.0.0", "9.0.0", False),
        ("2.0.0", "", False),  # nothing known to compare with
        ("nightly", "2.0.0", False),  # no number: nothing to compare either
    ],
)
def test_the_version_check(version: str, baseline: str, needs_reason: bool) -> None:
    assert bool(version_problem(version, baseline)) is needs_reason


@pytest.mark.parametrize(("version", "why"), [("2.0.0", "already runs"), ("1.9.9", "downgrade")])
def test_a_release_not_newer_than_stable_needs_a_reason(version: str, why: str) -> None:
    succeeded("2.0.0")
    with pytest.raises(RolloutError, match=why):
        rollout_create(version=version, actor="bob")
    assert not Rollout.objects.live().exists()
    forced = rollout_create(version=version, actor="bob", force_reason="hotfix revert, INC-42")
    event = forced.events.get(action="create")
    assert event.reason.startswith("Forced: ")
    assert "hotfix revert, INC-42" in event.reason


def test_the_command_forces_with_a_reason_and_exits_2_without(db: None) -> None:
    succeeded("2.0.0")
    with pytest.raises(CommandError) as refused:
        call_command("rollout", "start", "2.0.0", stdout=StringIO())
    assert refused.value.returncode == 2
    out = StringIO()
    call_command("rollout", "start", "2.0.0", "--force", "rebuild of the same tag", stdout=out)
    assert "2.0.0 running, phase 1/4" in out.getvalue()


def test_a_plan_with_lint_errors_is_refused_at_start_and_its_warnings_are_printed() -> None:
    broken = RolloutPlanFactory.create(phases=2, weights=(5, 50))  # never reaches 100 %
    with pytest.raises(RolloutError, match="the last phase is at 50%"):
        rollout_create(version="2.0.0", actor="bob", plan=broken)
    assert not Rollout.objects.exists()
    assert not Release.objects.exists()

    warned = RolloutPlanFactory.create(phases=2)  # phases without gates: a warning
    err = StringIO()
    call_command("rollout", "start", "2.0.0", "--plan", warned.name, stdout=StringIO(), stderr=err)
    assert "lint warnings" in err.getvalue()
    assert "warning: phase 1" in Rollout.objects.get().events.get(action="create").output


@pytest.mark.parametrize(
    "edit",
    ["change a phase", "delete a phase", "add a gate", "change a gate", "change the plan"],
)
def test_a_plan_in_use_is_not_edited_under_its_rollout(edit: str) -> None:
    plan = RolloutPlanFactory.create(gates=[("smoke", {})])
    rollout = rollout_start(
        rollout_id=rollout_create(version="2.0.0", actor="a", plan=plan).pk, actor="a"
    )
    phase = plan.phases.get(order=2)
    gate = phase.gates.get()

    def change_phase() -> None:
        phase.weight = 30
        phase.save()

    def change_gate() -> None:
        gate.params = {"iterations": 1}
        gate.save()

    def change_plan() -> None:
        plan.max_gate_failures = 9
        plan.save()

    actions: dict[str, Callable[[], object]] = {
        "change a phase": change_phase,
        "delete a phase": phase.delete,
        "add a gate": lambda: Gate.objects.create(phase=phase, kind="canary_health"),
        "change a gate": change_gate,
        "change the plan": change_plan,
    }
    with pytest.raises(PlanInUseError, match="in use by a rollout in flight"):
        actions[edit]()
    assert plan.phases.count() == 4
    rollout_abort(rollout_id=rollout.pk, actor="a", reason="done")
    actions[edit]()  # once it has finished, the plan is the operators' again


@pytest.mark.django_db(transaction=True)
def test_a_plan_changed_under_a_running_rollout_pauses_it_until_restored(
    live_server: Any, settings: Any
) -> None:
    settings.ROLLOUT_CANARY_URL = settings.ROLLOUT_STABLE_URL = live_server.url
    plan = RolloutPlanFactory.create(bake=3600)
    version = settings.APP_VERSION  # what the live server (the canary) reports
    rollout = rollout_start(
        rollout_id=rollout_create(version=version, actor="a", plan=plan).pk, actor="a"
    )
    rollout = rollout_advance(rollout_id=rollout.pk, actor="a", expected_phase=1)
    # Past the model's refusal (a raw delete, a script): phases 3 and 4 are gone.
    removed = list(plan.phases.filter(order__gt=2).values("order", "weight", "bake_seconds"))
    RolloutPhase.objects.filter(plan=plan, order__gt=2).delete()
    result = tick()
    assert result.action == "paused"
    assert "changed while rollout" in result.detail
    rollout.refresh_from_db()
    assert (rollout.state, rollout.phase_index, rollout.weight) == (S.PAUSED, 2, 25)
    assert rollout.events.filter(action="pause", actor="controller").exists()
    with pytest.raises(RolloutError, match="Restore the plan"):
        rollout_resume(rollout_id=rollout.pk, actor="a", expected_phase=2)
    RolloutPhase.objects.bulk_create(RolloutPhase(plan=plan, **row) for row in removed)
    assert rollout_resume(rollout_id=rollout.pk, actor="a", expected_phase=2).state == S.RUNNING
    assert tick().action == "waiting"
