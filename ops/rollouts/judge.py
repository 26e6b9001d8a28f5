"""The baseline judge: canary against stable over the same minutes, endpoint by endpoint.

For every endpoint two metrics are judged, each with a verdict (pass, marginal, fail or no
data), an effect size and a p-value:

- **latency**: Mann-Whitney U on the two latency histograms (one-sided: is the canary slower?).
  The effect is the ratio of mean latencies (exact, from the histograms' sums), as Kayenta's
  Mann-Whitney classifier measures it. Fail: p < alpha *and* the ratio ≥ max_ratio; marginal:
  p < alpha and the ratio ≥ marginal_ratio. A significant but tiny difference passes, and so
  does a large one that the samples cannot tell from chance.
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

MetricVerdict = Literal["pass", "marginal", "fail", "nodata"]
CREDIT = {"pass": 1.0, "marginal": 0.5, "fail": 0.0, "nodata": 0.0}
LABEL = {"pass": "pass", "marginal": "marginal", "fail": "FAIL", "nodata": "not enough data"}

DEFAULTS: dict[str, Any] = {
    "endpoints": [],  # blank: every active objective's endpoint
    "window_seconds": 600,
    "min_samples": 50,
    "alpha": 0.01,
    "max_ratio": 1.2,
    "marginal_ratio": 1.1,
    "max_error_increase": 0.01,
    "marginal_error_increase": 0.005,
    "sprt_min_rate": 0.005,
    "sprt_alpha": 0.05,
    "sprt_beta": 0.05,
    "pass_score": 95,
    "marginal_score": 75,
    "weights": {"latency": 1, "errors": 1},
    "critical": ["latency", "errors"],
}


@dataclass(frozen=True)
class Metric:
    endpoint: str
    name: Literal["latency", "errors"]
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
    verdict: MetricVerdict = "pass"
    if test.p_value < float(params["alpha"]):
        if ratio >= float(params["max_ratio"]):
            verdict = "fail"
        elif ratio >= float(params["marginal_ratio"]):
            verdict = "marginal"
    return Metric(
        endpoint,
        "latency",
        verdict,
        effect=f"mean ratio {ratio:.2f}x, P(canary slower) {test.superiority:.2f}",
        p_value=test.p_value,
        method=method,
        canary=sides["canary"],
        stable=sides["stable"],
    )


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
