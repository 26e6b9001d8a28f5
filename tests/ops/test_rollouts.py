from __future__ import annotations

import itertools
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ops.models import Rollout, RolloutEvent, RolloutPlan
from ops.rollouts.services import (
    TARGETS,
    RolloutError,
    rollout_abort,
    rollout_act,
    rollout_advance,
    rollout_create,
    rollout_pause,
    rollout_resume,
    rollout_rollback,
    rollout_start,
)

S = Rollout.State
ACTIONS = {
    "start": lambda r: rollout_start(rollout_id=r.pk, actor="t"),
    "advance": lambda r: rollout_advance(rollout_id=r.pk, actor="t"),
    "pause": lambda r: rollout_pause(rollout_id=r.pk, actor="t"),
    "resume": lambda r: rollout_resume(rollout_id=r.pk, actor="t"),
    "abort": lambda r: rollout_abort(rollout_id=r.pk, actor="t", reason="test"),
    "rollback": lambda r: rollout_rollback(rollout_id=r.pk, actor="t", reason="gate failed"),
}


def new_rollout(state: str = S.PENDING) -> Rollout:
    rollout = rollout_create(version="1.0.0", actor="alice", baseline_version="0.9.0")
    if state != S.PENDING:
        Rollout.objects.filter(pk=rollout.pk).update(state=state, phase_index=1, weight=5)
        rollout.refresh_from_db()
    return rollout


@pytest.mark.django_db
def test_the_default_plan_is_the_seeds() -> None:
    plan = RolloutPlan.objects.get(is_default=True)
    assert [p.weight for p in plan.phases.order_by("order")] == [5, 25, 50, 100]


@pytest.mark.django_db
def test_a_rollout_walks_every_phase_to_success_with_an_event_each_step() -> None:
    rollout = new_rollout()
    rollout = rollout_start(rollout_id=rollout.pk, actor="alice")
    weights = [rollout.weight]
    while rollout.state == S.RUNNING:
        rollout = rollout_advance(rollout_id=rollout.pk, actor="bob")
        weights.append(rollout.weight)
    # After the last phase, promotion: the canary's lane becomes the stable one, so the canary
    # weight is back to 0 with every request on the new version.
    assert weights == [5, 25, 50, 100, 0]
    assert rollout.state == S.SUCCEEDED
    assert rollout.finished_at is not None
    actions = list(rollout.events.values_list("action", flat=True))
    assert actions == ["create", "start", "advance", "advance", "advance", "complete"]
    start = rollout.events.get(action="start")
    assert (start.before["weight"], start.after["weight"], start.actor) == (0, 5, "alice")
    assert "record driver" in start.output


# The documented state machine, written out here rather than read from the code it checks.
LEGAL = {
    "start": {"pending"},
    "advance": {"running", "paused"},
    "pause": {"running"},
    "resume": {"paused"},
    "abort": {"pending", "running", "paused"},
    "rollback": {"running", "paused"},
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "action"),
    list(
        itertools.product(
            [S.PENDING, S.RUNNING, S.PAUSED, S.SUCCEEDED, S.ABORTED, S.ROLLED_BACK], ACTIONS
        )
    ),
)
def test_every_action_in_every_state_follows_the_table(state: str, action: str) -> None:
    rollout = new_rollout()
    Rollout.objects.filter(pk=rollout.pk).update(state=state, phase_index=1, weight=5)
    rollout.refresh_from_db()
    events_before = RolloutEvent.objects.count()
    if state in LEGAL[action]:
        moved = ACTIONS[action](rollout)
        assert RolloutEvent.objects.count() > events_before
        assert moved.state in TARGETS[action]  # the diagram's edges are the ones taken
        if action in {"abort", "rollback"}:
            assert moved.weight == 0
            assert moved.is_terminal
    else:
        with pytest.raises(RolloutError, match=f"Cannot {action}"):
            ACTIONS[action](rollout)
        after = Rollout.objects.get(pk=rollout.pk)
        assert (after.state, after.weight) == (state, 5)
        assert RolloutEvent.objects.count() == events_before


@pytest.mark.django_db
def test_only_one_rollout_can_be_in_flight() -> None:
    new_rollout()
    with pytest.raises(RolloutError, match="Another rollout is in flight"):
        rollout_create(version="1.0.1", actor="bob")


@pytest.mark.django_db
def test_an_abort_needs_a_reason_and_an_unknown_driver_is_refused() -> None:
    rollout = new_rollout(S.RUNNING)
    with pytest.raises(RolloutError, match="reason"):
        rollout_abort(rollout_id=rollout.pk, actor="t", reason=" ")
    rollout_abort(rollout_id=rollout.pk, actor="t", reason="done")
    with pytest.raises(ValueError, match="Unknown traffic driver"):
        rollout_create(version="2.0.0", actor="t", driver="carrier-pigeon")


@pytest.mark.django_db
def test_a_stale_advance_is_refused() -> None:
    rollout = new_rollout()
    rollout_start(rollout_id=rollout.pk, actor="t")
    rollout_advance(rollout_id=rollout.pk, actor="alice", expected_phase=1)
    with pytest.raises(RolloutError, match="already in phase 2"):
        rollout_advance(rollout_id=rollout.pk, actor="bob", expected_phase=1)
    assert Rollout.objects.get(pk=rollout.pk).phase_index == 2


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_advances_advance_once() -> None:
    # Transactional tests flush tables, the migration-seeded default plan included.
    plan, created = RolloutPlan.objects.get_or_create(name="default", is_default=True)
    if created:
        for order, weight in enumerate([5, 25, 50, 100], start=1):
            plan.phases.create(order=order, weight=weight, bake_seconds=60)
    rollout = new_rollout()
    rollout_start(rollout_id=rollout.pk, actor="t")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def press(actor: str) -> None:
        barrier.wait()
        try:
            rollout_advance(rollout_id=rollout.pk, actor=actor, expected_phase=1)
            outcomes.append("advanced")
        except RolloutError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(name,)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["advanced", "refused"]
    final = Rollout.objects.get(pk=rollout.pk)
    assert (final.phase_index, final.weight) == (2, 25)
    assert final.events.filter(action="advance").count() == 1


@pytest.mark.django_db
def test_the_command_drives_a_rollout_and_refuses_with_exit_status_2() -> None:
    out = StringIO()
    call_command("rollout", "--actor", "ops", "start", "1.0.0", "--image", "img:1", stdout=out)
    assert "1.0.0 running, phase 1/4, canary weight 5%" in out.getvalue()
    call_command("rollout", "pause", "--reason", "lunch", stdout=out)
    with pytest.raises(CommandError) as refused:
        call_command("rollout", "pause", stdout=out)
    assert refused.value.returncode == 2
    call_command("rollout", "resume", stdout=out)
    with pytest.raises(CommandError, match="--expect-phase"):
        call_command("rollout", "advance", stdout=out)  # a person names the phase they judged
    call_command("rollout", "advance", "--expect-phase", "1", stdout=out)
    status = StringIO()
    call_command("rollout", "status", "--json", stdout=status)
    import json

    body = json.loads(status.getvalue())
    assert (body["state"], body["phase"], body["weight"]) == ("running", 2, 25)
    assert [e["action"] for e in body["events"]][-3:] == ["pause", "resume", "advance"]
    call_command("rollout", "abort", "--reason", "changed my mind", stdout=out)
    with pytest.raises(CommandError, match="No rollout in flight"):
        call_command("rollout", "advance", "--expect-phase", "2", stdout=out)


def test_actions_by_name_reach_the_same_transitions(db: None) -> None:
    rollout = new_rollout()
    assert rollout_act("start", rollout_id=rollout.pk, actor="t").state == S.RUNNING
    assert rollout_act("pause", rollout_id=rollout.pk, actor="t").state == S.PAUSED
    with pytest.raises(RolloutError, match="Unknown action 'teleport'"):
        rollout_act("teleport", rollout_id=rollout.pk, actor="t")
    assert Rollout.objects.get(pk=rollout.pk).state == S.PAUSED


@pytest.mark.django_db
def test_the_kubernetes_plan_promotes_by_returning_to_prod_and_restores_it_on_rollback() -> None:
    plan = RolloutPlan.objects.get(name="kubernetes")
    assert plan.promotion == "return_to_stable"
    assert plan.rollback_commands[0] == (
        "kubectl set image deployment/portal-api-prod portal-api={baseline_image}"
    )
    assert plan.rollback_commands[-1] == "kubectl scale deployment portal-api-canary --replicas=0"
