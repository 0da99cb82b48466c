"""Latencies of a client activity on an idle computer, derived from Landscape Client's rules.

docs/spec.md, 'Client exchanges', read as a timetable for ONE computer that has nothing else to do:

* it pings every ``ping`` seconds; a ping that finds a message waiting schedules an urgent
  exchange ``urgent`` seconds later and cancels the pending regular exchange;
* regular exchanges are ``exchange`` seconds apart; a successful exchange ends urgent mode,
  so the exchange after it is regular again;
* an operation-result schedules an urgent exchange ``urgent`` seconds after it is queued.

**Created -> In Progress.** An activity created at a uniformly random moment sees the next
ping after ``P ~ U(0, ping)`` and the next regular exchange after ``R ~ U(0, exchange)``,
independent of each other (the two phases of a computer are unrelated, and a creation time
that is uniform over a long run is uniform over each cycle). If ``R < P`` the regular
exchange comes first and delivers it (latency ``R``). Otherwise the ping finds it, the
regular exchange is cancelled, and the urgent exchange ``urgent`` later delivers it
(latency ``P + urgent``). So ``L1 = R`` if ``R < P`` else ``P + urgent``, with the closed
forms of ``delivery_cdf`` and ``delivery_mean``.

**In Progress -> final.** The delivering exchange ends urgent mode and schedules the next
regular exchange ``exchange`` later. The handler runs for ``D``; its result schedules an
urgent exchange ``urgent`` later, which replaces that regular one (whether it was due before
or after). Nothing else on an idle computer triggers an exchange in between, so
``L2 = D + urgent`` exactly, whatever the handler's distribution.

``simulate_client`` replays the same rules event by event for one computer, literally and
without the algebra, so the closed forms are checked against the rules they claim to follow.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ClientIntervals",
    "ClientLatencyInputError",
    "delivery_cdf",
    "delivery_mean",
    "delivery_sample",
    "result_latency",
    "simulate_client",
]


class ClientLatencyInputError(ValueError):
    """Client intervals or arguments outside what the rules allow."""


@dataclass(frozen=True, slots=True)
class ClientIntervals:
    """The three client timers (docs/spec.md, 'Client exchanges'; Landscape Client defaults), s."""

    exchange: float = 900.0
    urgent: float = 60.0
    ping: float = 30.0

    def __post_init__(self) -> None:
        for name in ("exchange", "urgent", "ping"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and v > 0 and math.isfinite(v)):
                raise ClientLatencyInputError(
                    f"{name} interval {v!r} must be a finite number of seconds > 0 "
                    "(docs/spec.md, 'Client exchanges' defaults: exchange 900, urgent 60, ping 30)"
                )


DEFAULT = ClientIntervals()


def delivery_cdf(x: float | np.ndarray, iv: ClientIntervals = DEFAULT) -> float | np.ndarray:
    """``P(L1 <= x)`` for the created -> In Progress latency on an idle computer.

    ``L1 <= x`` happens in two disjoint ways, integrated over the independent uniforms:
    the regular exchange first (``R <= x`` and ``R < P``), or the ping first and the urgent
    exchange in time (``P <= R`` and ``P + urgent <= x``).
    """
    e, u, p = iv.exchange, iv.urgent, iv.ping
    x = np.asarray(x, dtype=float)
    m = min(e, p)
    a = np.clip(x, 0.0, m)  # R in [0, a] with P > R: integrand (1/e)(1 - r/p)
    b = np.clip(x - u, 0.0, m)  # P in [0, b] with R >= P: integrand (1/p)(1 - q/e)
    out = (a - a * a / (2 * p)) / e + (b - b * b / (2 * e)) / p
    return float(out) if out.ndim == 0 else out


def delivery_mean(iv: ClientIntervals = DEFAULT) -> float:
    """``E[L1]``: ``E[R; R < P] + E[P + urgent; P <= R]`` in closed form."""
    e, u, p = iv.exchange, iv.urgent, iv.ping
    m = min(e, p)
    regular = (m**2 / 2 - m**3 / (3 * p)) / e
    pinged = (m**2 / 2 + u * m - m**3 / (3 * e) - u * m**2 / (2 * e)) / p
    return regular + pinged


def delivery_sample(n: int, rng: np.random.Generator, iv: ClientIntervals = DEFAULT) -> np.ndarray:
    """``n`` draws of ``L1`` straight from its definition (two uniforms and a comparison)."""
    r = rng.uniform(0.0, iv.exchange, n)
    q = rng.uniform(0.0, iv.ping, n)
    return np.where(r < q, r, q + iv.urgent)


def result_latency(duration: float | np.ndarray, iv: ClientIntervals = DEFAULT):
    """``L2 = D + urgent``: In Progress -> final for handler durations ``D``."""
    d = np.asarray(duration, dtype=float)
    if np.any(d < 0):
        raise ClientLatencyInputError("handler durations must be >= 0 s")
    out = d + iv.urgent
    return float(out) if out.ndim == 0 else out


# --- the rules, event by event ------------------------------------------------------------------
_PING, _EXCHANGE, _CREATE, _FINISH = "ping", "exchange", "create", "finish"


def simulate_client(
    created_at: float,
    duration: float,
    iv: ClientIntervals = DEFAULT,
    ping_phase: float = 0.0,
    exchange_phase: float = 0.0,
) -> tuple[float, float]:
    """Follow one idle computer through one activity; return ``(L1, L2)``.

    The client has been running long before t=0: it pings at ``ping_phase + k*ping`` and its
    regular exchanges fall at ``exchange_phase + k*exchange``. One activity is created at
    ``created_at``; its handler takes ``duration``. Every exchange rule of docs/spec.md that an
    idle computer can meet is applied as it fires; events at the same instant run in the
    order they were scheduled, as in the client's reactor.
    """
    if not 0 <= ping_phase < iv.ping or not 0 <= exchange_phase < iv.exchange:
        raise ClientLatencyInputError(
            f"phases must lie in [0, interval): ping_phase={ping_phase}, "
            f"exchange_phase={exchange_phase}"
        )
    seq = 0
    events: list[tuple[float, int, str, int]] = []
    generation = 0  # bumps when the pending exchange is cancelled; stale ones are skipped

    def push(t: float, what: str, gen: int = 0) -> None:
        nonlocal seq
        heapq.heappush(events, (t, seq, what, gen))
        seq += 1

    # Pending timers as they stand at created_at: the next ping and the next regular exchange.
    k = math.floor((created_at - ping_phase) / iv.ping) + 1
    push(ping_phase + k * iv.ping, _PING)
    j = math.floor((created_at - exchange_phase) / iv.exchange) + 1
    push(exchange_phase + j * iv.exchange, _EXCHANGE, generation)
    push(created_at, _CREATE)

    urgent_pending = False
    server_has_message = False  # the activity waits in the store for this computer
    outbox_result = False  # the operation-result waits on the client
    delivered_at = finished_at = math.nan

    def schedule_urgent(now: float) -> None:
        nonlocal generation, urgent_pending
        if urgent_pending:
            return  # an urgent exchange is already on its way
        generation += 1  # cancels the pending regular exchange
        urgent_pending = True
        push(now + iv.urgent, _EXCHANGE, generation)

    while events:
        now, _, what, gen = heapq.heappop(events)
        if what == _CREATE:
            server_has_message = True
        elif what == _PING:
            if server_has_message:
                schedule_urgent(now)
            if math.isnan(finished_at):
                push(now + iv.ping, _PING)
        elif what == _EXCHANGE:
            if gen != generation:
                continue  # cancelled
            if outbox_result:
                finished_at = now
                break
            if server_has_message:
                server_has_message = False
                delivered_at = now
                push(now + duration, _FINISH)
            urgent_pending = False  # a successful exchange ends urgent mode
            generation += 1
            push(now + iv.exchange, _EXCHANGE, generation)
        elif what == _FINISH:
            outbox_result = True
            schedule_urgent(now)
    return delivered_at - created_at, finished_at - delivered_at
