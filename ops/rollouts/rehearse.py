"""`rollout rehearse`: every gate of a plan run twice against a canary with fault injection on
(FAULT_INJECTION=true, which production refuses) — once clean, once with a fault that should
turn it red — so a gate that can never fail (the silent pass) is found before a real release
relies on it.

Probe gates see the fault directly (the rehearsal's probes carry X-Fault-* headers to the
canary only). Metrics gates judge the rehearsal's own traffic: for each such gate the rehearsal
sends `min_samples` + 10 requests per endpoint to the canary (faulted or clean) and to stable
(always clean), and the gate reads them from an in-memory source keyed like the metrics store,
with client-side timings.

A rehearsal leaves nothing a later judgement can read: every request it sends, faulted or
not, is made as one of its own tenants and carries `X-Rehearsal`, and the servers label it
`rehearsal` traffic (by the tenant, or by the header where faults are injected: a faulted
request is answered before authentication), which no gate, report or watch counts; and it
revokes its tenants' tokens when it is done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests

from ops.models import Gate, Release, Rollout, RolloutPlan
from ops.rollouts import schema
from ops.rollouts.gates import (
    CATALOGUE,
    GateContext,
    Outcome,
    run_gate,
    sampled_endpoints,
)
from ops.rollouts.probes import probe_credentials, revoke_tokens
from ops.rollouts.topup import label_of, paths_for
from ops.slo.sources import EMPTY, Counts, Point, Window, add_counts
from portal.models import Traffic
from portal.observability.metrics import BUCKETS_MS
from portal.resilience.faults import REHEARSAL_HEADER

METRIC_KINDS = frozenset({"latency", "error_rate", "relative_latency", "baseline"})
STABLE_SUFFIX = "@stable-lane"


class RehearsalError(Exception):
    pass


def _counts_of(status: int, ms: float) -> Counts:
    buckets = [0.0] * (len(BUCKETS_MS) + 1)
    index = next((i for i, bound in enumerate(BUCKETS_MS) if ms <= bound), len(BUCKETS_MS))
    buckets[index] = 1.0
    return Counts(requests=1, errors=int(status >= 500), buckets=buckets, sum_ms=ms)


@dataclass
class RecordedSource:
    """The rehearsal's own requests, as the metrics store would count them."""

    name: str = "rehearsal traffic (client-side timings)"
    cells: dict[tuple[str, str], Counts] = field(default_factory=dict)

    def record(self, endpoint: str, version: str, status: int, ms: float) -> None:
        key = (endpoint, version)
        self.cells[key] = add_counts(self.cells.get(key, EMPTY), _counts_of(status, ms))

    def counts(self, window: Window) -> Counts:
        total = EMPTY
        for (endpoint, version), counts in self.cells.items():
            wanted = endpoint == window.endpoint if window.endpoint else endpoint.startswith("/v")
            if wanted and (window.version is None or version == window.version):
                total = add_counts(total, counts)
        return total

    def series(self, window: Window, step: Any) -> list[Point]:
        return [Point(end=window.end, counts=self.counts(window))]


@dataclass(frozen=True)
class Rehearsal:
    phase: int
    kind: str
    description: str
    fault: str
    clean: Outcome
    faulted: Outcome

    @property
    def can_fail(self) -> bool:
        return self.faulted.verdict == "fail"

    @property
    def passes_clean(self) -> bool:
        return self.clean.verdict == "pass"


@dataclass(frozen=True)
class Fault:
    headers: dict[str, str]
    # The share of the canary's rehearsal requests that carry it: a quantile gate needs only
    # its tail slowed (twice the tail it judges), which keeps a rehearsal short.
    share: float = 1.0

    def __str__(self) -> str:
        text = ", ".join(f"{k}: {v}" for k, v in self.headers.items())
        return text if self.share >= 1 else f"{text} on {self.share:.0%} of requests"


def fault_for(kind: str, params: dict[str, Any]) -> Fault:
    """The fault that should turn this kind of gate red."""
    if kind == "latency":
        delay = min(5000, int(float(params["threshold_ms"]) * 2) + 50)
        share = min(1.0, 2 * (1 - float(params["quantile"])))
        return Fault({"X-Fault-Delay-Ms": str(delay)}, share)
    if kind == "relative_latency":
        return Fault({"X-Fault-Delay-Ms": "250"}, min(1.0, 2 * (1 - float(params["quantile"]))))
    if kind == "cors_refusal":
        return Fault({"X-Fault-Cors": "allow"})
    return Fault({"X-Fault-Status": "503"})


def _drive(
    ctx: GateContext, source: RecordedSource, endpoints: list[str], count: int, fault: Fault
) -> None:
    """Sends a metrics gate's rehearsal traffic, `count` requests per endpoint on each lane,
    and records what came back."""
    every = max(1, round(1 / fault.share)) if fault.headers else 0
    lanes = {
        ctx.canary_url: ctx.rollout.release.version,
        ctx.stable_url: ctx.rollout.baseline_version,
    }
    for endpoint in endpoints:
        paths = paths_for(ctx, [endpoint])
        if not paths:
            raise RehearsalError(f"No probe route serves {endpoint!r}")
        for i in range(count):
            path = paths[i % len(paths)]
            for base, version in lanes.items():
                faulted = base == ctx.canary_url and every and i % every == 0
                headers = fault.headers if faulted else {}
                started = time.perf_counter()
                response = _get_through_limits(ctx, f"{base}{path}", headers)
                ms = (time.perf_counter() - started) * 1000
                source.record(label_of(path), version, response.status_code, ms)


def _get_through_limits(ctx: GateContext, url: str, headers: dict[str, str]) -> requests.Response:
    response = ctx.get(url, ctx.probes.a.token, **headers)
    for _ in range(3):
        if response.status_code != 429:
            break
        time.sleep(min(5, int(response.headers.get("Retry-After", "1") or 1)))
        response = ctx.get(url, ctx.probes.a.token, **headers)
    return response


def _judge(gate: Gate, ctx: GateContext, fault: Fault | None) -> Outcome:
    params = gate.params if isinstance(gate.params, dict) else {}
    metrics = gate.kind in METRIC_KINDS
    run = GateContext(
        rollout=ctx.rollout,
        canary_url=ctx.canary_url,
        stable_url=ctx.stable_url,
        source=ctx.source,
        # Fresh tokens for every run: a fresh rate-limit window, so the rehearsal's own traffic
        # never meets the API's limits (the files route allows 120 a minute per token).
        probes=probe_credentials(Traffic.REHEARSAL),
        timeout=ctx.timeout,
        session=ctx.session,  # it says X-Rehearsal on every request
        # Metrics gates see the fault through the traffic below, probe gates directly.
        faults=fault.headers if fault and not metrics else {},
    )
    if metrics:
        merged = {**CATALOGUE[gate.kind].defaults, **params}
        run.source = source = RecordedSource()
        count = int(merged.get("min_samples", 50)) + 10
        _drive(run, source, sampled_endpoints(gate.kind, params), count, fault or Fault({}))
    return run_gate(gate.kind, run, params)


def check_fault_injection(canary_url: str, timeout: float) -> None:
    try:
        response = requests.get(
            f"{canary_url}/v1/health",
            headers={"X-Fault-Status": "503", REHEARSAL_HEADER: "1"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise RehearsalError(f"The canary at {canary_url} does not answer: {exc}") from exc
    if response.status_code != 503 or "Injected fault" not in response.text:
        raise RehearsalError(
            f"The canary at {canary_url} ignores X-Fault-Status: start it with "
            "FAULT_INJECTION=true (refused in production) to rehearse against it"
        )


def rehearse(
    plan: RolloutPlan, *, canary_url: str, stable_url: str, timeout: float
) -> list[Rehearsal]:
    try:
        return _rehearse(plan, canary_url=canary_url, stable_url=stable_url, timeout=timeout)
    finally:
        revoke_tokens(Traffic.REHEARSAL)


def _rehearse(
    plan: RolloutPlan, *, canary_url: str, stable_url: str, timeout: float
) -> list[Rehearsal]:
    check_fault_injection(canary_url, timeout)
    session = requests.Session()
    session.headers[REHEARSAL_HEADER] = "1"
    credentials = probe_credentials(Traffic.REHEARSAL)
    # As the rehearsal's tenant, so even these reads are labelled rehearsal traffic.
    auth = {"Authorization": f"Bearer {credentials.a.token}"}

    def version_of(url: str) -> str:
        return str(session.get(f"{url}/v1/health", headers=auth, timeout=timeout).json()["version"])

    version, stable = version_of(canary_url), version_of(stable_url)
    rollout = Rollout(
        release=Release(version=version),
        plan=plan,
        # The stable lane's own label, so the two sides never mix even on one version.
        baseline_version=f"{stable}{STABLE_SUFFIX}",
    )
    ctx = GateContext(
        rollout=rollout,
        canary_url=canary_url,
        stable_url=stable_url,
        source=RecordedSource(),
        probes=credentials,
        timeout=timeout,
        session=session,
    )
    rows = []
    for phase in plan.phases.order_by("order"):
        for gate in phase.gates.order_by("order", "id"):
            if gate.kind == schema.GATE:
                # It judges the release's migrations and stable on them, before any traffic:
                # nothing a canary does under a fault can turn it red.
                continue
            spec = CATALOGUE.get(gate.kind)
            params = gate.params if isinstance(gate.params, dict) else {}
            fault = fault_for(gate.kind, {**(spec.defaults if spec else {}), **params})
            rows.append(
                Rehearsal(
                    phase=phase.order,
                    kind=gate.kind,
                    description=gate.description or (spec.summary if spec else gate.kind),
                    fault=str(fault),
                    clean=_judge(gate, ctx, None),
                    faulted=_judge(gate, ctx, fault),
                )
            )
    return rows


def render(rows: list[Rehearsal]) -> str:
    lines = [
        "| Phase | Gate | Clean | With fault | Fault | Can fail | Passes clean |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.phase} | {row.kind}: {row.description[:60]} | {row.clean.verdict} "
            f"| {row.faulted.verdict} | {row.fault} | {'yes' if row.can_fail else 'NO'} "
            f"| {'yes' if row.passes_clean else 'NO'} |"
        )
    silent = [row for row in rows if not row.can_fail]
    dirty = [row for row in rows if not row.passes_clean]
    lines.append("")
    for row in silent:
        lines.append(
            f"Phase {row.phase} {row.kind} did not turn red under {row.fault}: "
            f"{row.faulted.verdict} ({row.faulted.observed or row.faulted.evidence[:120]})"
        )
    for row in dirty:
        lines.append(
            f"Phase {row.phase} {row.kind} is not green on a clean canary: {row.clean.verdict} "
            f"({row.clean.observed or row.clean.evidence[:120]})"
        )
    if not silent and not dirty:
        lines.append(f"All {len(rows)} gates can fail, and all pass on the clean canary.")
    return "\n".join(lines)
