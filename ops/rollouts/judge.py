"""The baseline judge: canary against stable over the same minutes, endpoint by endpoint.

For every endpoint three metrics are judged, each with a verdict (pass, marginal, fail or no
data), an effect size and a p-value:

- **latency**: Mann-Whitney U on the two latency histograms (one-sided: is the canary slower?).
  The effect is the ratio of mean latencies (exact, from the histograms' sums), as Kayenta's
  Mann-Whitney classifier measures it. Fail: p < alpha *and* the ratio ≥ max_ratio *and* the
  means at least min_difference_ms apart; marginal: the same with marginal_ratio. A
  significant but tiny difference passes (3.0 against 2.6 ms is 15 % and nothing a customer
  feels), and so does a large one that the samples cannot tell from chance.
- **tail**: for each of tail_quantiles (p95, p99) that the samples can show (at least
  min_tail_samples requests beyond it on stable's side), the share of each side's requests
  slower than stable's quantile (its histogram bucket bound), compared with Fisher's exact
  test: a regression that hits only some requests (one slow query plan, one endpoint's
  dependency) moves the tail long before the mean or the ranks. Fail and marginal as for
  latency, on the quantiles' ratio and difference; the worst quantile counts.
- **errors**: the canary's 5xx rate. First Wald's SPRT against the stable's rate: it decides on
  its own as soon as the evidence suffices (a clearly bad canary fails after a few errors, a
  clearly good one passes after a few hundred clean requests). Otherwise, once both sides have
  min_samples, Fisher's exact test: fail when p < alpha and the rate is higher by
  ≥ max_error_increase, marginal from marginal_error_increase.

The score (Kayenta's) is the weighted share of judged metrics that pass, a marginal metric
counting half. A failed critical
metric fails the judgement whatever the score; otherwise score ≥ pass_score passes,
≥ marginal_score is marginal (more evidence is gathered), below fails. While any metric lacks
data, the judgement is "no data" unless the failures already decide it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ops.slo.sources import Counts
from ops.slo.statistics import fisher_greater, mann_whitney_buckets, sprt_bernoulli
from portal.observability.metrics import BUCKETS_MS

MetricVerdict = Literal["pass", "marginal", "fail", "nodata"]
MetricName = Literal["latency", "tail", "errors"]
JUDGED_METRICS: tuple[MetricName, ...] = ("latency", "tail", "errors")
CREDIT = {"pass": 1.0, "marginal": 0.5, "fail": 0.0, "nodata": 0.0}
LABEL = {"pass": "pass", "marginal": "marginal", "fail": "FAIL", "nodata": "not enough data"}

DEFAULTS: dict[str, Any] = {
    "endpoints": [],  # blank: every active objective's endpoint
    "window_seconds": 600,
    "min_samples": 50,
    "alpha": 0.01,
    "max_ratio": 1.2,
    "marginal_ratio": 1.1,
    # A latency difference smaller than this is noise to a customer, whatever its ratio.
    "min_difference_ms": 5.0,
    "tail_quantiles": [0.95, 0.99],
    "min_tail_samples": 5,
    "max_error_increase": 0.01,
    "marginal_error_increase": 0.005,
    "sprt_min_rate": 0.005,
    "sprt_alpha": 0.05,
    "sprt_beta": 0.05,
    "pass_score": 95,
    "marginal_score": 75,
    "weights": {"latency": 1, "tail": 1, "errors": 1},
    "critical": ["latency", "tail", "errors"],
}


@dataclass(frozen=True)
class Metric:
    endpoint: str
    name: MetricName
    verdict: MetricVerdict
    canary: str
    stable: str
    effect: str
    p_value: float | None
    method: str
    critical: bool = True
    weight: float = 1.0

    def row(self) -> str:
        p = "—" if self.p_value is None else f"{self.p_value:.3g}"
        return (
            f"{self.endpoint or 'all API routes'} {self.name}: {LABEL[self.verdict]} "
            f"(canary {self.canary}; stable {self.stable}; effect {self.effect}; p {p}; "
            f"{self.method})"
        )


@dataclass(frozen=True)
class Judgement:
    verdict: MetricVerdict
    score: float | None
    metrics: list[Metric] = field(default_factory=list)

    @property
    def summary(self) -> str:
        judged = [m for m in self.metrics if m.verdict != "nodata"]
        passed = sum(1 for m in judged if m.verdict == "pass")
        score = "no score yet" if self.score is None else f"score {self.score:.0f}"
        waiting = len(self.metrics) - len(judged)
        worst = [
            f"{m.name} {m.endpoint or 'all'} {LABEL[m.verdict]}"
            for m in self.metrics
            if m.verdict not in {"pass", "nodata"}
        ]
        return (
            f"{LABEL[self.verdict]}: {score}, {passed} of {len(judged)} judged metrics pass"
            + (f", {waiting} without enough data" if waiting else "")
            + (f" ({', '.join(worst)})" if worst else "")
        )


def _latency_summary(counts: Counts) -> str:
    if not counts.requests:
        return "no requests"
    parts = [f"n {counts.requests}"]
    for q in (0.5, 0.95, 0.99):
        value = counts.quantile(q)
        parts.append(f"p{q * 100:g} {value:.0f} ms" if value is not None else f"p{q * 100:g} —")
    if counts.mean_ms is not None:
        parts.append(f"mean {counts.mean_ms:.1f} ms")
    return ", ".join(parts)


def _rate(counts: Counts) -> str:
    rate = counts.error_rate
    return f"{counts.errors}/{counts.requests} 5xx" + (f" ({rate:.2%})" if rate is not None else "")


def judge_latency(endpoint: str, canary: Counts, stable: Counts, params: dict[str, Any]) -> Metric:
    method = "Mann-Whitney U, one-sided, tie-corrected"
    sides = {"canary": _latency_summary(canary), "stable": _latency_summary(stable)}
    minimum = int(params["min_samples"])
    if canary.requests < minimum or stable.requests < minimum:
        return Metric(
            endpoint,
            "latency",
            "nodata",
            effect=f"needs {minimum} requests a side",
            p_value=None,
            method=method,
            canary=sides["canary"],
            stable=sides["stable"],
        )
    test = mann_whitney_buckets(canary.buckets, stable.buckets)
    ratio = (canary.mean_ms or 0.0) / stable.mean_ms if stable.mean_ms else 1.0
    difference = (canary.mean_ms or 0.0) - (stable.mean_ms or 0.0)
    verdict = _slower(test.p_value, ratio, difference, params)
    return Metric(
        endpoint,
        "latency",
        verdict,
        effect=f"mean ratio {ratio:.2f}x ({difference:+.1f} ms), "
        f"P(canary slower) {test.superiority:.2f}",
        p_value=test.p_value,
        method=method,
        canary=sides["canary"],
        stable=sides["stable"],
    )


def _slower(
    p_value: float, ratio: float, difference: float, params: dict[str, Any]
) -> MetricVerdict:
    """A latency difference counts when it is significant, relatively large and absolutely
    large: min_difference_ms keeps a busy machine's few milliseconds from pausing a canary."""
    if p_value >= float(params["alpha"]) or difference < float(params["min_difference_ms"]):
        return "pass"
    if ratio >= float(params["max_ratio"]):
        return "fail"
    if ratio >= float(params["marginal_ratio"]):
        return "marginal"
    return "pass"


def judge_tail(endpoint: str, canary: Counts, stable: Counts, params: dict[str, Any]) -> Metric:
    method = "Fisher's exact on the share beyond stable's quantile, one-sided"
    sides = {"canary": _latency_summary(canary), "stable": _latency_summary(stable)}
    minimum = int(params["min_samples"])
    rank = {"pass": 0, "marginal": 1, "fail": 2}
    worst: tuple[MetricVerdict, str, float | None] = ("nodata", "no quantile testable", None)
    if canary.requests >= minimum and stable.requests >= minimum:
        for q in sorted(float(x) for x in params["tail_quantiles"]):
            tested = _tail_at(q, canary, stable, params)
            if tested is None:
                continue
            if worst[0] == "nodata" or rank[tested[0]] > rank[worst[0]]:
                worst = tested
    else:
        worst = ("nodata", f"needs {minimum} requests a side", None)
    return Metric(
        endpoint,
        "tail",
        worst[0],
        effect=worst[1],
        p_value=worst[2],
        method=method,
        canary=sides["canary"],
        stable=sides["stable"],
    )


def _tail_at(
    q: float, canary: Counts, stable: Counts, params: dict[str, Any]
) -> tuple[MetricVerdict, str, float] | None:
    stable_q, canary_q = stable.quantile(q), canary.quantile(q)
    if stable_q is None or canary_q is None:
        return None
    # Stable's quantile rounded up to its bucket's bound: "slower than stable's p95" is then
    # exact on both sides. Past the last bound there is nothing to compare.
    bound = next((b for b in BUCKETS_MS if b >= stable_q), None)
    if bound is None:
        return None
    stable_over = stable.requests - stable.under(bound)
    if stable.requests * (1 - q) < int(params["min_tail_samples"]):
        return None  # too few requests for this quantile to have a tail at all
    canary_over = canary.requests - canary.under(bound)
    p_value = fisher_greater(canary_over, canary.requests, stable_over, stable.requests)
    ratio = canary_q / stable_q if stable_q else 1.0
    verdict = _slower(p_value, ratio, canary_q - stable_q, params)
    effect = (
        f"p{q * 100:g} {canary_q:.0f} vs {stable_q:.0f} ms ({ratio:.2f}x, "
        f"{canary_q - stable_q:+.0f} ms); beyond {bound:g} ms: "
        f"{canary_over / canary.requests:.1%} vs {stable_over / stable.requests:.1%}"
    )
    return verdict, effect, p_value


def judge_errors(endpoint: str, canary: Counts, stable: Counts, params: dict[str, Any]) -> Metric:
    stable_rate = stable.error_rate or 0.0
    difference = (canary.error_rate or 0.0) - stable_rate
    increase = float(params["max_error_increase"])
    p0 = min(0.5, max(stable_rate, float(params["sprt_min_rate"])))
    p1 = min(0.99, p0 + increase * 2)
    sprt = sprt_bernoulli(
        canary.errors,
        canary.requests,
        p0=p0,
        p1=p1,
        alpha=float(params["sprt_alpha"]),
        beta=float(params["sprt_beta"]),
    )
    method = f"SPRT {p0:.2%} vs {p1:.2%}: LLR {sprt.llr:.2f}"
    p_value: float | None = None
    verdict: MetricVerdict
    minimum = int(params["min_samples"])
    if sprt.decision == "accept_h1" and difference >= increase:
        verdict, method = "fail", f"{method} ≥ {sprt.upper:.2f}"
    elif canary.requests < minimum or stable.requests < minimum:
        if sprt.decision == "accept_h0":
            verdict, method = "pass", f"{method} ≤ {sprt.lower:.2f}"
        else:
            verdict, method = "nodata", f"{method}, undecided"
    else:
        p_value = fisher_greater(canary.errors, canary.requests, stable.errors, stable.requests)
        method = "Fisher's exact, one-sided"
        verdict = "pass"
        if p_value < float(params["alpha"]):
            if difference >= increase:
                verdict = "fail"
            elif difference >= float(params["marginal_error_increase"]):
                verdict = "marginal"
    return Metric(
        endpoint,
        "errors",
        verdict,
        canary=_rate(canary),
        stable=_rate(stable),
        effect=f"rate difference {difference:+.2%}",
        p_value=p_value,
        method=method,
    )


def judge(pairs: dict[str, tuple[Counts, Counts]], params: dict[str, Any]) -> Judgement:
    """`pairs`: endpoint → (canary counts, stable counts) over the same minutes."""
    params = {**DEFAULTS, **params}
    weights: dict[str, float] = {**DEFAULTS["weights"], **params["weights"]}
    critical = set(params["critical"])
    metrics: list[Metric] = []
    for endpoint, (canary, stable) in pairs.items():
        for metric in (
            judge_latency(endpoint, canary, stable, params),
            judge_tail(endpoint, canary, stable, params),
            judge_errors(endpoint, canary, stable, params),
        ):
            metrics.append(
                replace(
                    metric,
                    critical=metric.name in critical,
                    weight=float(weights.get(metric.name, 1)),
                )
            )
    judged = [m for m in metrics if m.verdict != "nodata"]
    total = sum(m.weight for m in metrics)
    # A marginal metric earns half its weight (Kayenta counts passes only; half credit keeps one
    # marginal metric of two from failing the judgement outright).
    passed = sum(m.weight * CREDIT[m.verdict] for m in judged)
    failed = sum(m.weight for m in judged if m.verdict == "fail")
    score = 100 * passed / sum(m.weight for m in judged) if judged else None
    if any(m.verdict == "fail" and m.critical for m in metrics):
        return Judgement("fail", score, metrics)
    # Even if every metric still without data passed, the score could not reach marginal.
    if total and 100 * (total - failed) / total < float(params["marginal_score"]):
        return Judgement("fail", score, metrics)
    if len(judged) < len(metrics) or score is None:
        return Judgement("nodata", score, metrics)
    if score >= float(params["pass_score"]):
        return Judgement("pass", score, metrics)
    if score >= float(params["marginal_score"]):
        return Judgement("marginal", score, metrics)
    return Judgement("fail", score, metrics)
