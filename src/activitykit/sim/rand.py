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
import zlib
from collections.abc import Callable

import numpy as np

from ..scenario.schema import Exponential, Fixed, LogNormal, Uniform

__all__ = ["BLOCK", "Streams", "dist_mean", "make_sampler"]

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
        return _Buffered(lambda n: g.random(n))

    def sampler(self, purpose: str, dist: object) -> Callable[[], float]:
        return make_sampler(dist, self.rng(purpose))


class _Buffered:
    """Hands out values of a block-drawing function one at a time."""

    __slots__ = ("_buf", "_draw", "_i")

    def __init__(self, draw: Callable[[int], np.ndarray]) -> None:
        self._draw = draw
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        i = self._i
        buf = self._buf
        if i >= len(buf):
            buf = self._buf = self._draw(BLOCK).tolist()
            i = 0
        self._i = i + 1
        return buf[i]


class _Const:
    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def __call__(self) -> float:
        return self.value


def make_sampler(dist: object, rng: np.random.Generator) -> Callable[[], float]:
    """A zero-argument callable drawing from a scenario distribution (``Dist``)."""
    if isinstance(dist, Fixed):
        return _Const(dist.value)
    if isinstance(dist, Exponential):
        return _Buffered(lambda n: rng.exponential(dist.mean, n))
    if isinstance(dist, Uniform):
        return _Buffered(lambda n: rng.uniform(dist.low, dist.high, n))
    if isinstance(dist, LogNormal):
        # The scenario gives the mean of the distribution itself: E[X] = exp(mu + sigma^2/2).
        mu = math.log(dist.mean) - dist.sigma**2 / 2.0
        return _Buffered(lambda n: rng.lognormal(mu, dist.sigma, n))
    raise TypeError(
        f"unknown distribution {dist!r}; expected Fixed, Exponential, Uniform, LogNormal"
    )


def dist_mean(dist: object) -> float:
    """The mean of a scenario distribution (used by docs, tests and fidelity checks)."""
    if isinstance(dist, Fixed):
        return dist.value
    if isinstance(dist, Exponential | LogNormal):
        return dist.mean
    if isinstance(dist, Uniform):
        return (dist.low + dist.high) / 2.0
    raise TypeError(f"unknown distribution {dist!r}")
