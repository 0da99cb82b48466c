"""Means and confidence intervals over replications.

One simulation run is one draw; the quantity a planner wants is the mean over runs with an
honest error bar. Replications with different seeds are independent. Two intervals:

- Student-t, ``mean +- t(1 - alpha/2, n - 1) * s / sqrt(n)`` (``mean_ci``): symmetric, so
  for a quantity that cannot be negative and varies a lot between runs (unfinished counts,
  a p99 of a few activities) it reaches below zero, which no run could show.
- Bootstrap percentile (``mean_ci(..., nonnegative=True)``, ``scipy.stats.bootstrap``): the
  quantiles of the means of resampled runs, which lie within the runs' own range, so a
  non-negative figure keeps a non-negative interval. With few runs it is narrower than the
  t interval (it cannot know about values no run drew); the resampling is seeded, so the
  same runs give the same interval.

``figure_ci`` picks: every key and load figure (``reports.metrics.HEADLINE_FIGURES``) is a
duration, rate, count or share, never negative, and gets the bootstrap; any other figure the
t interval. A figure that is undefined in a run (NaN: e.g. no client activity finished) is
left out of that figure's interval, and ``n`` says how many runs contributed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = ["BOOTSTRAP_RESAMPLES", "Interval", "figure_ci", "mean_ci", "summarise"]

#: Resamples of a bootstrap interval (scipy's default).
BOOTSTRAP_RESAMPLES = 9999


@dataclass(frozen=True, slots=True)
class Interval:
    """The mean of ``n`` values with a two-sided confidence interval ``[low, high]``.

    With ``n == 1`` the spread is unknown: ``std``, ``low``, ``high`` and ``half_width`` are
    NaN. With ``n == 0`` the mean is NaN too.
    """

    mean: float
    low: float
    high: float
    half_width: float
    std: float
    n: int
    confidence: float = 0.95
    method: str = "student-t"

    def contains(self, value: float) -> bool:
        """True when ``value`` lies inside the closed interval."""
        return bool(self.low <= value <= self.high)

    def __str__(self) -> str:
        if self.n == 0:
            return "n/a (no runs)"
        if math.isnan(self.half_width):
            return f"{self.mean:.6g} (n={self.n}, no interval from one run)"
        if self.method == "bootstrap":  # not centred on the mean: show both ends
            return f"{self.mean:.4g} [{self.low:.4g}, {self.high:.4g}] (n={self.n}, bootstrap)"
        return f"{self.mean:.6g} ± {self.half_width:.3g} (n={self.n})"


def mean_ci(
    values: Iterable[float], confidence: float = 0.95, *, nonnegative: bool = False
) -> Interval:
    """Mean and Student-t confidence interval of ``values``, ignoring NaN; with
    ``nonnegative``, the bootstrap percentile interval instead (``half_width`` is then half
    the interval's length, which need not be centred on the mean).

    >>> iv = mean_ci([1.0, 2.0, 3.0])
    >>> round(iv.low, 4), round(iv.high, 4)
    (-0.4841, 4.4841)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(
            f"confidence ({confidence}) must be strictly between 0 and 1, e.g. 0.95 for 95%"
        )
    arr = np.asarray(list(values), dtype=float)
    arr = arr[~np.isnan(arr)]
    n = int(arr.size)
    nan = float("nan")
    if n == 0:
        return Interval(nan, nan, nan, nan, nan, 0, confidence)
    mean = float(arr.mean())
    if n == 1:
        return Interval(mean, nan, nan, nan, nan, 1, confidence)
    std = float(arr.std(ddof=1))
    if nonnegative:
        if std == 0.0:  # every run drew the same value: nothing to resample
            return Interval(mean, mean, mean, 0.0, 0.0, n, confidence, "bootstrap")
        res = _st.bootstrap(
            (arr,),
            np.mean,
            confidence_level=confidence,
            n_resamples=BOOTSTRAP_RESAMPLES,
            method="percentile",
            rng=np.random.default_rng(0),
        )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        return Interval(mean, low, high, (high - low) / 2.0, std, n, confidence, "bootstrap")
    t = float(_st.t.ppf(0.5 + confidence / 2.0, df=n - 1))
    half = t * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, half, std, n, confidence)


def figure_ci(figure: str, values: Iterable[float], confidence: float = 0.95) -> Interval:
    """``mean_ci`` of one figure over runs: the bootstrap for the non-negative key and load
    figures, Student-t for any other."""
    from ..reports.metrics import HEADLINE_FIGURES

    return mean_ci(values, confidence, nonnegative=figure in HEADLINE_FIGURES)


def summarise(
    runs: Sequence[Mapping[str, float]], figures: Sequence[str], confidence: float = 0.95
) -> dict[str, Interval]:
    """One interval per figure name over the runs (a run lacking a figure counts as NaN)."""
    return {
        name: figure_ci(name, (float(r.get(name, float("nan"))) for r in runs), confidence)
        for name in figures
    }
