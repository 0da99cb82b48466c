"""Random streams for the simulator: one numpy Generator per named purpose, drawn in blocks.

Each purpose ("arrival/scripts", "client/failure", ...) gets its own stream derived from the
scenario seed and the purpose's name, so adding a new kind of draw never shifts the numbers of
another: the same scenario and seed give the same run. Scalar draws from numpy cost about a
microsecond each; the samplers below draw 4096 values at a time and hand them out one by one,
which keeps the hot path cheap while staying exactly reproducible (the order of draws from one
stream is fixed by the deterministic order of simulated events).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from itertools import chain, repeat
from statistics import NormalDist

import numpy as np

from ..scenario.schema import Exponential, Fixed, LogNormal, Uniform

__all__ = ["BLOCK", "Keyed", "Streams", "dist_mean", "dist_quantile", "make_sampler"]

#: Values drawn per refill of a buffered sampler.
BLOCK = 4096


class Streams:
    """Named, independent random generators derived from one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._cache: dict[str, np.random.Generator] = {}

    def rng(self, purpose: str) -> np.random.Generator:
        g = self._cache.get(purpose)
        if g is None:
            key = zlib.crc32(purpose.encode("utf-8"))
            g = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, key])))
            self._cache[purpose] = g
        return g

    def uniform(self, purpose: str) -> Callable[[], float]:
        """A buffered U[0, 1) sampler."""
        g = self.rng(purpose)
        return _buffered(lambda n: g.random(n))

    def sampler(self, purpose: str, dist: object) -> Callable[[], float]:
        return make_sampler(dist, self.rng(purpose))

    def keyed(self, purpose: str, dist: object) -> Keyed:
        """Draws from ``dist`` addressed by ``(computer, time)`` rather than by order."""
        return Keyed(dist, int(self.rng(purpose).integers(0, 2**63)))


_M64 = (1 << 64) - 1
_bits = struct.Struct("<d").pack


def _mix(z: int) -> int:
    """splitmix64's finaliser: every input bit moves every output bit."""
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


class Keyed:
    """A draw from ``dist`` that is a function of ``(computer, time)`` and the run's seed.

    Buffered streams hand out values in the order of the draws; a value needed both by a
    walk that counts ahead (a dormant computer's pings) and by the events that would step
    through the same moments must not depend on which comes first. Hashing the computer
    and the exact float time to a uniform and taking the distribution's quantile gives the
    same value to both, on every run.
    """

    __slots__ = ("dist", "key")

    def __init__(self, dist: object, key: int) -> None:
        self.dist = dist
        self.key = key

    def __call__(self, c: int, t: float) -> float:
        z = _mix(_mix(self.key ^ c) ^ int.from_bytes(_bits(t), "little"))
        return dist_quantile(self.dist, ((z >> 11) + 0.5) * 2.0**-53)


def _buffered(draw: Callable[[int], np.ndarray]) -> Callable[[], float]:
    """Hands out values of a block-drawing function one at a time: the blocks, drawn as
    they are needed, chained, and the chain's ``__next__`` as the sampler (a C call per
    value: the hot path draws a few per activity, and a Python frame each was a measurable
    share of it). The values, and the times the blocks are drawn, are those of a block buffer."""
    return chain.from_iterable(iter(lambda: draw(BLOCK).tolist(), None)).__next__


def _const(value: float) -> Callable[[], float]:
    """A sampler always giving ``value`` (``Fixed``), a C call too."""
    return repeat(float(value)).__next__


def _lognormal_mu(dist: LogNormal) -> float:
    """The scenario gives the mean of the distribution itself: E[X] = exp(mu + sigma^2/2)."""
    return math.log(dist.mean) - dist.sigma**2 / 2.0


def make_sampler(dist: object, rng: np.random.Generator) -> Callable[[], float]:
    """A zero-argument callable drawing from a scenario distribution (``Dist``)."""
    if isinstance(dist, Fixed):
        return _const(dist.value)
    if isinstance(dist, Exponential):
        return _buffered(lambda n: rng.exponential(dist.mean, n))
    if isinstance(dist, Uniform):
        return _buffered(lambda n: rng.uniform(dist.low, dist.high, n))
    if isinstance(dist, LogNormal):
        mu = _lognormal_mu(dist)
        return _buffered(lambda n: rng.lognormal(mu, dist.sigma, n))
    raise TypeError(
        f"unknown distribution {dist!r}; expected Fixed, Exponential, Uniform, LogNormal"
    )


_STD_NORMAL = NormalDist()


def dist_quantile(dist: object, u: float) -> float:
    """The ``u``-quantile (0 < u < 1) of a scenario distribution: the same law as
    ``make_sampler``'s draws, from a given uniform."""
    if isinstance(dist, Fixed):
        return dist.value
    if isinstance(dist, Exponential):
        return -dist.mean * math.log1p(-u)
    if isinstance(dist, Uniform):
        return dist.low + u * (dist.high - dist.low)
    if isinstance(dist, LogNormal):
        return math.exp(_lognormal_mu(dist) + dist.sigma * _STD_NORMAL.inv_cdf(u))
    raise TypeError(f"unknown distribution {dist!r}")


def dist_mean(dist: object) -> float:
    """The mean of a scenario distribution (used by docs, tests and fidelity checks)."""
    if isinstance(dist, Fixed):
        return dist.value
    if isinstance(dist, Exponential | LogNormal):
        return dist.mean
    if isinstance(dist, Uniform):
        return (dist.low + dist.high) / 2.0
    raise TypeError(f"unknown distribution {dist!r}")
