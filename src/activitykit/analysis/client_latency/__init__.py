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

The package by job: ``client`` (the client's timers and settings), ``closed_forms`` (the
derivations above) and ``replay`` (``replay_client``, the rules event by event).
"""

from __future__ import annotations

from .client import (
    DEFAULT,
    DEFAULT_RULES,
    HANDLING,
    MAX_MESSAGES,
    MIN_URGENT,
    Backoff,
    ClientIntervals,
    ClientLatencyInputError,
    ClientRules,
)
from .closed_forms import (
    busy_delivery_cdf,
    delivery_cdf,
    delivery_mean,
    delivery_sample,
    lock_offset,
    result_latency,
    result_latency_cdf,
)
from .replay import Replay, replay_client, simulate_client

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
