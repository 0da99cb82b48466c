"""Round trips measured on a real client's wire: what a ping period says beyond its interval.

Landscape Client schedules its next ping from the previous ping's answer, so two consecutive
pings of one loop are the interval plus that ping's round trip apart (the answer's way back
and the reactor's turn included). Pings of a second loop, and pings rescheduled by an
exchange's messages, are not periods: only gaps within ``window`` over the interval with no
exchange since just before the first ping count. The fit is a lognormal by the moments of
the logs (its mean and sigma as the scenario's ``lognormal`` takes them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise

import numpy as np

__all__ = ["lognormal_fit", "ping_periods"]


def ping_periods(
    pings: Mapping[str, Sequence[float]],
    exchanges: Mapping[str, Sequence[float]],
    interval: float,
    window: float = 0.05,
) -> np.ndarray:
    """Each computer's consecutive pings ``interval`` to ``interval + window`` apart with no
    exchange from ``window`` before the first to the second: the excess over the interval
    (s), one per such pair."""
    out: list[float] = []
    for c, ts in pings.items():
        t = np.sort(np.asarray(ts, dtype=float))
        ex = np.sort(np.asarray(exchanges.get(c, ()), dtype=float))
        for a, b in pairwise(t.tolist()):
            d = b - a - interval
            if 0.0 < d < window:
                i = np.searchsorted(ex, a - window, side="right")
                if i >= len(ex) or ex[i] >= b:
                    out.append(float(d))
    return np.asarray(out)


def lognormal_fit(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """``{"mean", "sigma"}`` of the lognormal whose log has the values' log mean and
    standard deviation (``mean`` is the distribution's own, as a scenario writes it)."""
    lv = np.log(np.asarray(values, dtype=float))
    if len(lv) < 2 or not np.isfinite(lv).all():
        raise ValueError("a lognormal fit needs at least two positive values")
    mu, sigma = float(lv.mean()), float(lv.std(ddof=1))
    return {"mean": math.exp(mu + sigma**2 / 2.0), "sigma": sigma}
