"""The baseline judge: its statistics against scipy's on the same samples, its error rates on
seeded trials (property tests), and its verdicts on the embedded store's rollups."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats  # type: ignore[import-untyped]

from ops.rollouts.judge import DEFAULTS, judge
from ops.slo.sources import Counts
from ops.slo.statistics import fisher_greater, mann_whitney_buckets, sprt_bernoulli
from portal.observability.metrics import BUCKETS_MS

BOUNDS = np.array([*BUCKETS_MS, np.inf])


def counts_of(latencies_ms: np.ndarray, errors: int = 0) -> Counts:
    """What the metrics store keeps of these requests: a histogram, a sum, a count."""
    indexes = np.searchsorted(BOUNDS, latencies_ms, side="left")
    buckets = np.bincount(indexes, minlength=len(BOUNDS)).astype(float)
    return Counts(
        requests=len(latencies_ms),
        errors=errors,
        buckets=list(buckets),
        sum_ms=float(latencies_ms.sum()),
    )


# --- Against scipy on fixed samples --------------------------------------------------------


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
@given(
    first=st.lists(st.integers(0, 19), min_size=1, max_size=300),
    second=st.lists(st.integers(0, 19), min_size=1, max_size=300),
)
@settings(max_examples=200, deadline=None)
def test_mann_whitney_on_buckets_is_scipys_on_the_expanded_samples(
    alternative: Any, first: list[int], second: list[int]
) -> None:
    a = np.bincount(first, minlength=20)
    b = np.bincount(second, minlength=20)
    ours = mann_whitney_buckets(list(a), list(b), alternative)
    theirs = stats.mannwhitneyu(first, second, alternative=alternative, method="asymptotic")
    assert ours.u == pytest.approx(theirs.statistic)
    if np.isnan(theirs.pvalue):  # every value tied: scipy says nan, we say "no difference"
        assert ours.p_value == 1.0
    else:
        assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-12)


def test_mann_whitney_matches_scipy_on_a_fixed_latency_sample() -> None:
    rng = np.random.default_rng(7)
    canary = rng.lognormal(np.log(40), 0.5, 400)
    stable = rng.lognormal(np.log(35), 0.5, 600)
    c, s = counts_of(canary), counts_of(stable)
    ranks_c = np.searchsorted(BOUNDS, canary)
    ranks_s = np.searchsorted(BOUNDS, stable)
    theirs = stats.mannwhitneyu(ranks_c, ranks_s, alternative="greater", method="asymptotic")
    ours = mann_whitney_buckets(c.buckets, s.buckets)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)
    assert ours.superiority == pytest.approx(theirs.statistic / (400 * 600))


@given(
    table=st.tuples(
        st.integers(0, 40), st.integers(1, 400), st.integers(0, 40), st.integers(1, 400)
    ).filter(lambda t: t[0] <= t[1] and t[2] <= t[3])
)
@settings(max_examples=100, deadline=None)
def test_fisher_is_scipys(table: tuple[int, int, int, int]) -> None:
    e1, n1, e2, n2 = table
    expected = stats.fisher_exact([[e1, n1 - e1], [e2, n2 - e2]], alternative="greater").pvalue
    assert fisher_greater(e1, n1, e2, n2) == pytest.approx(expected)


def test_sprt_boundaries_are_walds() -> None:
    # ln((1-b)/a) and ln(b/(1-a)) for a = b = 0.05.
    clean = sprt_bernoulli(0, 200, p0=0.005, p1=0.025)
    assert clean.upper == pytest.approx(np.log(19))
    assert clean.lower == pytest.approx(-np.log(19))
    assert clean.decision == "accept_h0"
    assert sprt_bernoulli(3, 10, p0=0.005, p1=0.025).decision == "accept_h1"
    assert sprt_bernoulli(0, 20, p0=0.005, p1=0.025).decision == "continue"


# --- Error rates of the whole judge on seeded trials ---------------------------------------


def trial(seed: int, shift: float, n: int = 500) -> str:
    rng = np.random.default_rng(seed)
    stable = rng.lognormal(np.log(40), 0.5, n)
    canary = rng.lognormal(np.log(40 * shift), 0.5, n)
    return judge({"/v*/contacts": (counts_of(canary), counts_of(stable))}, {}).verdict


def test_identical_distributions_pass_in_at_least_95_percent_of_seeded_trials() -> None:
    verdicts = [trial(seed, 1.0) for seed in range(200)]
    assert verdicts.count("pass") / len(verdicts) >= 0.95


def test_a_30_percent_latency_shift_at_500_samples_fails_in_at_least_95_percent() -> None:
    verdicts = [trial(seed, 1.3) for seed in range(200)]
    assert verdicts.count("fail") / len(verdicts) >= 0.95


def test_a_5_percent_shift_is_significant_but_too_small_to_fail() -> None:
    verdicts = [trial(seed, 1.05, n=20_000) for seed in range(20)]
    assert "fail" not in verdicts


# --- Decisions ------------------------------------------------------------------------------


def test_too_few_samples_is_no_data_and_a_clearly_bad_canary_fails_early() -> None:
    rng = np.random.default_rng(1)
    few = counts_of(rng.lognormal(np.log(40), 0.5, 10))
    assert judge({"": (few, few)}, {}).verdict == "nodata"
    # Three 5xx in ten requests: SPRT decides long before min_samples.
    bad = counts_of(rng.lognormal(np.log(40), 0.5, 10), errors=3)
    judgement = judge({"": (bad, few)}, {})
    assert judgement.verdict == "fail"
    errors = next(m for m in judgement.metrics if m.name == "errors")
    assert errors.verdict == "fail"
    assert "SPRT" in errors.method


def test_error_rates_two_points_higher_fail_and_a_smaller_significant_rise_is_marginal() -> None:
    rng = np.random.default_rng(2)
    latencies = rng.lognormal(np.log(40), 0.5, 5000)
    stable = counts_of(latencies, errors=50)  # 1 %
    judgement = judge({"": (counts_of(latencies, errors=150), stable)}, {})
    assert judgement.verdict == "fail"
    # 1.8 % against 1 %: the SPRT (1 % vs 3 %) is undecided; Fisher's test is significant,
    # the rise (0.8 points) between the marginal and the failing increase.
    judgement = judge({"": (counts_of(latencies, errors=90), stable)}, {})
    errors = next(m for m in judgement.metrics if m.name == "errors")
    assert errors.method == "Fisher's exact, one-sided"
    assert errors.p_value is not None
    assert errors.p_value < 0.01
    assert errors.verdict == "marginal"
    assert judgement.verdict == "marginal"


def test_the_score_decides_when_no_metric_is_critical() -> None:
    rng = np.random.default_rng(3)
    stable = rng.lognormal(np.log(40), 0.5, 800)
    good = counts_of(stable)
    slow = counts_of(rng.lognormal(np.log(60), 0.5, 800))
    pairs = {"/v*/health": (good, good), "/v*/contacts": (slow, good)}
    # contacts' latency and tail fail, 2 metrics of 6: score 67, marginal from 60, failing
    # under the default 75.
    assert judge(pairs, {"critical": [], "marginal_score": 60}).verdict == "marginal"
    assert judge(pairs, {"critical": []}).verdict == "fail"
    # Critical by default: any failing metric fails the judgement.
    assert judge(pairs, {}).verdict == "fail"
    assert DEFAULTS["critical"] == ["latency", "tail", "errors"]
