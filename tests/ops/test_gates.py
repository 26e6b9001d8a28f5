"""Every gate kind, against the real application served by pytest-django's live_server (real
HTTP, the test database), and the metrics source fed through MetricRollup rows."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from ops.models import GateResult, Rollout
from ops.rollouts.gates import CATALOGUE, GateContext, run_gate
from ops.rollouts.probes import probe_credentials
from ops.rollouts.services import rollout_create
from ops.slo.sources import EmbeddedSource
from portal.resilience.breakers import breakers
from tests.factories import MetricRollupFactory

pytestmark = pytest.mark.django_db(transaction=True)
V = GateResult.Verdict


@pytest.fixture
def ctx(live_server: Any, settings: Any) -> GateContext:
    settings.RATE_LIMITS = {"default": "1000/m", "files": "120/m"}
    plan_rollout = rollout_create(version="1.0.0", actor="t", baseline_version="0.9.0")
    return GateContext(
        rollout=plan_rollout,
        canary_url=live_server.url,
        stable_url=live_server.url,
        source=EmbeddedSource(),
        probes=probe_credentials(),
    )


@pytest.fixture(autouse=True)
def _default_plan(db: None) -> None:
    from ops.models import RolloutPlan

    plan, created = RolloutPlan.objects.get_or_create(name="default", is_default=True)
    if created:
        for order, weight in enumerate([5, 25, 50, 100], start=1):
            plan.phases.create(order=order, weight=weight, bake_seconds=0)


def traffic(version: str, endpoint: str, at_ms: float, count: int, status: str = "2xx") -> None:
    MetricRollupFactory.create(
        version=version, endpoint=endpoint, at_ms=at_ms, count=count, status_class=status
    )


def test_every_catalogued_kind_is_tested_here() -> None:
    tested = {
        "canary_health",
        "breakers_closed",
        "latency",
        "error_rate",
        "relative_latency",
        "files_contract",
        "rate_limiter",
        "metrics_export",
        "cors_refusal",
        "tenant_isolation",
        "smoke",
        "load_test",
        "instances_up",
        "baseline",
        "migrations_safe",  # tests/ops/test_migration_gate.py
    }
    assert set(CATALOGUE) == tested


def test_canary_health_passes_on_the_right_version_only(ctx: GateContext) -> None:
    outcome = run_gate("canary_health", ctx, {})
    assert outcome.verdict == V.PASS, outcome
    assert '"version":"1.0.0"' in outcome.evidence
    Rollout.objects.filter(pk=ctx.rollout.pk).update()
    ctx.rollout.release.version = "2.0.0"
    failed = run_gate("canary_health", ctx, {})
    assert failed.verdict == V.FAIL
    assert "version 1.0.0" in failed.observed


def test_an_open_breaker_fails_the_breaker_gate(
    ctx: GateContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_gate("breakers_closed", ctx, {}).verdict == V.PASS
    # Storage that keeps failing: health's trial of the open breaker fails too.
    monkeypatch.setattr("portal.http.health._probe_storage", storage_down)
    breakers.storage.open()
    outcome = run_gate("breakers_closed", ctx, {})
    assert outcome.verdict == V.FAIL
    assert "storage" in outcome.observed


def storage_down() -> None:
    raise OSError(errno.EIO, "Input/output error")


def test_latency_is_inconclusive_without_samples_then_judged_at_the_threshold(
    ctx: GateContext,
) -> None:
    params = {
        "endpoint": "/v*/contacts",
        "quantile": 0.95,
        "threshold_ms": 300,
        "window_seconds": 900,
        "min_samples": 50,
    }
    assert run_gate("latency", ctx, params).verdict == V.INCONCLUSIVE
    traffic("1.0.0", "/v*/contacts", 100, 96)
    traffic("1.0.0", "/v*/contacts", 400, 4)
    traffic("0.9.0", "/v*/contacts", 1000, 500)  # the stable version does not count
    passed = run_gate("latency", ctx, params)
    assert passed.verdict == V.PASS
    assert passed.evidence == "96.00% of 100 requests within 300 ms"
    traffic("1.0.0", "/v*/contacts", 400, 10)
    assert run_gate("latency", ctx, params).verdict == V.FAIL


def test_error_rate_gate(ctx: GateContext) -> None:
    params = {"max_rate": 0.01, "window_seconds": 300, "min_samples": 50}
    assert run_gate("error_rate", ctx, params).verdict == V.INCONCLUSIVE
    traffic("1.0.0", "/v*/health", 10, 995)
    traffic("1.0.0", "/v*/health", 10, 40, status="429")  # expected, not errors
    traffic("1.0.0", "/v*/jobs", 10, 5, status="5xx")
    assert run_gate("error_rate", ctx, params).verdict == V.PASS
    traffic("1.0.0", "/v*/jobs", 10, 10, status="5xx")
    outcome = run_gate("error_rate", ctx, params)
    assert outcome.verdict == V.FAIL
    assert "15 of" in outcome.observed


def test_relative_latency_compares_canary_with_stable(ctx: GateContext) -> None:
    params = {
        "endpoint": "/v*/contacts",
        "quantile": 0.95,
        "max_ratio": 1.2,
        "window_seconds": 900,
        "min_samples": 50,
    }
    assert run_gate("relative_latency", ctx, params).verdict == V.INCONCLUSIVE
    traffic("0.9.0", "/v*/contacts", 100, 100)
    traffic("1.0.0", "/v*/contacts", 100, 100)
    assert run_gate("relative_latency", ctx, params).verdict == V.PASS
    traffic("1.0.0", "/v*/contacts", 300, 400)
    assert run_gate("relative_latency", ctx, params).verdict == V.FAIL


@pytest.mark.parametrize(
    "kind",
    [
        "files_contract",
        "rate_limiter",
        "metrics_export",
        "cors_refusal",
        "tenant_isolation",
        "smoke",
        "instances_up",
    ],
)
def test_contract_probes_pass_against_the_real_api(ctx: GateContext, kind: str) -> None:
    outcome = run_gate(kind, ctx, {})
    assert outcome.verdict == V.PASS, outcome
    assert outcome.query


def test_a_load_test_reports_success_average_and_p95(ctx: GateContext) -> None:
    outcome = run_gate("load_test", ctx, {"iterations": 24})
    assert outcome.verdict == V.PASS, outcome
    assert "100.00% success of 24" in outcome.observed
    assert "p95" in outcome.observed


def test_an_allowed_foreign_origin_fails_the_cors_gate(ctx: GateContext, settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://malicious.example.com"]
    assert run_gate("cors_refusal", ctx, {}).verdict == V.FAIL


def test_a_dead_instance_fails_instances_up(ctx: GateContext) -> None:
    outcome = run_gate("instances_up", ctx, {"urls": [ctx.canary_url, "http://127.0.0.1:9"]})
    assert outcome.verdict == V.FAIL
    assert "1/2 up" in outcome.observed


def test_probe_failures_are_errors_not_failures(ctx: GateContext) -> None:
    ctx.canary_url = "http://127.0.0.1:9"
    ctx.timeout = 1
    outcome = run_gate("canary_health", ctx, {})
    assert outcome.verdict == V.ERROR
    assert "ConnectionError" in outcome.evidence
    assert run_gate("no-such-gate", ctx, {}).verdict == V.ERROR


def test_the_baseline_judge_fails_a_canary_slower_than_stable(ctx: GateContext) -> None:
    traffic("1.0.0", "/v*/contacts", 75.0, 200)
    traffic("0.9.0", "/v*/contacts", 50.0, 200)
    outcome = run_gate("baseline", ctx, {"endpoints": ["/v*/contacts"]})
    assert outcome.verdict == V.FAIL
    assert "p " in outcome.evidence
    assert "mean ratio 1.50x" in outcome.evidence


def test_without_a_baseline_the_judge_asks_the_stable_lane(ctx: GateContext) -> None:
    ctx.rollout.baseline_version = ""
    # The live server is both lanes here: stable runs the canary's own version.
    outcome = run_gate("baseline", ctx, {"endpoints": ["/v*/contacts"]})
    assert outcome.verdict == V.INCONCLUSIVE
    assert "the stable lane reports 1.0.0" in outcome.evidence
