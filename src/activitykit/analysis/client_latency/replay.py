"""The client's rules followed event by event for one computer, with none of the algebra.

``replay_client`` keeps a heap of timers with the client's cancel/no-op semantics and
applies each rule of the package docstring as it fires; the tests hold the closed forms
(``closed_forms``) to it.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .client import (
    DEFAULT_RULES,
    MAX_MESSAGES,
    ClientIntervals,
    ClientLatencyInputError,
    ClientRules,
)

__all__ = ["Replay", "replay_client", "simulate_client"]


@dataclass
class Replay:
    """What one computer did: per activity ``(L1, L2)`` (NaN if it never got there), and
    counts of exchanges (attempted), failed exchanges, pings, ping loops started by P2, the
    most ping loops running at once, and the back-off level at the end."""

    latencies: list[tuple[float, float]]
    exchanges: int = 0
    failed: int = 0
    pings: int = 0
    loops_started: int = 0
    ping_loops: int = 1
    level: int = 0


def replay_client(
    activities: Sequence[tuple[float, float]],
    rules: ClientRules | ClientIntervals = DEFAULT_RULES,
    *,
    ping_phase: float = 0.0,
    exchange_phase: float = 0.0,
    busy: Sequence[tuple[float, float]] = (),
    until: float | None = None,
    rng: np.random.Generator | None = None,
) -> Replay:
    """Follow one computer through ``activities`` ``[(created_at, handler_duration), ...]``.

    The client has been running before t=0 in regular mode: its first ping fires at
    ``ping_phase`` and its first regular exchange at ``exchange_phase``. ``busy`` lists
    windows ``[start, end)`` in which every exchange fails. Every rule of the package docstring
    is applied as it fires; timers due at the same instant fire in the order they were set,
    as in the client's reactor. Without ``until`` the replay stops once every result is in;
    with it, it runs to ``until`` (for counts of pings and exchanges).
    """
    if isinstance(rules, ClientIntervals):
        rules = ClientRules(intervals=rules)
    iv = rules.intervals
    ping_rt = rules.ping_round_trip
    if callable(ping_rt) and rng is None:
        raise ClientLatencyInputError("a random ping round trip needs rng")
    if not 0 <= ping_phase < iv.ping + (0.0 if callable(ping_rt) else ping_rt) or not (
        0 <= exchange_phase < iv.exchange
    ):
        raise ClientLatencyInputError(
            f"phases must lie in [0, interval): ping_phase={ping_phase}, "
            f"exchange_phase={exchange_phase}"
        )
    if rules.version == "backoff" and rng is None:
        raise ClientLatencyInputError("a backoff client needs rng for its jitter")
    handling_time = rules.handling
    if callable(handling_time) and rng is None:
        raise ClientLatencyInputError("a random message handling time needs rng")
    acts = sorted(enumerate(activities), key=lambda ia: ia[1][0])
    stop_when_done = until is None
    if until is None:
        last = max((c for c, _ in activities), default=0.0)
        longest = max((d for _, d in activities), default=0.0)
        windows_end = max((b for _, b in busy), default=0.0)
        until = max(last, windows_end) + longest + 20 * (iv.exchange + iv.urgent + iv.ping)
        if rules.version == "backoff":
            until += 2 * (rules.backoff.levels + 1) * (iv.exchange + rules.backoff.maximum)

    heap: list[tuple[float, int, str, object, int]] = []
    seq = 0
    cancelled: set[int] = set()

    def later(t: float, what: str, arg: object = None, handle: int = 0) -> int:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, seq, what, arg, handle or seq))
        return handle or seq

    out = Replay(latencies=[(math.nan, math.nan)] * len(activities))
    created: dict[int, float] = {}
    delivered: dict[int, float] = {}
    on_server: list[int] = []  # undelivered activity messages for this computer, FIFO
    outbox: list[int] = []  # operation-results queued on the client
    exchanging = False  # the request is on the wire (X1: scheduling is a no-op)
    handling = False  # the client is busy with the server's messages (its reactor is)
    urgent_mode = False
    exchange_id = 0
    ping_id = 0  # the Pinger's one handle: the most recently scheduled ping
    level = 0
    in_flight: dict[int, bool] = {}  # ping handle -> will its answer schedule the next ping
    pending_pings: set[int] = set()
    held: list[tuple[str, object, int]] = []  # reactor work that waits for the handling
    open_results = len(activities)

    def schedule_exchange(now: float, urgent: bool = False, force: bool = False) -> None:
        nonlocal urgent_mode, exchange_id
        if exchanging or not (force or (urgent and not urgent_mode)):
            return
        if urgent:
            urgent_mode = True
        cancelled.add(exchange_id)
        interval = iv.urgent if urgent_mode else iv.exchange
        if rules.version == "backoff":
            interval += rules.backoff.draw(level, float(rng.random()))
        exchange_id = later(now + interval, "exchange")

    def schedule_ping(now: float) -> None:
        nonlocal ping_id
        ping_id = later(now + iv.ping, "ping")
        pending_pings.add(ping_id)

    def ping_answer(now: float, handle: int, answer: bool) -> None:
        again = in_flight.pop(handle)
        if answer:
            schedule_exchange(now, urgent=True)  # P1
        if again:
            schedule_ping(now)  # P1: from the answer

    def reset_pings(now: float) -> None:  # P2
        if ping_id in pending_pings:
            pending_pings.discard(ping_id)
            cancelled.add(ping_id)
        elif ping_id in in_flight:
            if rules.duplicate_ping_loop:
                out.loops_started += 1
            else:
                in_flight[ping_id] = False  # a fixed client: that answer does not reschedule
        schedule_ping(now)
        out.ping_loops = max(out.ping_loops, len(pending_pings) + sum(in_flight.values()))

    exchange_id = later(exchange_phase, "exchange")
    ping_id = later(ping_phase, "ping")
    pending_pings.add(ping_id)
    for i, (c, d) in acts:
        if c < 0 or d < 0:
            raise ClientLatencyInputError(f"activity {i}: created_at and duration must be >= 0")
        later(c, "create", i)

    while heap and (open_results or not stop_when_done):
        now, _, what, arg, h = heapq.heappop(heap)
        if now > until:
            break
        if h in cancelled:
            continue
        if handling and what in ("ping", "ping-answer", "finish", "exchange"):
            held.append((what, arg, h))  # one reactor thread: it runs after the handling
            continue
        if what == "create":
            created[arg] = now
            on_server.append(arg)
        elif what == "ping":
            pending_pings.discard(h)
            out.pings += 1
            answer = bool(on_server)  # the ping service sees the store as it is now
            in_flight[h] = True
            r = ping_rt(rng) if callable(ping_rt) else ping_rt
            if r > 0:
                later(now + r, "ping-answer", (h, answer))
            else:
                ping_answer(now, h, answer)
        elif what == "ping-answer":
            ping_answer(now, *arg)
        elif what == "exchange":
            out.exchanges += 1
            exchanging = True
            if any(a <= now < b for a, b in busy):  # B1: the server refuses the exchange
                later(now + rules.exchange_round_trip, "failed")
                continue
            payload = outbox[:MAX_MESSAGES]
            for i in payload:  # the server records the results it received
                out.latencies[i] = (out.latencies[i][0], now - delivered[i])
                open_results -= 1
            del outbox[: len(payload)]
            messages = list(on_server)
            on_server.clear()
            for i in messages:
                delivered[i] = now
                out.latencies[i] = (now - created[i], math.nan)
            later(now + rules.exchange_round_trip, "answer", (messages, bool(payload)))
        elif what == "failed":
            exchanging = False
            out.failed += 1
            if rules.version == "backoff":
                level = min(level + 1, rules.backoff.levels)  # B2
            schedule_exchange(now, force=True)  # B1: mode unchanged, messages kept
        elif what == "answer":
            messages, carried = arg
            exchanging = False
            urgent_mode = False  # X2: success ends urgent mode
            handling = True
            t = now
            for _ in messages:
                if rules.ping_reset == "start":
                    later(t, "message")  # P2
                t += handling_time(rng) if callable(handling_time) else handling_time
                if rules.ping_reset == "end":
                    later(t, "message")  # P2
            later(t, "done", (messages, carried))
        elif what == "message":
            reset_pings(now)
        elif what == "done":
            messages, carried = arg
            handling = False
            if outbox and carried:
                schedule_exchange(now, urgent=True)  # X3: the server has not seen them all
            if rules.version == "backoff":
                level = max(level - 1, 0)  # B2
            schedule_exchange(now, force=True)  # X2: from completion
            for i in messages:  # X4
                later(now + activities[i][1], "finish", i)
            for w, a, hh in held:  # in their order, now that the reactor is free
                later(now, w, a, hh)
            held.clear()
        elif what == "finish":
            outbox.append(arg)
            schedule_exchange(now, urgent=True)  # X3 (a no-op while on the wire: X1)
    out.level = level
    return out


def simulate_client(
    created_at: float,
    duration: float,
    rules: ClientRules | ClientIntervals = DEFAULT_RULES,
    ping_phase: float = 0.0,
    exchange_phase: float = 0.0,
    **kw,
) -> tuple[float, float]:
    """One activity on one computer: ``(L1, L2)`` from ``replay_client``."""
    return replay_client(
        [(created_at, duration)],
        rules,
        ping_phase=ping_phase,
        exchange_phase=exchange_phase,
        **kw,
    ).latencies[0]
