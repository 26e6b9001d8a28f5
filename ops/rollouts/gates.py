"""The gate catalogue. Each kind takes its parameters from the gate row (defaults below),
probes the canary (and stable) or asks the metrics source, and returns an outcome with the
evidence: the verdict, the observed value, the target, and the query or probe used.

Verdicts, as Argo Rollouts has them: pass; fail (counts towards the plan's failure limit);
inconclusive (too few samples and the like: the rollout pauses for a person, never a silent
pass); error (the probe itself failed; counted apart from failures).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from ops.models import GateResult, Rollout, SLObjective
from ops.rollouts import schema
from ops.rollouts.judge import DEFAULTS as JUDGE_DEFAULTS
from ops.rollouts.judge import Judgement, judge
from ops.rollouts.probes import PROBE_RATE_LIMIT, ProbeCredentials
from ops.slo.sources import (
    CUSTOMERS,
    PROBES,
    MetricsSource,
    PrometheusError,
    Window,
    fraction_under,
    quantile,
)
from portal.formats import ascii_int

V = GateResult.Verdict
# A labelled counter with no samples yet (no 5xx so far) still declares its family.
SEED_FAMILIES = (
    "# TYPE http_requests_total counter",
    "# TYPE http_request_duration_ms histogram",
    "# TYPE http_requests_errors_total counter",
)
FOREIGN_ORIGIN = "https://malicious.example.com"


@dataclass
class Outcome:
    verdict: GateResult.Verdict
    observed: str = ""
    target: str = ""
    query: str = ""
    evidence: str = ""
    window_seconds: int | None = None
    # Inconclusive for want of samples: more time (and the controller's probe traffic) helps.
    needs_samples: bool = False


def next_attempt(rollout: Rollout, phase_index: int | None = None) -> int:
    """The number of the next judgement of the rollout's current phase (or `phase_index`)."""
    phase = rollout.phase_index if phase_index is None else phase_index
    previous = GateResult.objects.filter(rollout=rollout, phase_index=phase)
    return int(previous.aggregate(n=Max("attempt"))["n"] or 0) + 1


def record_result(
    rollout: Rollout, kind: str, attempt: int, outcome: Outcome, gate: Any = None
) -> GateResult:
    """A gate's outcome as evidence: observed against target, the query, what was seen."""
    return GateResult.objects.create(
        rollout=rollout,
        gate=gate,
        kind=kind,
        phase_index=rollout.phase_index,
        attempt=attempt,
        verdict=outcome.verdict,
        observed=outcome.observed[:200],
        target=outcome.target[:200],
        window_seconds=outcome.window_seconds,
        query=outcome.query,
        evidence=outcome.evidence
        or outcome.observed
        or f"{outcome.query} (target {outcome.target})",
        needs_samples=outcome.needs_samples,
    )


@dataclass
class GateContext:
    rollout: Rollout
    canary_url: str
    stable_url: str
    source: MetricsSource
    probes: ProbeCredentials
    timeout: float = 5.0
    session: requests.Session = field(default_factory=requests.Session)

    # Fault-injection headers sent to the canary only (`rollout rehearse`; FAULT_INJECTION).
    faults: dict[str, str] = field(default_factory=dict)

    def get(self, url: str, token: str | None = None, **headers: str) -> requests.Response:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.faults and url.startswith(self.canary_url):
            headers = {**headers, **self.faults}
        return self.session.get(url, headers=headers, timeout=self.timeout)


GateFunction = Callable[[GateContext, dict[str, Any]], Outcome]


@dataclass(frozen=True)
class GateKind:
    function: GateFunction
    defaults: dict[str, Any]
    summary: str


CATALOGUE: dict[str, GateKind] = {}


def gate(kind: str, summary: str, **defaults: Any) -> Callable[[GateFunction], GateFunction]:
    def register(function: GateFunction) -> GateFunction:
        CATALOGUE[kind] = GateKind(function, defaults, summary)
        return function

    return register


def run_gate(kind: str, ctx: GateContext, params: dict[str, Any]) -> Outcome:
    spec = CATALOGUE.get(kind)
    if spec is None:
        return Outcome(V.ERROR, evidence=f"Unknown gate kind {kind!r}")
    try:
        return spec.function(ctx, {**spec.defaults, **params})
    except (requests.RequestException, PrometheusError, ValueError, KeyError) as exc:
        return Outcome(V.ERROR, evidence=f"{type(exc).__name__}: {exc}")


# --- Health and breakers ---------------------------------------------------------------------


@gate("canary_health", "Canary /v1/health is 200 with the new version and no open breaker")
def canary_health(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    response = ctx.get(f"{ctx.canary_url}/v1/health", ctx.probes.a.token)
    body = response.json()
    version = ctx.rollout.release.version
    observed = f"{response.status_code} {body.get('status')} version {body.get('version')}"
    ok = response.status_code == 200 and body.get("version") == version
    ok = ok and body.get("circuitBreakers") == {}
    return Outcome(
        V.PASS if ok else V.FAIL,
        observed=observed,
        target=f"200 healthy version {version}, no open breakers",
        query=f"GET {ctx.canary_url}/v1/health",
        evidence=response.text[:1000],
    )


@gate("breakers_closed", "Every circuit breaker of the canary is closed")
def breakers_closed(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    response = ctx.get(f"{ctx.canary_url}/v1/health")
    breakers = response.json().get("circuitBreakers")
    return Outcome(
        V.PASS if breakers == {} else V.FAIL,
        observed=f"circuitBreakers {breakers}",
        target="{}",
        query=f"GET {ctx.canary_url}/v1/health | .circuitBreakers",
        evidence=response.text[:1000],
    )


# --- SLOs from the metrics source -------------------------------------------------------------


def _window(
    ctx: GateContext,
    params: dict[str, Any],
    version: str | None = None,
    traffic: tuple[str, ...] = CUSTOMERS,
) -> Window:
    return Window(
        length=timedelta(seconds=int(params["window_seconds"])),
        endpoint=params.get("endpoint") or None,
        version=version or ctx.rollout.release.version,
        traffic=traffic,
    )


def _customers_decide(
    params: dict[str, Any], judged: Callable[[tuple[str, ...]], Outcome]
) -> Outcome:
    """Customers' requests decide a metrics gate; the controller's probe requests can fail it
    but never pass it. While customers are too few to judge, probe traffic is judged alike
    (probe against probe): a failure there is a failure, anything else leaves the gate
    inconclusive (more time, then a person). A gate given `traffic` judges exactly that."""
    if params.get("traffic"):
        return judged(tuple(str(t) for t in params["traffic"]))
    outcome = judged(CUSTOMERS)
    if outcome.verdict != V.INCONCLUSIVE or not outcome.needs_samples:
        return outcome
    probed = judged(PROBES)
    if probed.verdict == V.FAIL:
        probed.observed = f"probe traffic: {probed.observed}"[:200]
        probed.evidence = (
            f"Too few customer requests ({outcome.evidence or outcome.observed}); the "
            f"controller's probe requests fail it: {probed.evidence or probed.observed}"
        )
        return probed
    seen = probed.observed or probed.evidence or probed.verdict
    outcome.evidence = (
        f"{outcome.evidence}; probe traffic alone: {probed.verdict} ({seen}), which cannot "
        "pass a gate"
    )
    return outcome


@gate(
    "latency",
    "Canary latency quantile under a threshold",
    endpoint="/v*/health",
    quantile=0.95,
    threshold_ms=50,
    window_seconds=300,
    min_samples=50,
)
def latency(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    return _customers_decide(params, lambda traffic: _latency(ctx, params, traffic))


def _latency(ctx: GateContext, params: dict[str, Any], traffic: tuple[str, ...]) -> Outcome:
    window = _window(ctx, params, traffic=traffic)
    q, threshold = float(params["quantile"]), float(params["threshold_ms"])
    counts = ctx.source.counts(window)
    value = quantile(ctx.source, q, window)
    share = fraction_under(ctx.source, threshold, window)
    label = f"p{q * 100:g}"
    observed = f"{label} {value:.1f} ms over {counts.requests} requests" if value else "no data"
    base = Outcome(
        V.INCONCLUSIVE,
        observed=observed,
        target=f"{label} < {threshold:g} ms ({q:.0%} of requests within {threshold:g} ms)",
        query=f"{ctx.source.name}: {label} of http_request_duration_ms"
        f'{{endpoint="{window.endpoint}",version="{window.version}",'
        f'traffic=~"{"|".join(traffic)}"}}'
        f" over {int(window.length.total_seconds())}s",
        window_seconds=int(window.length.total_seconds()),
    )
    if counts.requests < int(params["min_samples"]) or share is None:
        base.evidence = f"{counts.requests} requests, fewer than {params['min_samples']}"
        base.needs_samples = True
        return base
    # Judged by the bucket at the threshold (exact); the quantile is shown for people.
    base.verdict = V.PASS if share >= q else V.FAIL
    base.evidence = f"{share:.2%} of {counts.requests} requests within {threshold:g} ms"
    return base


@gate(
    "error_rate",
    "Canary 5xx rate under a maximum (429s are not errors)",
    endpoint="",
    max_rate=0.01,
    window_seconds=300,
    min_samples=50,
    relative_to_stable=False,
)
def error_rate(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    return _customers_decide(params, lambda traffic: _error_rate(ctx, params, traffic))


def _error_rate(ctx: GateContext, params: dict[str, Any], traffic: tuple[str, ...]) -> Outcome:
    window = _window(ctx, params, traffic=traffic)
    counts = ctx.source.counts(window)
    maximum = float(params["max_rate"])
    outcome = Outcome(
        V.INCONCLUSIVE,
        target=f"< {maximum:.2%}",
        query=f"{ctx.source.name}: 5xx / requests, version {window.version}, "
        f"{' and '.join(traffic)} traffic, {int(window.length.total_seconds())}s",
        window_seconds=int(window.length.total_seconds()),
    )
    if counts.requests < int(params["min_samples"]):
        outcome.observed = f"{counts.requests} requests"
        outcome.evidence = f"fewer than {params['min_samples']} requests"
        outcome.needs_samples = True
        return outcome
    rate = counts.error_rate or 0.0
    outcome.observed = f"{rate:.3%} ({counts.errors} of {counts.requests})"
    stable_version = ctx.rollout.baseline_version if params.get("relative_to_stable") else ""
    if stable_version:
        # What fails on both lanes alike (a client's costly requests, a shared database's
        # trouble) is not the canary's doing: only its 5xx rate above stable's counts.
        stable = ctx.source.counts(_window(ctx, params, stable_version, traffic))
        stable_rate = stable.error_rate or 0.0
        outcome.target = f"< {maximum:.2%} above stable's rate"
        outcome.observed += f"; stable {stable_rate:.3%} ({stable.errors} of {stable.requests})"
        rate -= stable_rate
    outcome.verdict = V.PASS if rate < maximum else V.FAIL
    return outcome


@gate(
    "relative_latency",
    "Canary quantile no worse than stable's by more than a ratio",
    endpoint="/v*/contacts",
    quantile=0.95,
    max_ratio=1.2,
    window_seconds=900,
    min_samples=50,
)
def relative_latency(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    baseline = ctx.rollout.baseline_version
    if not baseline:
        return Outcome(V.INCONCLUSIVE, evidence="The rollout has no baseline version to compare")
    return _customers_decide(
        params, lambda traffic: _relative_latency(ctx, params, baseline, traffic)
    )


def _relative_latency(
    ctx: GateContext, params: dict[str, Any], baseline: str, traffic: tuple[str, ...]
) -> Outcome:
    q = float(params["quantile"])
    canary_w = _window(ctx, params, traffic=traffic)
    stable_w = _window(ctx, params, baseline, traffic=traffic)
    samples = (ctx.source.counts(canary_w).requests, ctx.source.counts(stable_w).requests)
    canary, stable = quantile(ctx.source, q, canary_w), quantile(ctx.source, q, stable_w)
    ratio = float(params["max_ratio"])
    outcome = Outcome(
        V.INCONCLUSIVE,
        target=f"canary p{q * 100:g} ≤ {ratio:g} x stable",
        query=f"{ctx.source.name}: p{q * 100:g} for versions {canary_w.version} and {baseline}, "
        f"{' and '.join(traffic)} traffic",
        window_seconds=int(canary_w.length.total_seconds()),
    )
    if min(samples) < int(params["min_samples"]) or canary is None or not stable:
        outcome.evidence = f"samples canary {samples[0]}, stable {samples[1]}"
        outcome.needs_samples = True
        return outcome
    outcome.observed = f"canary {canary:.1f} ms vs stable {stable:.1f} ms ({canary / stable:.2f}x)"
    outcome.verdict = V.PASS if canary <= stable * ratio else V.FAIL
    return outcome


def stable_lane_version(ctx: GateContext) -> str:
    """What the stable lane runs, from its health (a first rollout has no succeeded one)."""
    try:
        return str(ctx.get(f"{ctx.stable_url}/v1/health").json().get("version") or "")
    except (requests.RequestException, ValueError):
        return ""


def judged_endpoints(params: dict[str, Any]) -> list[str]:
    """The judge's endpoints: its own list, else every active objective's endpoint (blank:
    every API route together)."""
    listed = [str(e) for e in params.get("endpoints") or []]
    if listed:
        return listed
    objectives = SLObjective.objects.filter(is_active=True).order_by("endpoint")
    return list(dict.fromkeys(objectives.values_list("endpoint", flat=True))) or [""]


def sampled_endpoints(kind: str, params: dict[str, Any]) -> list[str]:
    """The endpoints whose samples a metrics gate judges (what a top-up should feed)."""
    spec = CATALOGUE.get(kind)
    merged = {**(spec.defaults if spec else {}), **params}
    if kind == "baseline":
        return judged_endpoints(merged)
    return [str(merged.get("endpoint") or "")]


MAX_JUDGE_WINDOW = timedelta(hours=6)


@gate(
    "baseline",
    "Canary against stable over the same minutes: Mann-Whitney U on latency, SPRT and "
    "Fisher's exact test on 5xx, Kayenta-style score",
    **JUDGE_DEFAULTS,
)
def baseline(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    version = ctx.rollout.release.version
    stable_version = ctx.rollout.baseline_version or stable_lane_version(ctx)
    if not stable_version or stable_version == version:
        return Outcome(
            V.INCONCLUSIVE,
            target="a baseline version",
            evidence="No baseline to compare with: the rollout has none (start it with "
            f"--baseline) and the stable lane reports {stable_version or 'no version'}",
        )
    # The same minutes for both; the window grows with the phase, so an extended bake keeps
    # every sample it waited for.
    since = ctx.rollout.phase_started_at or ctx.rollout.created_at
    length = timedelta(seconds=int(params["window_seconds"]))
    if since is not None:
        length = min(MAX_JUDGE_WINDOW, max(length, timezone.now() - since))
    at = timezone.now()

    def judged(traffic: tuple[str, ...]) -> Judgement:
        # Like with like: each side's requests of the same traffic, over the same minutes.
        pairs = {}
        for endpoint in judged_endpoints(params):
            sides = [
                Window(length=length, endpoint=endpoint or None, version=v, at=at, traffic=traffic)
                for v in (version, stable_version)
            ]
            pairs[endpoint] = (ctx.source.counts(sides[0]), ctx.source.counts(sides[1]))
        return judge(pairs, params)

    traffic = tuple(str(t) for t in params.get("traffic") or CUSTOMERS)
    customers = judged(traffic)
    # The controller's probe requests, probe against probe: they can fail a canary (a
    # regression on the routes they take), never pass one on their own.
    probes = judged(PROBES) if not params.get("traffic") else None
    deciding = customers
    if customers.verdict != "fail" and probes is not None and probes.verdict == "fail":
        deciding = probes
    verdict = {
        "pass": V.PASS,
        "fail": V.FAIL,
        "marginal": V.INCONCLUSIVE,
        "nodata": V.INCONCLUSIVE,
    }[deciding.verdict]
    # The two verdicts first (a report shows the start of long evidence), then every metric.
    label = f"{' and '.join(traffic).capitalize()} traffic"
    probe_label = "Probe traffic (the controller's own requests, probe against probe)"
    evidence = [f"{label}: {customers.summary}"]
    if probes is not None:
        evidence.append(f"{probe_label}: {probes.summary}")
    evidence += ["", f"{label}:", *(metric.row() for metric in customers.metrics)]
    if probes is not None:
        evidence += [f"{probe_label}:", *(metric.row() for metric in probes.metrics)]
    observed = customers.summary if deciding is customers else f"probes {deciding.summary}"
    return Outcome(
        verdict,
        observed=observed,
        target=f"score ≥ {params['pass_score']} (marginal ≥ {params['marginal_score']}), "
        f"no critical metric failing, on customer traffic; {version} vs {stable_version}",
        query=f"{ctx.source.name}: versions {version} and {stable_version}, same "
        f"{int(length.total_seconds())}s ending {at:%H:%M:%S}",
        evidence="\n".join(evidence),
        window_seconds=int(length.total_seconds()),
        needs_samples=deciding.verdict in {"nodata", "marginal"},
    )


# --- Contract probes ------------------------------------------------------------------------


@gate(
    "files_contract",
    "Files: signed URLs expire within 15 min, no-store, 120/min limit",
    max_expiry_seconds=900,
    rate_limit="120",
)
def files_contract(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    probe = ctx.probes.a
    url = f"{ctx.canary_url}/v1/jobs/{probe.job_id}/files?limit=1"
    started = time.time()
    response = ctx.get(url, probe.token)
    problems = []
    if response.status_code != 200:
        problems.append(f"status {response.status_code}")
    if response.headers.get("Cache-Control") != "private, max-age=0, no-store":
        problems.append(f"Cache-Control {response.headers.get('Cache-Control')!r}")
    if response.headers.get("Pragma") != "no-cache":
        problems.append("no Pragma: no-cache")
    if response.headers.get("X-RateLimit-Limit") != str(params["rate_limit"]):
        problems.append(f"X-RateLimit-Limit {response.headers.get('X-RateLimit-Limit')}")
    items = response.json().get("data", []) if response.status_code == 200 else []
    lifetimes = []
    for item in items:
        query = parse_qs(urlsplit(item.get("signed_url", "")).query)
        if "expires" in query:
            lifetimes.append(int(query["expires"][0]) - started)
        elif "X-Amz-Expires" in query:
            lifetimes.append(float(query["X-Amz-Expires"][0]))
        else:
            problems.append("a file without a signed URL")
    if not items:
        problems.append("no files listed")
    if any(lifetime > int(params["max_expiry_seconds"]) + 1 for lifetime in lifetimes):
        problems.append(f"expiry {max(lifetimes):.0f}s")
    observed = ", ".join(problems) or (
        f"expiry {max(lifetimes):.0f}s, no-store, limit {response.headers.get('X-RateLimit-Limit')}"
    )
    return Outcome(
        V.FAIL if problems else V.PASS,
        observed=observed,
        target=f"expiry ≤ {params['max_expiry_seconds']}s, no-store + no-cache, "
        f"X-RateLimit-Limit {params['rate_limit']}",
        query=f"GET {url}",
        evidence="\n".join(f"{k}: {v}" for k, v in response.headers.items())[:1500],
    )


@gate("rate_limiter", "Past the limit, the API answers 429 with Retry-After")
def rate_limiter(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    url = f"{ctx.canary_url}/v1/health"
    statuses = []
    response = ctx.get(url, ctx.probes.rate_limited_token)
    statuses.append(response.status_code)
    while response.status_code != 429 and len(statuses) < 30:
        response = ctx.get(url, ctx.probes.rate_limited_token)
        statuses.append(response.status_code)
    retry_after = response.headers.get("Retry-After", "")
    wait = ascii_int(retry_after, max_digits=9)
    ok = response.status_code == 429 and wait is not None and wait >= 1
    ok = ok and response.json().get("code") == "RATE_LIMIT_EXCEEDED"
    return Outcome(
        V.PASS if ok else V.FAIL,
        observed=f"{response.status_code} after {len(statuses)} requests, "
        f"Retry-After {retry_after!r}",
        target="429 RATE_LIMIT_EXCEEDED with Retry-After ≥ 1",
        query=f"GET {url} until limited (probe tenant limit {PROBE_RATE_LIMIT})",
        evidence=response.text[:500],
    )


@gate("metrics_export", "The canary exports the Prometheus request series")
def metrics_export(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    # With METRICS_TOKEN set (as in production), /metrics wants it.
    token = settings.METRICS_TOKEN or None
    response = ctx.get(f"{ctx.canary_url}/metrics?format=prometheus", token)
    missing = [family for family in SEED_FAMILIES if family not in response.text]
    return Outcome(
        V.PASS if response.status_code == 200 and not missing else V.FAIL,
        observed=f"{response.status_code}, missing {missing}" if missing else "all series present",
        target=", ".join(family.split()[2] for family in SEED_FAMILIES),
        query=f"GET {ctx.canary_url}/metrics?format=prometheus",
        evidence=response.text[:800],
    )


@gate("cors_refusal", "A disallowed origin gets no Access-Control-Allow-Origin")
def cors_refusal(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    response = ctx.get(f"{ctx.canary_url}/v1/health", ctx.probes.a.token, Origin=FOREIGN_ORIGIN)
    allowed = response.headers.get("Access-Control-Allow-Origin")
    return Outcome(
        V.FAIL if allowed in (FOREIGN_ORIGIN, "*") else V.PASS,
        observed=f"Access-Control-Allow-Origin: {allowed!r}",
        target="absent",
        query=f"GET {ctx.canary_url}/v1/health with Origin: {FOREIGN_ORIGIN}",
    )


@gate("tenant_isolation", "Another tenant's contact is 404 NOT_FOUND")
def tenant_isolation(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    url = f"{ctx.canary_url}/v1/contacts/{ctx.probes.a.contact_id}"
    response = ctx.get(url, ctx.probes.b.token)
    body = response.json()
    ok = response.status_code == 404 and body.get("code") == "NOT_FOUND"
    return Outcome(
        V.PASS if ok else V.FAIL,
        observed=f"{response.status_code} {body.get('code')}",
        target="404 NOT_FOUND",
        query=f"GET {url} as another tenant",
        evidence=response.text[:500],
    )


def probe_paths(ctx: GateContext) -> list[str]:
    """The probe tenant's read-only paths, one per API read route."""
    probe = ctx.probes.a
    return [
        "/v1/health",
        "/v1/contacts?limit=1",
        f"/v1/contacts/{probe.contact_id}",
        "/v1/jobs?limit=1",
        f"/v1/jobs/{probe.job_id}",
        f"/v1/jobs/{probe.job_id}/files?limit=1",
    ]


@gate("smoke", "Every read endpoint answers 200 on the canary")
def smoke(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    results = {
        path: ctx.get(f"{ctx.canary_url}{path}", ctx.probes.a.token).status_code
        for path in probe_paths(ctx)
    }
    failed = {path: code for path, code in results.items() if code != 200}
    return Outcome(
        V.FAIL if failed else V.PASS,
        observed=f"{len(results) - len(failed)}/{len(results)} OK"
        + (f", {failed}" if failed else ""),
        target="200 everywhere",
        query="GET " + ", ".join(results),
        evidence="\n".join(f"{code} {path}" for path, code in results.items()),
    )


@gate(
    "load_test",
    "Bounded load: success ≥ 99% (429s excluded), average and p95 reported",
    iterations=300,
    min_success=0.99,
)
def load_test(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    paths = [
        "/v1/health",
        "/v1/contacts?limit=5",
        "/v1/jobs?limit=5",
        f"/v1/jobs/{ctx.probes.a.job_id}/files?limit=5",
    ]
    latencies, statuses = [], []
    for i in range(int(params["iterations"])):
        started = time.perf_counter()
        response = ctx.get(f"{ctx.canary_url}{paths[i % len(paths)]}", ctx.probes.a.token)
        latencies.append((time.perf_counter() - started) * 1000)
        statuses.append(response.status_code)
    judged = [s for s in statuses if s != 429]
    success = sum(1 for s in judged if s < 400) / len(judged) if judged else 0.0
    p95 = statistics.quantiles(latencies, n=100)[94] if len(latencies) > 1 else latencies[0]
    return Outcome(
        V.PASS if judged and success >= float(params["min_success"]) else V.FAIL,
        observed=f"{success:.2%} success of {len(judged)} ({statuses.count(429)} 429s excluded), "
        f"avg {statistics.mean(latencies):.1f} ms, p95 {p95:.1f} ms",
        target=f"≥ {float(params['min_success']):.0%}",
        query=f"{params['iterations']} requests over {', '.join(paths)}",
    )


@gate("instances_up", "Every listed instance answers health 200", urls=[])
def instances_up(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    urls = list(params["urls"]) or [ctx.canary_url, ctx.stable_url]
    results = {}
    for url in dict.fromkeys(urls):
        try:
            results[url] = ctx.get(f"{url}/v1/health").status_code
        except requests.RequestException as exc:
            results[url] = f"down ({type(exc).__name__})"  # type: ignore[assignment]
    down = {u: s for u, s in results.items() if s != 200}
    return Outcome(
        V.FAIL if down else V.PASS,
        observed=f"{len(results) - len(down)}/{len(results)} up" + (f", {down}" if down else ""),
        target="all up",
        query="GET /v1/health on " + ", ".join(results),
    )


# --- Migrations ------------------------------------------------------------------------------


@gate(
    schema.GATE,
    "The release's migrations are safe for the stable code (or a person accepted the risk) and "
    "applied; with smoke, stable passes its contract smoke on the migrated database. Before "
    "phase 1 the smoke always runs (ops/rollouts/migration_gate.py)",
    smoke=False,
)
def migrations_safe(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    found = schema.verdict(ctx.rollout.release)
    accepted = schema.accepted_risk(ctx.rollout)
    problems, notes = [], [found.summary]
    if not found.ok:
        if accepted:
            notes.append(f"risk accepted: {accepted}")
        else:
            problems.append(found.summary)
    if found.unapplied:
        problems.append(f"not applied: {', '.join(found.unapplied)}")
    if params["smoke"]:
        smoke = schema.stable_smoke(
            ctx.stable_url, ctx.probes.a.token, timeout=ctx.timeout, session=ctx.session
        )
        notes.append(f"stable on the migrated schema: {smoke.observed}")
        if not smoke.ok:
            problems.append(notes[-1])
    return Outcome(
        V.FAIL if problems else V.PASS,
        observed="; ".join(problems or notes),
        target="no unsafe change (or the risk accepted by a person), all applied, stable smoke OK",
        query=f"Release.migrations of {ctx.rollout.release.version}; smoke of {ctx.stable_url}",
        evidence="\n".join(found.details) or "no findings",
    )
