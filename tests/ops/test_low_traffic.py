"""The baseline gate on the embedded store, and a controller that gathers evidence instead of
pausing when a phase is short of samples (pytest-django's live_server as both lanes)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from ops.models import GateResult, Rollout, SLObjective
from ops.rollouts.gates import GateContext, run_gate
from ops.rollouts.probes import probe_credentials
from ops.rollouts.reconciler import tick
from ops.rollouts.services import rollout_advance, rollout_create, rollout_start
from ops.slo.metrics_store import recorder
from ops.slo.sources import default_source
from portal.tenancy.services import token_create
from tests.factories import (
    MetricRollupFactory,
    RolloutPlanFactory,
    SLObjectiveFactory,
    TenantFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _lanes(live_server: Any, settings: Any) -> None:
    settings.ROLLOUT_CANARY_URL = live_server.url
    settings.ROLLOUT_STABLE_URL = live_server.url
    settings.ROLLOUT_TOPUP_RATE = 200
    settings.RATE_LIMITS = {"default": "1000/m", "files": "120/m"}


def started(gates: list[tuple[str, dict[str, Any]]], **plan: Any) -> Rollout:
    the_plan = RolloutPlanFactory.create(gates=gates, **plan)
    rollout = rollout_create(
        version="1.0.0", actor="alice", plan=the_plan, baseline_version="0.9.0"
    )
    return rollout_start(rollout_id=rollout.pk, actor="alice")


def judged(rollout: Rollout, **params: Any) -> Any:
    context = GateContext(
        rollout=rollout,
        canary_url="http://unused",
        stable_url="http://unused",
        source=default_source(),
        probes=probe_credentials(),
    )
    return run_gate("baseline", context, params)


def test_the_baseline_gate_fails_a_slower_canary_with_its_evidence() -> None:
    only_objective("/v*/contacts")
    rollout = started([], bake=3600)
    MetricRollupFactory.create(version="1.0.0", count=200, at_ms=75.0)
    MetricRollupFactory.create(version="0.9.0", count=200, at_ms=50.0)
    outcome = judged(rollout)
    assert outcome.verdict == "fail"
    assert "latency /v*/contacts FAIL" in outcome.observed
    assert "mean ratio 1.50x" in outcome.evidence
    assert "Mann-Whitney" in outcome.evidence
    assert "versions 1.0.0 and 0.9.0" in outcome.query


def only_objective(endpoint: str) -> None:
    """The judge's endpoints are the active objectives': just this one (the seeded ones may or
    may not be in the database, depending on which test ran before)."""
    SLObjective.objects.update(is_active=False)
    SLObjectiveFactory.create(endpoint=endpoint)


def test_the_baseline_gate_passes_a_canary_like_stable_and_waits_for_samples() -> None:
    only_objective("/v*/contacts")
    rollout = started([], bake=3600)
    MetricRollupFactory.create(version="1.0.0", count=10, at_ms=50.0)
    MetricRollupFactory.create(version="0.9.0", count=10, at_ms=50.0)
    outcome = judged(rollout)
    assert (outcome.verdict, outcome.needs_samples) == ("inconclusive", True)
    MetricRollupFactory.create(version="1.0.0", count=300, at_ms=50.0)
    MetricRollupFactory.create(version="0.9.0", count=300, at_ms=50.0)
    outcome = judged(rollout)
    assert outcome.verdict == "pass", outcome.evidence


def test_the_baseline_defaults_to_the_last_succeeded_release() -> None:
    first = started([])
    Rollout.objects.filter(pk=first.pk).update(state=Rollout.State.SUCCEEDED)
    the_plan = RolloutPlanFactory.create()
    second = rollout_create(version="1.1.0", actor="alice", plan=the_plan)
    assert second.baseline_version == "1.0.0"
    Rollout.objects.filter(pk=second.pk).update(state=Rollout.State.ABORTED)
    explicit = rollout_create(
        version="1.1.0", actor="alice", plan=the_plan, baseline_version="0.8.0"
    )
    assert explicit.baseline_version == "0.8.0"


def customer_requests(base_url: str, path: str, count: int) -> None:
    """`count` requests of a customer tenant, as its traffic would reach the canary."""
    tenant = TenantFactory.create()
    _, raw = token_create(tenant=tenant, name="customer")
    with requests.Session() as session:
        for _ in range(count):
            response = session.get(f"{base_url}{path}", headers={"Authorization": f"Bearer {raw}"})
            assert response.status_code == 200


def test_a_phase_short_of_samples_tops_up_but_only_customers_pass_it(
    settings: Any, live_server: Any
) -> None:
    settings.ROLLOUT_TOPUP_REQUESTS = 60
    latency = {"endpoint": "/v*/contacts", "threshold_ms": 2500, "min_samples": 50}
    rollout = started([("canary_health", {}), ("latency", latency)], phases=2)
    first = tick()
    assert first.action == "extending", first
    assert "probe top-up sent canary 60, stable 60" in first.detail
    extension = rollout.events.get(action="bake_extended")
    assert extension.after == {"phase": 1, "attempt": 1}
    recorder.flush()  # what the live server's metrics flusher does every few seconds
    # The probes' own requests are judged, and they pass, but they cannot pass a canary.
    second = tick()
    assert second.action == "extending", second
    judged = GateResult.objects.filter(rollout=rollout, kind="latency").last()
    assert judged is not None
    assert "probe traffic alone: pass" in judged.evidence
    customer_requests(live_server.url, "/v1/contacts", 60)
    recorder.flush()
    third = tick()
    assert third.action == "advanced", third
    # The gate that had passed is not judged again while the phase gathers evidence.
    assert list(
        GateResult.objects.filter(rollout=rollout, attempt=3).values_list("kind", flat=True)
    ) == ["latency"]
    assert "after extending the bake with probe top-up" in rollout.events.last().reason  # type: ignore[union-attr]


def test_probe_traffic_alone_fails_a_canary_it_finds_slow(settings: Any) -> None:
    latency = {"endpoint": "/v*/contacts", "threshold_ms": 50, "min_samples": 50}
    rollout = started([("latency", latency)], bake=3600)
    MetricRollupFactory.create(version="1.0.0", count=5, at_ms=10.0)  # customers: too few
    MetricRollupFactory.create(version="1.0.0", count=100, at_ms=400.0, traffic="probe")
    outcome = run_gate(
        "latency",
        GateContext(
            rollout=rollout,
            canary_url="http://unused",
            stable_url="http://unused",
            source=default_source(),
            probes=probe_credentials(),
        ),
        latency,
    )
    assert outcome.verdict == "fail"
    assert outcome.observed.startswith("probe traffic: ")
    assert "Too few customer requests" in outcome.evidence


@pytest.mark.parametrize("topup", [0, 60])
def test_at_the_cap_what_is_still_short_of_samples_waits_for_a_person(
    settings: Any, topup: int
) -> None:
    # With no top-up evidence never arrives; with it, only probes' does: never enough.
    settings.ROLLOUT_TOPUP_REQUESTS = topup
    latency = {"endpoint": "/v*/contacts", "threshold_ms": 300, "min_samples": 50}
    rollout = started([("latency", latency)], max_bake_extension_seconds=60)
    assert tick().action == "extending"
    Rollout.objects.filter(pk=rollout.pk).update(
        phase_started_at=timezone.now() - timedelta(seconds=61)
    )
    recorder.flush()
    result = tick()
    assert result.action == "paused"
    assert "Inconclusive" in result.detail


# --- The report an auditor reads ------------------------------------------------------------


def report(rollout: Rollout) -> str:
    out = StringIO()
    call_command("rollout", "report", str(rollout.pk), stdout=out)
    return out.getvalue()


def test_a_phase_advanced_by_hand_over_an_inconclusive_gate_is_labelled_so() -> None:
    latency = {"endpoint": "/v*/contacts", "threshold_ms": 300, "min_samples": 50}
    rollout = started([("latency", latency)], phases=2, max_bake_extension_seconds=0)
    assert tick().action == "paused"
    rollout_advance(rollout_id=rollout.pk, actor="cli:bob", reason="quiet Sunday, looks fine")
    text = report(rollout)
    assert "❌ **FAIL**" not in text
    assert "**Phase 1 Result**: ⚠️ **INCONCLUSIVE** — advanced by hand by cli:bob" in text
    assert "quiet Sunday, looks fine" in text
    assert "gates skipped: latency (inconclusive)" in text
    # Phase 2 was reached but nothing has judged it yet.
    assert "**Phase 2 Result**: ⏭️ **NOT JUDGED**" in text


def test_the_report_has_baselines_customer_impact_and_the_watch() -> None:
    only_objective("/v*/contacts")
    rollout = started([], bake=3600)
    MetricRollupFactory.create(version="1.0.0", count=200, at_ms=75.0)
    MetricRollupFactory.create(version="1.0.0", count=3, status_class="5xx")
    MetricRollupFactory.create(version="0.9.0", count=200, at_ms=50.0)
    text = report(rollout)
    assert "## Final Performance Baselines" in text
    assert "| /v*/contacts | latency | n 203, p50" in text
    assert "mean ratio" in text
    assert "Mann-Whitney U" in text
    assert "**Canary 5xx served**: 3 of 203 requests on 1.0.0" in text
    assert "## Stability Watch" in text
    assert "## Manual Decisions" in text


def test_a_failed_gates_evidence_is_never_empty() -> None:
    rollout = started([("files_contract", {"rate_limit": "999"})], phases=1)
    assert tick().action == "rolled_back"
    failed = GateResult.objects.get(rollout=rollout, verdict="fail")
    assert failed.evidence.strip()
    assert "<summary>Evidence</summary>" in report(rollout)
