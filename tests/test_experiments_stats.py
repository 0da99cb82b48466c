"""Confidence intervals: exact numbers against scipy, and coverage of a known mean."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from activitykit.experiments import mean_ci, summarise


def test_exact_t_interval_matches_scipy() -> None:
    sample = [2.1, 3.4, 1.9, 5.6, 4.2, 3.3]
    iv = mean_ci(sample)
    low, high = stats.t.interval(
        0.95, df=len(sample) - 1, loc=np.mean(sample), scale=stats.sem(sample)
    )
    assert iv.n == 6
    assert iv.mean == pytest.approx(3.4166666666666665, rel=1e-12)
    assert (iv.low, iv.high) == pytest.approx((low, high), rel=1e-12)
    assert iv.half_width == pytest.approx((high - low) / 2, rel=1e-12)


def test_known_small_sample_by_hand() -> None:
    # mean 2, s = 1, n = 3: half width = t(0.975, 2) / sqrt(3) = 4.302652729749464 / sqrt(3)
    iv = mean_ci([1.0, 2.0, 3.0])
    assert iv.half_width == pytest.approx(4.302652729749464 / math.sqrt(3), rel=1e-12)
    assert (iv.low, iv.high) == pytest.approx((-0.4841377117503, 4.4841377117503), rel=1e-9)
    iv90 = mean_ci([1.0, 2.0, 3.0], confidence=0.90)
    assert iv90.half_width == pytest.approx(2.919985580353724 / math.sqrt(3), rel=1e-12)


def test_nan_values_are_left_out_and_counted() -> None:
    iv = mean_ci([1.0, float("nan"), 3.0])
    assert iv.n == 2 and iv.mean == 2.0
    assert iv.contains(2.0) and not iv.contains(100.0)


def test_one_value_has_no_interval_and_none_has_no_mean() -> None:
    one = mean_ci([5.0])
    assert one.n == 1 and one.mean == 5.0
    assert math.isnan(one.low) and math.isnan(one.high) and math.isnan(one.half_width)
    none = mean_ci([])
    assert none.n == 0 and math.isnan(none.mean)
    assert "no interval" in str(one) and "no runs" in str(none)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95])
def test_confidence_out_of_range_is_refused(confidence: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        mean_ci([1.0, 2.0], confidence=confidence)


@pytest.mark.parametrize("n", [3, 5, 12])
def test_coverage_of_a_known_mean_is_95_percent(n: int) -> None:
    """Over many replicated experiments, 95% of the intervals hold the true mean."""
    rng = np.random.default_rng(20261129 + n)
    trials = 4000
    true_mean = 10.0
    hits = sum(
        mean_ci(rng.normal(true_mean, 3.0, size=n)).contains(true_mean) for _ in range(trials)
    )
    coverage = hits / trials
    # binomial sd of the estimate is sqrt(.95 * .05 / 4000) = 0.0034; allow 4 sd
    assert 0.936 <= coverage <= 0.964, coverage


def test_normal_quantile_would_undercover_with_few_runs() -> None:
    """The t quantile matters: with n=3 a z-interval covers far less than 95%."""
    rng = np.random.default_rng(7)
    trials, n, hits_t, hits_z = 4000, 3, 0, 0
    for _ in range(trials):
        x = rng.normal(0.0, 1.0, size=n)
        iv = mean_ci(x)
        hits_t += iv.contains(0.0)
        hits_z += abs(x.mean()) <= 1.959963984540054 * x.std(ddof=1) / math.sqrt(n)
    assert hits_t / trials > 0.93
    assert hits_z / trials < 0.90


def test_summarise_treats_missing_figures_as_nan() -> None:
    runs = [{"a": 1.0, "b": 4.0}, {"a": 3.0}]
    out = summarise(runs, ["a", "b"])
    assert out["a"].mean == 2.0 and out["a"].n == 2
    assert out["b"].n == 1 and out["b"].mean == 4.0


def test_non_negative_figures_get_non_negative_intervals() -> None:
    # The example: unfinished counts 0, 7 and 15 over three runs gave [-0.26, 14.92].
    from activitykit.experiments.stats import figure_ci

    t = mean_ci([0.0, 7.0, 15.0])
    assert t.low < 0  # what the symmetric interval does
    iv = figure_ci("all.unfinished", [0.0, 7.0, 15.0])
    assert iv.method == "bootstrap"
    assert 0.0 <= iv.low <= iv.mean <= iv.high <= 15.0
    assert iv == figure_ci("all.unfinished", [0.0, 7.0, 15.0])  # seeded: reproducible
    assert "bootstrap" in str(iv)
    same = figure_ci("client.total.p99", [5.0, 5.0])
    assert (same.low, same.high) == (5.0, 5.0)
    other = figure_ci("latency", [0.0, 7.0, 15.0])  # not a key figure: Student-t
    assert other.method == "student-t" and other.low == t.low
