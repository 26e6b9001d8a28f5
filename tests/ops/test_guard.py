"""The controller's safety promises, against the real application (pytest-django's live_server
is the canary): the guard judges hard signals on every tick, bake or not; a pause wins over a
tick judged before it; a paused rollout has a deadline; a failing phase-1 command rolls back.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from ops.models import Release, Rollout, RolloutEvent, StatusEntry
from ops.rollouts import reconciler
from ops.rollouts.gates import GateContext, run_gate
from ops.rollouts.probes import probe_credentials
from ops.rollouts.reconciler import tick
from ops.rollouts.services import (
    RolloutError,
    rollout_abort,
    rollout_advance,
    rollout_create,
    rollout_pause,
    rollout_rollback,
    rollout_start,
)
from ops.slo.sources import default_source
from tests.factories import MetricRollupFactory, RolloutPlanFactory

pytestmark = pytest.mark.django_db(transaction=True)
S = Rollout.State
DAY = 86400


@pytest.fixture(autouse=True)
def _canary(live_server: Any, settings: Any) -> None:
    settings.ROLLOUT_CANARY_URL = live_server.url
    settings.ROLLOUT_STABLE_URL = live_server.url
    settings.RATE_LIMITS = {"default": "1000/m", "files": "120/m"}


def started(bake: int = DAY, gates: Any = (), **plan: Any) -> Rollout:
    the_plan = RolloutPlanFactory.create(bake=bake, gates=list(gates), **plan)
    rollout = rollout_create(version="1.0.0", actor="alice", plan=the_plan)
    return rollout_start(rollout_id=rollout.pk, actor="alice")


def test_a_canary_answering_5xx_is_rolled_back_during_a_day_long_bake() -> None:
    rollout = started(bake=DAY)
    assert tick().action == "waiting"  # healthy so far: it bakes
    MetricRollupFactory.create(
        version="1.0.0",
        endpoint="/v*/contacts",
        status_class="5xx",
        count=40,
        minute=timezone.now().replace(second=0, microsecond=0),
    )
    result = tick()
    assert result.action == "rolled_back"
    assert "error_rate" in result.detail
    rollout.refresh_from_db()
    assert (rollout.state, rollout.weight) == (S.ROLLED_BACK, 0)
    breach = rollout.gate_results.get(kind="error_rate")
    assert (breach.verdict, breach.observed) == ("fail", "100.000% (40 of 40)")


def test_a_few_errors_under_the_guards_threshold_do_not_roll_back() -> None:
    started(bake=DAY)
    minute = timezone.now().replace(second=0, microsecond=0)
    MetricRollupFactory.create(version="1.0.0", status_class="2xx", count=99, minute=minute)
    MetricRollupFactory.create(version="1.0.0", status_class="5xx", count=1, minute=minute)
    assert tick().action == "waiting"


@pytest.mark.parametrize(("stable_5xx", "rolled_back"), [(40, False), (0, True)])
def test_the_guard_counts_only_the_canarys_5xx_above_stables(
    stable_5xx: int, rolled_back: bool
) -> None:
    """A client's costly requests fail on both lanes alike (a statement stopped by the
    database's limits is a 503 wherever it runs): they must not pull a healthy canary."""
    the_plan = RolloutPlanFactory.create(bake=DAY)
    rollout = rollout_create(
        version="1.0.0", actor="alice", plan=the_plan, baseline_version="0.9.0"
    )
    rollout_start(rollout_id=rollout.pk, actor="alice")
    minute = timezone.now().replace(second=0, microsecond=0)
    for version, failing in (("1.0.0", 40), ("0.9.0", stable_5xx)):
        MetricRollupFactory.create(version=version, status_class="2xx", count=60, minute=minute)
        if failing:
            MetricRollupFactory.create(
                version=version, status_class="5xx", count=failing, minute=minute
            )
    result = tick()
    assert (result.action == "rolled_back") is rolled_back, result
    if not rolled_back:
        assert result.action == "waiting"


def test_a_pause_wins_over_a_tick_that_judged_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    rollout = started(bake=0, gates=[("tenant_isolation", {})])
    real = reconciler.evaluate_phase

    def a_person_pauses_meanwhile(*args: Any, **kwargs: Any) -> Any:
        results = real(*args, **kwargs)
        rollout_pause(rollout_id=rollout.pk, actor="bob", reason="looks odd")
        return results

    monkeypatch.setattr(reconciler, "evaluate_phase", a_person_pauses_meanwhile)
    result = tick()
    assert result.action == "idle"
    assert "paused now, not running" in result.detail
    rollout.refresh_from_db()
    assert (rollout.state, rollout.phase_index, rollout.weight) == (S.PAUSED, 1, 5)
    assert not rollout.events.filter(action="advance").exists()


def test_a_paused_rollout_is_guarded_and_says_it_waits_for_a_person() -> None:
    rollout = started(bake=0)
    rollout_pause(rollout_id=rollout.pk, actor="bob", reason="lunch")
    result = tick()
    assert (result.action, result.detail) == ("paused", "paused, waiting for a person")


def test_a_rollout_paused_past_its_deadline_is_aborted(settings: Any) -> None:
    settings.ROLLOUT_PAUSE_DEADLINE_SECONDS = 600
    rollout = started(bake=0)
    rollout_pause(rollout_id=rollout.pk, actor="bob", reason="lunch")
    RolloutEvent.objects.filter(rollout=rollout, action="pause").update(
        at=timezone.now() - timedelta(seconds=601)
    )
    result = tick()
    assert result.action == "aborted"
    rollout.refresh_from_db()
    assert (rollout.state, rollout.weight) == (S.ABORTED, 0)


def test_two_advances_from_the_same_phase_advance_once() -> None:
    rollout = started(bake=0)
    call_command("rollout", "advance", str(rollout.pk), "--expect-phase", "1", stdout=StringIO())
    with pytest.raises(CommandError) as caught:
        call_command(
            "rollout", "advance", str(rollout.pk), "--expect-phase", "1", stdout=StringIO()
        )
    assert caught.value.returncode == 2
    assert "already in phase 2" in str(caught.value)
    rollout.refresh_from_db()
    assert (rollout.phase_index, rollout.weight) == (2, 25)


def test_a_controller_decision_needs_the_state_it_saw() -> None:
    rollout = started(bake=0)
    rollout_pause(rollout_id=rollout.pk, actor="bob")
    with pytest.raises(RolloutError, match="paused now, not running"):
        rollout_advance(rollout_id=rollout.pk, actor="controller", expected_state=S.RUNNING)


def test_a_failing_phase_one_command_rolls_back_and_frees_the_lane(
    django_capture_on_commit_callbacks: Any,
) -> None:
    the_plan = RolloutPlanFactory.create(phase_commands={1: ["false"]})
    rollout = rollout_create(version="2.0.0", actor="alice", plan=the_plan)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RolloutError, match="Phase 1 failed and the rollout was rolled back"),
    ):
        rollout_start(rollout_id=rollout.pk, actor="alice")
    rollout.refresh_from_db()
    assert (rollout.state, rollout.weight) == (S.ROLLED_BACK, 0)
    assert rollout.events.filter(action="rollback").exists()
    assert StatusEntry.objects.filter(kind="rollback").exists()  # notified
    # The lane is free for the next attempt.
    assert rollout_create(version="2.0.1", actor="alice", plan=the_plan).state == S.PENDING


def test_an_inconclusive_pause_tells_the_operators(
    django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    latency = {"endpoint": "/v*/contacts", "threshold_ms": 300, "min_samples": 50}
    started(bake=0, gates=[("latency", latency)], max_bake_extension_seconds=0)
    with (
        caplog.at_level(logging.INFO, logger="portal.rollouts"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tick().action == "paused"
    assert "is paused, waiting for a person" in caplog.text
    # ...on the operators' channels only, never on the public status page.
    assert not StatusEntry.objects.filter(title__contains="waiting").exists()


def test_the_metrics_gate_sends_the_metrics_token(settings: Any) -> None:
    settings.METRICS_TOKEN = "metrics-secret"
    rollout = started(bake=0)
    context = GateContext(
        rollout=rollout,
        canary_url=settings.ROLLOUT_CANARY_URL,
        stable_url=settings.ROLLOUT_STABLE_URL,
        source=default_source(),
        probes=probe_credentials(),
        timeout=5,
    )
    assert run_gate("metrics_export", context, {}).verdict == "pass"


def test_the_baseline_defaults_to_the_last_succeeded_release() -> None:
    first = started(bake=0, phases=1)
    rollout_advance(rollout_id=first.pk, actor="alice")
    assert Rollout.objects.get(pk=first.pk).state == S.SUCCEEDED
    second = rollout_create(version="1.1.0", actor="alice", plan=first.plan)
    assert second.baseline_version == "1.0.0"


def test_a_later_success_closes_the_earlier_releases_watch(settings: Any) -> None:
    settings.ROLLOUT_WATCH_HOURS = 24
    first = started(bake=0, phases=1)
    rollout_advance(rollout_id=first.pk, actor="alice")
    second = rollout_create(version="1.1.0", actor="alice", plan=first.plan)
    second = rollout_start(rollout_id=second.pk, actor="alice")
    rollout_advance(rollout_id=second.pk, actor="alice")
    stability = dict(Release.objects.values_list("version", "stability"))
    assert stability == {"1.0.0": "superseded", "1.1.0": "watching"}


def test_rollback_commands_can_restore_the_baseline_image() -> None:
    plan = RolloutPlanFactory.create(
        rollback_commands=["echo restoring prod to {baseline_image} ({baseline})"]
    )
    Release.objects.create(version="0.9.0", image="ghcr.io/acme/api:v0.9.0")
    rollout = rollout_create(version="1.0.0", actor="alice", plan=plan, baseline_version="0.9.0")
    rollout_start(rollout_id=rollout.pk, actor="alice")
    done = rollout_rollback(rollout_id=rollout.pk, actor="alice", reason="bad")
    output = done.events.get(action="rollback").output
    assert "restoring prod to ghcr.io/acme/api:v0.9.0 (0.9.0)" in output


def test_a_baseline_command_without_a_known_baseline_is_skipped_not_fatal() -> None:
    plan = RolloutPlanFactory.create(rollback_commands=["echo {baseline_image}", "echo after"])
    rollout = rollout_start(
        rollout_id=rollout_create(version="1.0.0", actor="alice", plan=plan).pk, actor="alice"
    )
    done = rollout_rollback(rollout_id=rollout.pk, actor="alice", reason="bad")
    output = done.events.get(action="rollback").output
    assert "skipped (no baseline release is known)" in output
    assert "after" in output


@pytest.fixture
def nginx_driver(settings: Any, tmp_path: Any) -> Any:
    settings.NGINX_UPSTREAM_FILE = str(tmp_path / "upstream.conf")
    settings.NGINX_TEST_COMMAND = "true"
    settings.NGINX_RELOAD_COMMAND = "true"
    return settings


def nginx_started(bake: int = DAY) -> Rollout:
    plan = RolloutPlanFactory.create(bake=bake)
    rollout = rollout_create(version="1.0.0", actor="alice", plan=plan, driver="nginx")
    return rollout_start(rollout_id=rollout.pk, actor="alice")


def test_a_refusing_driver_leaves_the_rollback_pending_then_retries_it(
    nginx_driver: Any, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    rollout = nginx_started()
    nginx_driver.NGINX_TEST_COMMAND = "false"  # the load balancer refuses from now on
    with django_capture_on_commit_callbacks(execute=True):
        pending = rollout_rollback(rollout_id=rollout.pk, actor="bob", reason="bad canary")
    assert (pending.state, pending.weight) == (S.ROLLBACK_PENDING, 5)  # where traffic really is
    assert "rollback of Portal API 1.0.0 is pending" in caplog.text  # an alert
    assert tick().action == "rollback_pending"  # backs off: no retry yet
    RolloutEvent.objects.filter(rollout=rollout, action="rollback_pending").update(
        at=timezone.now() - timedelta(seconds=11)
    )
    assert tick().action == "rollback_pending"  # retried; still refused
    assert rollout.events.filter(action="rollback_retry").count() == 1
    nginx_driver.NGINX_TEST_COMMAND = "true"  # fixed
    RolloutEvent.objects.filter(rollout=rollout).update(at=timezone.now() - timedelta(hours=1))
    assert tick().action == "rolled_back"
    rollout.refresh_from_db()
    assert (rollout.state, rollout.weight) == (S.ROLLED_BACK, 0)
    upstream = Path(nginx_driver.NGINX_UPSTREAM_FILE).read_text()
    assert "8002" not in upstream  # only the stable server is left


def test_abort_is_always_possible_even_when_the_driver_refuses(nginx_driver: Any) -> None:
    rollout = nginx_started()
    nginx_driver.NGINX_TEST_COMMAND = "false"
    pending = rollout_abort(rollout_id=rollout.pk, actor="bob", reason="stop")
    assert (pending.state, pending.rollback_target) == (S.ROLLBACK_PENDING, S.ABORTED)
    # A person who moved traffic by hand closes it; the lane is free again.
    call_command(
        "rollout",
        "rollback",
        str(rollout.pk),
        "--force",
        "--reason",
        "moved by hand",
        stdout=StringIO(),
    )
    rollout.refresh_from_db()
    assert (rollout.state, rollout.weight) == (S.ABORTED, 0)
    assert rollout.events.filter(action="rollback_forced").exists()
    assert rollout_create(version="1.0.1", actor="alice", plan=rollout.plan).state == S.PENDING


def test_a_person_pausing_tells_the_operators(
    caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    rollout = started(bake=DAY)
    with (
        caplog.at_level(logging.INFO, logger="portal.rollouts"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        rollout_pause(rollout_id=rollout.pk, actor="bob", reason="lunch")
    assert "is paused, waiting for a person" in caplog.text


def test_promotion_swaps_the_lanes_so_the_next_rollout_starts_from_the_new_version(
    nginx_driver: Any,
) -> None:
    nginx_driver.ROLLOUT_STABLE_UPSTREAM = "127.0.0.1:8001"
    nginx_driver.ROLLOUT_CANARY_UPSTREAM = "127.0.0.1:8002"
    rollout = nginx_started(bake=0)
    while rollout.state == S.RUNNING:
        rollout = rollout_advance(rollout_id=rollout.pk, actor="alice")
    assert (rollout.state, rollout.weight) == (S.SUCCEEDED, 0)
    upstream = Path(nginx_driver.NGINX_UPSTREAM_FILE).read_text()
    # Everything on the lane that ran the canary, now the stable one.
    assert "server 127.0.0.1:8002 weight=100;" in upstream
    assert "8001" not in upstream
    assert "promoted: lanes swapped" in rollout.events.get(action="complete").output
    # The next rollout's canary is the other lane: 5 % there, 95 % on the new stable.
    nxt = rollout_create(version="1.1.0", actor="alice", plan=rollout.plan, driver="nginx")
    rollout_start(rollout_id=nxt.pk, actor="alice")
    upstream = Path(nginx_driver.NGINX_UPSTREAM_FILE).read_text()
    assert "server 127.0.0.1:8002 weight=95;" in upstream
    assert "server 127.0.0.1:8001 weight=5;" in upstream


def test_the_kubernetes_plan_returns_traffic_to_the_redeployed_prod() -> None:
    plan = RolloutPlanFactory.create(
        promotion="return_to_stable", phases=1, phase_commands={1: ["true"]}
    )
    rollout = rollout_start(
        rollout_id=rollout_create(version="1.0.0", actor="alice", plan=plan).pk, actor="alice"
    )
    done = rollout_advance(rollout_id=rollout.pk, actor="alice")
    assert (done.state, done.weight) == (S.SUCCEEDED, 0)
    assert "traffic back on the redeployed stable lane" in done.events.get(action="complete").output


def test_side_effects_run_after_the_intent_commits_without_the_row_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ops.rollouts import services

    rollout = started(bake=0)
    seen: list[Any] = []
    real = services.run_plan_commands

    def observe(target: Rollout, commands: list[str], *, weight: int, roles: Any) -> str:
        # While the phase's commands run, the intent is on the row for everyone to see.
        seen.append(Rollout.objects.get(pk=target.pk).intent)
        return real(target, commands, weight=weight, roles=roles)

    monkeypatch.setattr(services, "run_plan_commands", observe)
    rollout.plan.phases.filter(order=2).update(commands=["true"])
    done = rollout_advance(rollout_id=rollout.pk, actor="alice")
    assert seen
    assert seen[0]["action"] == "advance"
    assert seen[0]["phase"] == 2
    assert (done.phase_index, done.weight, done.intent) == (2, 25, None)


def test_a_person_cannot_act_while_an_action_is_carried_out_but_can_abort() -> None:
    from ops.rollouts import services

    rollout = started(bake=0)
    with transaction.atomic():
        locked = Rollout.objects.select_for_update().get(pk=rollout.pk)
        intent = services._begin(
            locked,
            services.Move("advance", state=S.RUNNING, phase=2, weight=25),
            actor="alice",
            reason="",
        )
    with pytest.raises(RolloutError, match="busy: advance by alice"):
        rollout_pause(rollout_id=rollout.pk, actor="bob")
    aborted = rollout_abort(rollout_id=rollout.pk, actor="bob", reason="stop")
    assert (aborted.state, aborted.weight) == (S.ABORTED, 0)
    # The superseded advance, carried out late, moves no traffic and changes nothing.
    with pytest.raises(services.SupersededError):
        services._carry_out(rollout.pk, intent)
    rollout.refresh_from_db()
    assert (rollout.state, rollout.weight, rollout.phase_index) == (S.ABORTED, 0, 1)


def test_an_intent_whose_process_died_is_carried_out_by_the_next_tick() -> None:
    from ops.rollouts import services

    rollout = started(bake=DAY)
    with transaction.atomic():
        locked = Rollout.objects.select_for_update().get(pk=rollout.pk)
        services._begin(
            locked,
            services.Move("advance", state=S.RUNNING, phase=2, weight=25),
            actor="alice",
            reason="by hand",
        )
    # Not yet stale: the process might still be running its commands.
    assert tick().action != "resumed"
    intent = dict(Rollout.objects.get(pk=rollout.pk).intent or {})
    intent["at"] = (timezone.now() - timedelta(hours=1)).isoformat()
    Rollout.objects.filter(pk=rollout.pk).update(intent=intent)
    assert tick().action == "resumed"
    rollout.refresh_from_db()
    assert (rollout.phase_index, rollout.weight, rollout.intent) == (2, 25, None)
    assert rollout.events.filter(action="advance", actor="alice").exists()


def test_in_the_background_an_action_returns_before_its_slow_commands_finish(
    settings: Any,
) -> None:
    import time

    from ops.rollouts.services import carried_out_in_background

    settings.ROLLOUT_ACTIONS_IN_BACKGROUND = True
    rollout = started(bake=0)
    rollout.plan.phases.filter(order=2).update(commands=["sleep 2"])
    began = time.monotonic()
    with carried_out_in_background():
        answered = rollout_advance(rollout_id=rollout.pk, actor="olga")
    assert time.monotonic() - began < 1.5  # the console page does not wait for the commands
    assert answered.intent is not None
    assert answered.intent["action"] == "advance"
    deadline = time.monotonic() + 20
    while Rollout.objects.get(pk=rollout.pk).intent is not None:
        assert time.monotonic() < deadline, "the action never finished"
        time.sleep(0.2)
    rollout.refresh_from_db()
    assert (rollout.phase_index, rollout.weight) == (2, 25)
    assert "sleep 2" in rollout.events.get(action="advance").output


def test_a_promotion_the_driver_refuses_keeps_the_lanes_and_the_rollout_running(
    nginx_driver: Any,
) -> None:
    from ops.rollouts import lanes

    rollout = nginx_started(bake=0)
    for _ in range(3):
        rollout = rollout_advance(rollout_id=rollout.pk, actor="alice")
    assert (rollout.phase_index, rollout.weight) == (4, 100)
    nginx_driver.NGINX_TEST_COMMAND = "false"
    with pytest.raises(RolloutError, match="Promotion failed"):
        rollout_advance(rollout_id=rollout.pk, actor="alice")
    rollout.refresh_from_db()
    assert (rollout.state, rollout.phase_index, rollout.weight, rollout.intent) == (
        S.RUNNING,
        4,
        100,
        None,
    )
    assert lanes.current().swapped is False
