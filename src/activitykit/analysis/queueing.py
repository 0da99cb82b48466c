"""M/M/c queueing formulas (Erlang C) and the confidence intervals used to test against them.

The job-handlers of a Landscape server form a multi-server queue: server activities are
published to one RabbitMQ queue and ``c`` job-handlers consume them, one at a time each
(prefetch 1, acknowledge when done). With Poisson arrivals (rate ``lam``) and exponential
service (rate ``mu`` per handler) that is the textbook M/M/c queue, whose mean wait before
service has the closed form below. The fidelity tests compare the simulator with it.

Everything here is independent of the simulator: the formulas are analytic, and
``simulate_mmc_waits`` is a plain numpy recursion (Kiefer-Wolfowitz workload vector), not
SimPy, so it can vouch for the confidence-interval machinery without sharing any code with
what is being measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "ConfidenceInterval",
    "MMc",
    "QueueingInputError",
    "batch_means_ci",
    "erlang_c",
    "mean_ci",
    "mmc",
    "simulate_mmc_waits",
]


class QueueingInputError(ValueError):
    """Parameters outside a formula's domain (e.g. an unstable queue)."""


def _check_c(c: int) -> None:
    if isinstance(c, bool) or not isinstance(c, int | np.integer) or c < 1:
        raise QueueingInputError(
            f"number of servers c={c!r} must be an integer >= 1 (one per job-handler)"
        )


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival must wait in an M/M/c queue with offered load ``a``.

    ``a = lam / mu`` in Erlangs; the queue is stable only when ``a < c``. Computed through
    the Erlang B recursion ``B(k) = a B(k-1) / (k + a B(k-1))``, which never forms ``a**c``
    or ``c!`` and so stays accurate for hundreds of servers.
    """
    _check_c(c)
    if not a >= 0 or math.isinf(a):
        raise QueueingInputError(f"offered load a={a!r} must be a finite number >= 0")
    if a >= c:
        raise QueueingInputError(
            f"offered load a={a} Erlangs with c={c} servers is unstable (needs a < c): the "
            "queue grows without bound; lower the arrival rate or add job-handlers"
        )
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1.0 - rho + rho * b)


@dataclass(frozen=True, slots=True)
class MMc:
    """Steady-state figures of an M/M/c queue (times in the unit of ``1/mu``)."""

    lam: float
    mu: float
    c: int
    #: Utilisation of each server, ``lam / (c mu)``.
    rho: float
    #: Probability that an arrival waits (Erlang C).
    p_wait: float
    #: Mean wait in the queue before service starts.
    wq: float
    #: Mean time in the system (wait + service).
    w: float
    #: Mean number waiting.
    lq: float
    #: Mean number in the system.
    l: float  # noqa: E741 - the textbook name

    def wait_sf(self, t: float | np.ndarray) -> float | np.ndarray:
        """``P(Wq > t)``: an atom at 0 of mass ``1 - p_wait``, then an exponential tail."""
        t = np.asarray(t, dtype=float)
        out = np.where(t < 0, 1.0, self.p_wait * np.exp(-(self.c * self.mu - self.lam) * t))
        return float(out) if out.ndim == 0 else out

    def wait_cdf(self, t: float | np.ndarray) -> float | np.ndarray:
        """``P(Wq <= t)``."""
        return 1.0 - self.wait_sf(t)


def mmc(lam: float, mu: float, c: int) -> MMc:
    """Erlang C figures for arrival rate ``lam``, service rate ``mu`` per server, ``c`` servers."""
    _check_c(c)
    for name, v in (("arrival rate lam", lam), ("service rate mu", mu)):
        if not v > 0 or math.isinf(v):
            raise QueueingInputError(f"{name}={v!r} must be a finite number > 0")
    a = lam / mu
    pw = erlang_c(c, a)
    wq = pw / (c * mu - lam)
    return MMc(
        lam=lam,
        mu=mu,
        c=int(c),
        rho=a / c,
        p_wait=pw,
        wq=wq,
        w=wq + 1.0 / mu,
        lq=lam * wq,
        l=lam * (wq + 1.0 / mu),
    )


@dataclass(frozen=True, slots=True)
class ConfidenceInterval:
    """A two-sided Student-t interval for a mean, from ``n`` (nearly) independent values."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.99) -> ConfidenceInterval:
    """Student-t interval for the mean of independent values (replications, batch means)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise QueueingInputError(
            f"a confidence interval needs at least 2 values, got {x.size}; run more "
            "replications or use more batches"
        )
    if not 0 < confidence < 1:
        raise QueueingInputError(f"confidence={confidence!r} must be strictly between 0 and 1")
    m = float(x.mean())
    se = float(x.std(ddof=1)) / math.sqrt(x.size)
    h = float(stats.t.ppf(0.5 + confidence / 2.0, x.size - 1)) * se
    return ConfidenceInterval(m, m - h, m + h, int(x.size), confidence)


def batch_means_ci(
    values: Sequence[float] | np.ndarray, batches: int = 20, confidence: float = 0.99
) -> ConfidenceInterval:
    """Confidence interval for the mean of a correlated series by non-overlapping batch means.

    Successive queue waits are strongly correlated (a long wait makes the next one long), so
    the naive standard error is far too small. Cutting the series (in arrival order, after the
    warm-up is dropped) into ``batches`` contiguous batches and treating the batch means as
    independent is the standard remedy; it is valid when a batch is much longer than the
    queue's relaxation time. A tail that does not fill a batch is dropped.
    """
    x = np.asarray(values, dtype=float)
    if batches < 2:
        raise QueueingInputError(f"batches={batches} must be >= 2")
    size = x.size // batches
    if size < 1:
        raise QueueingInputError(
            f"{x.size} values cannot fill {batches} batches; simulate longer or use fewer batches"
        )
    means = x[: size * batches].reshape(batches, size).mean(axis=1)
    return mean_ci(means, confidence)


def simulate_mmc_waits(
    lam: float, mu: float, c: int, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Queue waits of ``n`` successive customers of an FCFS M/M/c queue, starting empty.

    Kiefer-Wolfowitz recursion: keep the sorted vector of times until each server is free;
    customer ``k`` waits for the earliest one. An independent reference, no event list.
    """
    _check_c(c)
    gaps = rng.exponential(1.0 / lam, n)
    service = rng.exponential(1.0 / mu, n)
    free = np.zeros(c)  # work left on each server, seen by the arriving customer
    waits = np.empty(n)
    for k in range(n):
        free = np.maximum(free - gaps[k], 0.0)
        i = int(free.argmin())
        waits[k] = free[i]
        free[i] += service[k]
    return waits
