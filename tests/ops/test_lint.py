"""`rollout lint`: each class of plan mistake, found before a rollout runs on the plan."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from ops.models import RolloutPlan
from ops.rollouts.gates import CATALOGUE
from ops.rollouts.lint import gate_problems, lint_plan
from tests.factories import RolloutPlanFactory

pytestmark = pytest.mark.django_db


def messages(plan: RolloutPlan) -> list[str]:
    return [str(finding) for finding in lint_plan(plan)]


def test_the_seeded_plans_are_clean() -> None:
    for plan in RolloutPlan.objects.all():
        assert lint_plan(plan) == [], plan.name


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        ("latncy", {}, "unknown gate kind 'latncy'"),
        ("latency", {"treshold_ms": 50}, "unknown parameter 'treshold_ms'"),
        ("latency", {"threshold_ms": "50"}, "threshold_ms must be int"),
        ("latency", {"threshold_ms": 55}, "must be a histogram bucket bound"),
        ("latency", {"quantile": 95}, "quantile must be between 0 and 1"),
        ("error_rate", {"window_seconds": 0}, "window_seconds must be at least 1"),
        ("error_rate", {"max_rate": True}, "max_rate must be float"),
        ("baseline", {"max_ratio": 0.9}, "max_ratio must be above 1"),
        ("baseline", {"pass_score": 50, "marginal_score": 80}, "scores must satisfy"),
        ("baseline", {"critical": ["speed"]}, "critical or weights name unknown metrics"),
        ("smoke", [], "params must be a JSON object"),
    ],
)
def test_bad_gates_are_errors(kind: str, params: Any, expected: str) -> None:
    assert any(expected in problem for problem in gate_problems(kind, params)), gate_problems(
        kind, params
    )


def test_every_kinds_defaults_are_valid() -> None:
    for kind, spec in CATALOGUE.items():
        assert gate_problems(kind, dict(spec.defaults)) == [], kind


def test_weights_that_go_down_or_stop_short_of_100_are_errors() -> None:
    plan = RolloutPlanFactory.create(weights=(5, 50, 25), phases=3, gates=[("smoke", {})])
    found = messages(plan)
    assert any("weight 25% is not above the previous 50%" in m for m in found)
    assert any("the last phase is at 25%" in m for m in found)


def test_a_bake_shorter_than_a_gates_window_and_an_unknown_endpoint_are_warnings() -> None:
    gates = [("latency", {"endpoint": "/v*/contact", "window_seconds": 900})]
    plan = RolloutPlanFactory.create(gates=gates, bake=60)
    found = messages(plan)
    assert any(m.startswith("warning") and "bakes 60s but the gate judges 900s" in m for m in found)
    assert any("'/v*/contact' matches no route" in m for m in found)


def test_commands_with_unknown_placeholders_or_bad_quoting_are_errors() -> None:
    plan = RolloutPlanFactory.create(
        gates=[("smoke", {})], phase_commands={1: ["deploy {verison}", "echo 'unclosed"]}
    )
    found = messages(plan)
    assert any("unknown placeholders ['verison']" in m for m in found)
    assert any("cannot be parsed" in m for m in found)


def test_return_to_stable_without_a_redeploy_cannot_end_on_the_new_version() -> None:
    plan = RolloutPlanFactory.create(
        gates=[("smoke", {})], promotion=RolloutPlan.Promotion.RETURN_TO_STABLE
    )
    assert any("return_to_stable" in m for m in messages(plan))


def test_the_command_exits_1_on_errors_and_0_on_a_clean_plan() -> None:
    RolloutPlanFactory.create(name="broken", gates=[("nope", {})])
    with pytest.raises(CommandError) as raised:
        call_command("rollout", "lint", "--plan", "broken", stdout=StringIO())
    assert raised.value.returncode == 1
    out = StringIO()
    call_command("rollout", "lint", "--plan", "default", stdout=out)
    assert "default: ok" in out.getvalue()
    with pytest.raises(CommandError, match="plans: "):
        call_command("rollout", "lint", "--plan", "missing", stdout=StringIO())
