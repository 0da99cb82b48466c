"""Means and Student-t confidence intervals over replications.

One simulation run is one draw; the quantity a planner wants is the mean over runs with an
honest error bar. Replications with different seeds are independent, so the textbook
interval ``mean +- t(1 - alpha/2, n - 1) * s / sqrt(n)`` applies to each key figure. It
assumes the per-run figures are roughly normal, which holds well for means and for
percentiles of many activities; with few replications the t quantile widens the interval
accordingly. A figure that is undefined in a run (NaN: e.g. no client activity finished)
is left out of that figure's interval, and ``n`` says how many runs contributed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = ["Interval", "mean_ci", "summarise"]


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

    def contains(self, value: float) -> bool:
        """True when ``value`` lies inside the closed interval."""
        return bool(self.low <= value <= self.high)

    def __str__(self) -> str:
        if self.n == 0:
            return "n/a (no runs)"
        if math.isnan(self.half_width):
            return f"{self.mean:.6g} (n={self.n}, no interval from one run)"
        return f"{self.mean:.6g} ± {self.half_width:.3g} (n={self.n})"


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> Interval:
    """Mean and Student-t confidence interval of ``values``, ignoring NaN.

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
    t = float(_st.t.ppf(0.5 + confidence / 2.0, df=n - 1))
    half = t * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, half, std, n, confidence)


def summarise(
    runs: Sequence[Mapping[str, float]], figures: Sequence[str], confidence: float = 0.95
) -> dict[str, Interval]:
    """One interval per figure name over the runs (a run lacking a figure counts as NaN)."""
    return {
        name: mean_ci((float(r.get(name, float("nan"))) for r in runs), confidence)
        for name in figures
    }
