"""The client whose rules the derivations follow: its timers, back-off and other settings."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "DEFAULT",
    "DEFAULT_RULES",
    "HANDLING",
    "MAX_MESSAGES",
    "MIN_URGENT",
    "Backoff",
    "ClientIntervals",
    "ClientLatencyInputError",
    "ClientRules",
]

#: Shortest urgent interval: the client announces an exchange 10 s ahead (X1).
MIN_URGENT = 10.0
#: Client->server messages in one exchange (``max_messages``).
MAX_MESSAGES = 100
#: Per-message handling measured on the real client (120 script messages), s.
HANDLING = 0.017


class ClientLatencyInputError(ValueError):
    """Client intervals or arguments outside what the rules allow."""


def _positive(name: str, v: object) -> None:
    if not (isinstance(v, int | float) and v > 0 and math.isfinite(v)):
        raise ClientLatencyInputError(
            f"{name} {v!r} must be a finite number of seconds > 0 "
            "(Landscape Client defaults: exchange 900, urgent 60, ping 30)"
        )


@dataclass(frozen=True, slots=True)
class ClientIntervals:
    """The three client timers (Landscape Client defaults), s."""

    exchange: float = 900.0
    urgent: float = 60.0
    ping: float = 30.0

    def __post_init__(self) -> None:
        for name in ("exchange", "urgent", "ping"):
            _positive(f"{name} interval", getattr(self, name))
        if self.urgent < MIN_URGENT:
            raise ClientLatencyInputError(
                f"urgent interval {self.urgent!r} must be >= {MIN_URGENT:g} s: the client "
                "announces an exchange 10 s before it and fails on a negative delay"
            )


@dataclass(frozen=True, slots=True)
class Backoff:
    """The client's back-off (rule B2): levels 0..``levels``, delay ``initial * 2**(k-1)``
    capped at ``maximum``, drawn in ``[(1 - jitter) * d, d)`` and cut to whole seconds."""

    initial: float = 300.0
    maximum: float = 7200.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        _positive("backoff initial", self.initial)
        _positive("backoff maximum", self.maximum)
        if not 0 <= self.jitter < 1:
            raise ClientLatencyInputError(f"backoff jitter {self.jitter!r} must be in [0, 1)")

    @property
    def levels(self) -> int:
        """The smallest level whose delay reaches the ceiling (the counter stops there)."""
        if self.maximum > self.initial:
            return math.ceil(math.log2(self.maximum / self.initial) + 1)
        return 1

    def delay(self, level: int) -> float:
        return 0.0 if level <= 0 else min(self.initial * 2 ** (level - 1), self.maximum)

    def draw(self, level: int, u: float) -> float:
        """The jittered delay for a uniform ``u`` in [0, 1)."""
        d = self.delay(level)
        return float(int(d * (1 - self.jitter) + d * self.jitter * u))


@dataclass(frozen=True, slots=True)
class ClientRules:
    """Everything about one client that the replay needs besides its activities."""

    intervals: ClientIntervals = field(default_factory=ClientIntervals)
    #: per server message (rule X2): seconds, or a sampler ``rng -> seconds``
    handling: float | Callable[[np.random.Generator], float] = HANDLING
    #: a ping's way to the server and back, the next ping scheduled from its answer (P1):
    #: seconds, or a sampler ``rng -> seconds`` (each ping its own)
    ping_round_trip: float | Callable[[np.random.Generator], float] = 0.0
    duplicate_ping_loop: bool = True
    version: Literal["current", "backoff"] = "current"
    backoff: Backoff = field(default_factory=Backoff)
    #: time an exchange's request and answer spend on the wire (the sim has none)
    exchange_round_trip: float = 0.0
    #: where in a message's handling slot P2 resets the pings: the client does it between
    #: the message's two store writes, so neither end is exact; "end" by default
    ping_reset: Literal["start", "end"] = "end"

    def __post_init__(self) -> None:
        if self.ping_reset not in ("start", "end"):
            raise ClientLatencyInputError(
                f"ping_reset {self.ping_reset!r} must be 'start' or 'end'"
            )
        if self.version not in ("current", "backoff"):
            raise ClientLatencyInputError(
                f"version {self.version!r} must be 'current' or 'backoff'"
            )
        for name in ("ping_round_trip", "exchange_round_trip"):
            v = getattr(self, name)
            if callable(v) and name == "ping_round_trip":
                continue
            if not (v >= 0 and math.isfinite(v)):
                raise ClientLatencyInputError(f"{name} {v!r} must be a finite number >= 0 s")


DEFAULT = ClientIntervals()
#: The default client (a frozen instance: one serves every call).
DEFAULT_RULES = ClientRules()
