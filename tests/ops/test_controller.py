"""The reconciler against the real application (pytest-django's live_server as the canary)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from ops.models import GateResult, Release, Rollout, RolloutPlan
from ops.rollouts.reconciler import tick
from ops.rollouts.services import rollout_create, rollout_start
from tests.factories import RolloutPlanFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _canary(live_server: Any, settings: Any) -> None:
    settings.ROLLOUT_CANARY_URL = live_server.url
    settings.ROLLOUT_STABLE_URL = live_server.url
    settings.RATE_LIMITS = {"default": "1000/m", "files": "120/m"}


def plan(gates: list[tuple[str, dict[str, Any]]], bake: int = 0, phases: int = 4) -> RolloutPlan:
    return RolloutPlanFactory.create(gates=gates, bake=bake, phases=phases)


def started(the_plan: RolloutPlan, version: str = "1.0.0") -> Rollout:
    rollout = rollout_create(version=version, actor="alice", plan=the_plan)
    return rollout_start(rollout_id=rollout.pk, actor="alice")


def test_passing_gates_take_the_rollout_to_success() -> None:
    rollout = started(plan([("canary_health", {}), ("tenant_isolation", {})]))
    actions = [tick().action for _ in range(4)]
    assert actions == ["advanced", "advanced", "advanced", "succeeded"]
    rollout.refresh_from_db()
    # Promoted: the canary weight is 0 again, on lanes whose stable one runs the new version.
    assert (rollout.state, rollout.weight) == (Rollout.State.SUCCEEDED, 0)
    results = GateResult.objects.filter(rollout=rollout)
    assert results.count() == 8
    assert set(results.values_list("verdict", flat=True)) == {"pass"}
    assert all(r.query and r.target for r in results)
    assert tick().action == "idle"  # nothing left to do: ticking again is harmless


def test_a_failed_gate_rolls_back_to_zero_with_the_reason() -> None:
    # The canary serves 1.0.0; a rollout of 2.0.0 sees the wrong version on health. The guard
    # judges health on every tick, bake or not, and rolls back at once.
    rollout = started(plan([("canary_health", {})], bake=3600), version="2.0.0")
    result = tick()
    assert result.action == "rolled_back"
    assert "canary_health" in result.detail
    rollout.refresh_from_db()
    assert (rollout.state, rollout.weight) == (Rollout.State.ROLLED_BACK, 0)
    failed = GateResult.objects.get(rollout=rollout)
    assert failed.verdict == "fail"
    assert '"version":"1.0.0"' in failed.evidence
    assert list(rollout.events.values_list("action", flat=True))[-2:] == [
        "guard_failed",
        "rollback",
    ]


def test_failures_below_the_plans_limit_are_retried() -> None:
    # A phase gate the guard does not judge: the files route's limit is not 999/min.
    the_plan = plan([("files_contract", {"rate_limit": "999"})])
    the_plan.max_gate_failures = 2
    the_plan.save()
    rollout = started(the_plan)
    assert tick().action == "retrying"
    assert tick().action == "rolled_back"
    attempts = GateResult.objects.filter(rollout=rollout).values_list("attempt", flat=True)
    assert sorted(attempts) == [1, 2]


def test_an_inconclusive_gate_pauses_for_a_person_once_the_extension_cap_is_reached() -> None:
    latency = {"endpoint": "/v*/contacts", "threshold_ms": 300, "min_samples": 50}
    the_plan = plan([("latency", latency)])
    the_plan.max_bake_extension_seconds = 0
    the_plan.save()
    rollout = started(the_plan)
    result = tick()
    assert result.action == "paused"
    assert "Inconclusive" in result.detail
    rollout.refresh_from_db()
    assert (rollout.state, rollout.weight) == (Rollout.State.PAUSED, 5)


def test_a_canary_that_does_not_answer_is_rolled_back(settings: Any) -> None:
    settings.ROLLOUT_CANARY_URL = "http://127.0.0.1:9"
    settings.ROLLOUT_PROBE_TIMEOUT = 1
    settings.ROLLOUT_MAX_PROBE_ERRORS = 2
    # Even while its phase bakes: the guard probes on every tick.
    rollout = started(plan([("canary_health", {})], bake=3600))
    assert tick().action == "probe_error"
    result = tick()
    assert result.action == "rolled_back"
    assert "did not answer 2 ticks in a row" in result.detail
    rollout.refresh_from_db()
    assert (rollout.state, rollout.weight) == (Rollout.State.ROLLED_BACK, 0)


def test_a_phase_bakes_before_its_gates_are_judged() -> None:
    rollout = started(plan([("canary_health", {})], bake=3600))
    result = tick()
    assert result.action == "waiting"
    assert GateResult.objects.filter(rollout=rollout).count() == 0


def test_rollout_run_finishes_and_exits_zero_or_three() -> None:
    started(plan([("smoke", {})], phases=2))
    out = StringIO()
    call_command("rollout", "run", "--interval", "0", stdout=out)
    assert out.getvalue().strip().splitlines()[-1].startswith("succeeded")
    Release.objects.create(version="3.0.0")
    started(plan([("canary_health", {})], phases=2), version="3.0.0")
    with pytest.raises(CommandError) as caught:
        call_command("rollout", "run", "--interval", "0", stdout=StringIO())
    assert caught.value.returncode == 3


def test_the_report_renders_the_seeds_shape_for_a_success_and_a_rollback() -> None:
    import json

    rollout = started(plan([("canary_health", {}), ("smoke", {})], phases=4))
    while tick().action not in {"succeeded", "rolled_back", "paused"}:
        pass
    out = StringIO()
    call_command("rollout", "report", str(rollout.pk), stdout=out)
    text = out.getvalue()
    assert text.startswith("# Portal API v1.0.0 Deployment Execution Log")
    for heading in (
        "## Phase 1: Initial Canary (5% Traffic)",
        "## Phase 2: Expanded Canary (25% Traffic)",
        "## Phase 3: Majority Canary (50% Traffic)",
        "## Phase 4: Complete Rollout (100% Traffic)",
        "## Post-Deployment Summary",
    ):
        assert heading in text
    assert "| canary_health | 200 healthy version 1.0.0 | 200 healthy version 1.0.0" in text
    assert "**Phase 4 Result**: ✅ **PASS**" in text
    assert text.rstrip().endswith("**Deployment Status**: ✅ **COMPLETED SUCCESSFULLY**")
    as_json = StringIO()
    call_command("rollout", "report", str(rollout.pk), "--format", "json", stdout=as_json)
    body = json.loads(as_json.getvalue())
    assert [p["weight"] for p in body["phases"]] == [5, 25, 50, 100]
    assert all(g["verdict"] == "pass" for p in body["phases"] for g in p["gates"])

    broken = started(plan([("canary_health", {})], phases=3), version="9.9.9")
    tick()
    out = StringIO()
    call_command("rollout", "report", stdout=out)  # the latest rollout
    text = out.getvalue()
    assert "❌ FAIL" in text
    assert "<summary>Evidence</summary>" in text
    assert "**rollback** by controller: Guard: canary_health" in text
    assert "## Phase 2: Expanded Canary (25% Traffic)\n\nNot reached." in text
    assert text.rstrip().endswith("❌ **ROLLED BACK**")
    assert broken.pk != rollout.pk
