"""Two-sample tests on what the metrics store keeps: latency histograms and error counts.

- **Mann-Whitney U on bucketed latencies.** Every request is an observation whose value is its
  histogram bucket; requests in one bucket are ties and share the bucket's mid-rank. U, its
  tie-corrected variance and the normal approximation with continuity correction follow
  Mann & Whitney (1947) and Lehmann, *Nonparametrics* (1975), §1.4 — exactly what
  ``scipy.stats.mannwhitneyu(..., method="asymptotic")`` computes on the expanded samples,
  without expanding them (a histogram of a million requests is twenty numbers). Kayenta's
  judge (spinnaker/kayenta, kayenta-judge's ``MannWhitneyClassifier``) uses the same test.
- **Fisher's exact test** on the 2x2 table of errors and successes: the one-sided p-value is
  the hypergeometric upper tail, summed in log space.
- **Wald's sequential probability ratio test** (Wald 1945) on the canary's error rate, so a
  clearly bad canary fails, and a clearly good one passes, as soon as the evidence suffices.

Written in plain Python rather than called from scipy.stats: importing scipy.stats costs every
web worker that renders a report or checks gates about 80 MiB of memory (measured: 73 → 155
MiB). tests/ops/test_judge.py checks every function against scipy's on the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Alternative = Literal["greater", "two-sided"]


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample (the canary)
    p_value: float
    # P(canary > stable) + P(tie) / 2: the common-language effect size, 0.5 when alike.
    superiority: float


def mann_whitney_buckets(
    first: Sequence[float], second: Sequence[float], alternative: Alternative = "greater"
) -> MannWhitney:
    """Mann-Whitney U of two samples given as counts per ordered bucket. `greater`: the first
    sample tends to larger values (the canary is slower)."""
    if len(first) != len(second):
        raise ValueError("Both histograms need the same buckets")
    n1, n2 = float(sum(first)), float(sum(second))
    if n1 <= 0 or n2 <= 0:
        raise ValueError("Both samples need at least one observation")
    n = n1 + n2
    rank_sum, below, ties = 0.0, 0.0, 0.0
    for a, b in zip(first, second, strict=True):
        together = a + b
        rank_sum += a * (below + (together + 1) / 2)  # mid-rank of the bucket
        ties += together**3 - together
        below += together
    u1 = rank_sum - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    u = u1 if alternative == "greater" else max(u1, n1 * n2 - u1)
    if variance <= 0:
        p = 1.0  # every observation in one bucket: nothing tells the samples apart
    else:
        z = (u - mean - 0.5) / math.sqrt(variance)
        p = normal_sf(z) * (2 if alternative == "two-sided" else 1)
    return MannWhitney(u=float(u1), p_value=min(1.0, p), superiority=float(u1 / (n1 * n2)))


def normal_sf(z: float) -> float:
    """The standard normal's upper tail, P(Z > z)."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_greater(
    first_errors: int, first_total: int, second_errors: int, second_total: int
) -> float:
    """One-sided Fisher's exact p-value that the first sample's error rate is the greater:
    P(X >= first_errors) for X hypergeometric with the table's margins."""
    errors = first_errors + second_errors
    total = first_total + second_total
    low, high = max(first_errors, errors - second_total), min(errors, first_total)
    if low > high:
        return 1.0
    denominator = _log_choose(total, errors)
    terms = [
        _log_choose(first_total, x) + _log_choose(second_total, errors - x) - denominator
        for x in range(low, high + 1)
    ]
    peak = max(terms)
    return min(1.0, math.exp(peak) * sum(math.exp(t - peak) for t in terms))


SprtDecision = Literal["accept_h0", "accept_h1", "continue"]


@dataclass(frozen=True)
class Sprt:
    decision: SprtDecision
    llr: float
    lower: float
    upper: float


def sprt_bernoulli(
    errors: int, total: int, *, p0: float, p1: float, alpha: float = 0.05, beta: float = 0.05
) -> Sprt:
    """Wald's SPRT of H0: rate = p0 against H1: rate = p1 (p1 > p0) after `total` trials with
    `errors` failures. Accepting H1 means the rate is too high (error ≤ alpha of wrongly so);
    accepting H0 means it is acceptable (error ≤ beta of wrongly so)."""
    if not 0 < p0 < p1 < 1:
        raise ValueError("SPRT needs 0 < p0 < p1 < 1")
    llr = errors * math.log(p1 / p0) + (total - errors) * math.log((1 - p1) / (1 - p0))
    upper, lower = math.log((1 - beta) / alpha), math.log(beta / (1 - alpha))
    decision: SprtDecision = "continue"
    if llr >= upper:
        decision = "accept_h1"
    elif llr <= lower:
        decision = "accept_h0"
    return Sprt(decision=decision, llr=llr, lower=lower, upper=upper)
