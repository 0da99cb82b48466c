"""Latencies of a client activity on an idle computer, derived from Landscape Client's rules.

The rules (docs/fidelity.md, section 1, states them with their source in the client):

* **X1** scheduling an exchange does nothing while one is in progress; an urgent request does
  nothing while an urgent exchange is pending; otherwise the pending exchange is cancelled and
  a new one set ``urgent`` (urgent mode) or ``exchange`` (regular mode) seconds from now;
* **X2** an exchange takes time: its server messages are handled one after the other, ``h``
  each; when the last is done the next exchange is scheduled (forced) from that moment, and a
  successful exchange ends urgent mode first;
* **X3** an operation-result asks for an urgent exchange when it is queued; one queued while
  the exchange's request is on the wire only goes out with the urgent follow-up that an
  exchange carrying client messages asks for, else with the next scheduled exchange; one that
  reaches the client while it handles the server's messages is queued once it is done;
* **X4** handlers start when the exchange that brought their message is complete;
* **P1** the next ping is scheduled from the previous one's answer; a "yes" asks for an
  urgent exchange (X1);
* **P2** every server message resets the ping timer to ``ping`` from its handling (taken at
  the end of its slot: ``ClientRules.ping_reset``); if the
  most recently scheduled ping is in flight at that moment a second ping loop starts;
* **B1** a busy server fails the exchange; the messages stay and the next exchange is
  scheduled (X2) at the current mode's interval; failure does not end urgent mode;
* **B2** (``backoff`` clients only) each failure raises a back-off level, each success lowers
  it by one; every scheduling adds a jittered delay of that level to the interval.

**Idle computer.** No activity on it for a long while: its last server message anchored its
pings at ``a + k*ping`` (P2) and its last exchange its regular exchanges at
``a + offset + j*exchange`` (X2). After an activity with handler time ``D`` delivered alone,
``offset = D + urgent`` (X2, X4, X3; ``lock_offset``). With fixed durations the two grids
can meet exactly; the tie goes to the timer set first, the one with the longer interval.
A computer that never received a server message has unrelated grids: ``offset`` uniform,
which makes the two next-event times independent.

**Created -> In Progress** at a uniform moment: next ping ``P``, next regular exchange ``R``.
``L1 = R`` if ``R < P`` (that exchange delivers), else ``P + urgent`` (the ping's urgent
exchange replaces the regular one, X1). With independent phases ``P ~ U(0, ping)``,
``R ~ U(0, exchange)``; with a known ``offset`` and ``exchange/ping`` rational, ``(P, R)``
runs along one line of the torus and ``L1`` is piecewise ``y + c`` over ``y ~ U(0, lcm)``.

**In Progress -> final** on an idle computer: the handler starts ``h`` after delivery (X4),
its result asks for an urgent exchange (X3) that replaces the pending regular one:
``L2 = h + D + urgent`` for ``D`` that does not end inside an exchange.

**Busy window** ``[b0, b1)`` (current clients, B1): an activity created ``w = b1 - c`` before
its end is delivered by the first of its urgent retries ``c + P + k*urgent`` at or after
``b1``, or by a regular exchange that falls after ``b1`` and before the ping.
``busy_delivery_cdf`` integrates that over ``P`` numerically. Back-off clients (B2) are
history-dependent; the yardstick for them is the replay.

``replay_client`` follows the rules event by event for one computer (a heap of timers with
the client's cancel/no-op semantics), with none of the algebra; the tests hold the closed
forms to it. Nothing here reads the simulator.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import numpy as np
from scipy import integrate

__all__ = [
    "Backoff",
    "ClientIntervals",
    "ClientLatencyInputError",
    "ClientRules",
    "Replay",
    "busy_delivery_cdf",
    "delivery_cdf",
    "delivery_mean",
    "delivery_sample",
    "lock_offset",
    "replay_client",
    "result_latency",
    "result_latency_cdf",
    "simulate_client",
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


def _as_intervals(iv: ClientIntervals | ClientRules) -> ClientIntervals:
    return iv.intervals if isinstance(iv, ClientRules) else iv


# --- closed forms ---------------------------------------------------------------------------
def lock_offset(
    duration: float,
    iv: ClientIntervals = DEFAULT,
    handling: float = HANDLING,
    ping_reset: Literal["start", "end"] = "end",
) -> float:
    """Where an activity delivered alone leaves the exchange grid relative to the ping grid.

    Its result's urgent exchange, the last exchange, comes ``handling + duration + urgent``
    after the delivery (X4, X3, X2); its message reset the pings (P2) at the end of its
    handling (``duration + urgent`` before that exchange) or at its start.
    """
    return duration + iv.urgent + (handling if ping_reset == "start" else 0.0)


def _period(iv: ClientIntervals) -> float:
    """``lcm(exchange, ping)``: the pattern of the two locked grids repeats with it."""
    ratio = Fraction(iv.exchange / iv.ping).limit_denominator(1000)
    if abs(float(ratio) - iv.exchange / iv.ping) > 1e-9 * iv.exchange / iv.ping:
        raise ClientLatencyInputError(
            f"exchange/ping = {iv.exchange / iv.ping!r} is not a ratio of small integers: the "
            "locked grids never repeat (give offset=None for unrelated phases)"
        )
    return ratio.denominator * iv.exchange


def _locked_pieces(iv: ClientIntervals, offset: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Pieces ``[lo, hi)`` of ``y ~ U(0, T)`` on which ``L1 = y + c`` (both next-event times
    grow with ``y`` at slope 1, so which one wins is constant between wrap points)."""
    t = _period(iv)
    e, u, p = iv.exchange, iv.urgent, iv.ping
    cuts = np.concatenate(
        [
            np.arange(0.0, t, p),
            (np.arange(0.0, t, e) - offset) % t,
            [0.0, t],
        ]
    )
    cuts = np.unique(cuts)
    lo, hi = cuts[:-1], cuts[1:]
    keep = hi - lo > 1e-12
    lo, hi = lo[keep], hi[keep]
    mid = (lo + hi) / 2
    ping_next = mid % p
    regular_next = (mid + offset) % e
    # A tie (fixed durations can line the grids up exactly) goes to the timer that was set
    # first, as in the client's reactor: the one with the longer interval.
    tie = np.isclose(regular_next, ping_next, rtol=0.0, atol=1e-9)
    regular = (regular_next < ping_next) | (tie & (e > p))
    c = np.where(regular, regular_next, ping_next + u) - mid
    return np.stack([lo, hi]), c, t


def delivery_cdf(
    x: float | np.ndarray, iv: ClientIntervals = DEFAULT, offset: float | None = None
) -> float | np.ndarray:
    """``P(L1 <= x)``, created -> In Progress on an idle computer.

    ``offset=None``: unrelated phases, ``P`` and ``R`` independent uniforms; ``L1 <= x`` is
    the regular exchange first (``R <= x``, ``R < P``) or the ping first and its urgent
    exchange in time (``P <= R``, ``P + urgent <= x``). ``offset``: grids locked (see
    ``lock_offset``); exact, by summing over the pieces on which ``L1 = y + c``.
    """
    iv = _as_intervals(iv)
    x = np.asarray(x, dtype=float)
    if offset is None:
        e, u, p = iv.exchange, iv.urgent, iv.ping
        m = min(e, p)
        a = np.clip(x, 0.0, m)  # R in [0, a] with P > R: integrand (1/e)(1 - r/p)
        b = np.clip(x - u, 0.0, m)  # P in [0, b] with R >= P: integrand (1/p)(1 - q/e)
        out = (a - a * a / (2 * p)) / e + (b - b * b / (2 * e)) / p
    else:
        (lo, hi), c, t = _locked_pieces(iv, offset)
        out = np.clip(x[..., None] - c - lo, 0.0, hi - lo).sum(axis=-1) / t
    return float(out) if out.ndim == 0 else out


def delivery_mean(iv: ClientIntervals = DEFAULT, offset: float | None = None) -> float:
    """``E[L1]``: ``E[R; R < P] + E[P + urgent; P <= R]``, or the piecewise sum if locked."""
    iv = _as_intervals(iv)
    if offset is not None:
        (lo, hi), c, t = _locked_pieces(iv, offset)
        return float(((hi**2 - lo**2) / 2 + c * (hi - lo)).sum() / t)
    e, u, p = iv.exchange, iv.urgent, iv.ping
    m = min(e, p)
    regular = (m**2 / 2 - m**3 / (3 * p)) / e
    pinged = (m**2 / 2 + u * m - m**3 / (3 * e) - u * m**2 / (2 * e)) / p
    return regular + pinged


def delivery_sample(
    n: int, rng: np.random.Generator, iv: ClientIntervals = DEFAULT, offset: float | None = None
) -> np.ndarray:
    """``n`` draws of ``L1`` straight from its definition (uniforms and a comparison)."""
    iv = _as_intervals(iv)
    if offset is None:
        r = rng.uniform(0.0, iv.exchange, n)
        q = rng.uniform(0.0, iv.ping, n)
    else:
        y = rng.uniform(0.0, _period(iv), n)
        q, r = y % iv.ping, (y + offset) % iv.exchange
    return np.where(r < q, r, q + iv.urgent)


def result_latency(
    duration: float | np.ndarray, iv: ClientIntervals = DEFAULT, handling: float = HANDLING
):
    """``L2 = handling + D + urgent``: In Progress -> final on an idle computer (X4, X3)."""
    iv = _as_intervals(iv)
    d = np.asarray(duration, dtype=float)
    if np.any(d < 0):
        raise ClientLatencyInputError("handler durations must be >= 0 s")
    out = handling + d + iv.urgent
    return float(out) if out.ndim == 0 else out


def result_latency_cdf(
    x: float, duration, handling=HANDLING, iv: ClientIntervals = DEFAULT
) -> float:
    """``P(L2 <= x)`` for ``L2 = H + D + urgent`` with random handling ``H`` and handler ``D``
    (each a number or a frozen scipy distribution), by numerical convolution: the handling
    of the one message of an idle delivery is independent of the handler's work."""
    iv = _as_intervals(iv)
    y = x - iv.urgent
    fixed_h = isinstance(handling, int | float)
    fixed_d = isinstance(duration, int | float)
    if fixed_h and fixed_d:
        return float(handling + duration <= y)
    if fixed_h:
        return float(duration.cdf(y - handling))
    if fixed_d:
        return float(handling.cdf(y - duration))
    lo, hi = handling.support()
    val, _ = integrate.quad(
        lambda t: handling.pdf(t) * duration.cdf(y - t),
        max(lo, 0.0),
        min(hi, max(y, 0.0)),
        limit=200,
    )
    return val


def busy_delivery_cdf(x: float, remaining: float, iv: ClientIntervals = DEFAULT) -> float:
    """``P(L1 <= x)`` for a current client, activity created ``remaining`` s before the end of
    a busy window, unrelated phases (rules X1, B1).

    Given ``P``: the regular exchange delivers iff ``remaining <= R < P``; otherwise the ping's
    urgent exchange and its retries every ``urgent`` s (B1 keeps urgent mode) deliver at the
    first ``P + k*urgent >= remaining``, ``k >= 1``. ``R`` is integrated by hand, ``P`` by quad.
    """
    iv = _as_intervals(iv)
    e, u, p = iv.exchange, iv.urgent, iv.ping
    w = max(remaining, 0.0)

    def given_ping(q: float) -> float:
        regular = max(0.0, min(q, e, x) - w) / e
        k = max(1, math.ceil((w - q) / u))
        not_regular = 1.0 - max(0.0, min(q, e) - w) / e
        return regular + (not_regular if q + k * u <= x else 0.0)

    # Breakpoints: where k changes (q = w - k*u), where x is reached, where min(q, e) bends.
    pts = sorted(
        {b for b in [w, x, e, x - u] + [w - k * u for k in range(int(w // u) + 2)] if 0 < b < p}
    )
    val, _ = integrate.quad(given_ping, 0.0, p, points=pts or None, limit=200)
    return val / p


# --- the rules, event by event --------------------------------------------------------------
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
    rules: ClientRules | ClientIntervals = ClientRules(),
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
    windows ``[start, end)`` in which every exchange fails. Every rule of the module docstring
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
    rules: ClientRules | ClientIntervals = ClientRules(),
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
