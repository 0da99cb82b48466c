"""The fleet: Landscape Client's exchange rules for every computer, computed lazily.

A computer is *dormant* while no exchange event is scheduled for it: its regular exchanges then
follow ``nx, nx + I', ...`` (``I'`` the interval plus the round trip: the next exchange is
scheduled from the completion of the last) and its pings a grid (``pings.py``), and neither can
change anything, so neither is simulated; ``_catch_up`` counts them when the computer next
matters (or ``finish_counts`` at the end). A dormant computer has no SimPy event and no process.
It wakes when something becomes relevant (``visible``: a message became deliverable; a handler
finished; a restart, an offline period, a busy server, a set-intervals message): then one event
is scheduled for its next relevant moment, the first ping that can see the message or the
exchange that carries it. A group with a background message stream never sleeps: its exchanges
are all simulated (their cap can hold results back).

The exchange itself is in ``exchange.py``, the pings in ``pings.py``, the computer's own
life (handlers, reboots, restarts) in ``client.py``, the dormant arithmetic in ``dormant.py``.

Per-computer state lives in parallel lists indexed by computer number (a few dozen bytes a
computer, for a million of them); rarer state in dicts. The fleet talks to the server through
``server.store.exchange``, ``server.store.has_deliverable`` and ``server.ping_sees``.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from functools import partial
from itertools import count
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from ..scenario.schema import Fixed, FleetGroup, Scenario, SetIntervals
from ..server.activity import Activity
from .client import Client
from .dormant import Dormant
from .exchange import Exchange
from .kernel import Record, exact_delay
from .pings import Pings
from .rand import Keyed, Streams, dist_mean

if TYPE_CHECKING:
    from .server import Server

__all__ = ["Fleet", "GroupCfg"]

INF = math.inf


class GroupCfg:
    """One fleet group's client settings, as the hot path reads them."""

    __slots__ = (
        "I", "Ie", "P", "Pe", "R", "Rp", "U", "Ue", "backoff", "bgT", "bgm", "bgr", "cap",
        "default", "dup", "first", "handle", "handlers", "jit", "name", "overhead", "pkg_reboot",
        "restart_down", "shutdown_delay", "stepped",
    )  # fmt: skip

    def __init__(self, g: FleetGroup, streams: Streams, first: int) -> None:
        cl = g.client
        self.name = g.name
        self.first = first  # the group's computers are first, first + 1, ...
        self.R = cl.round_trip
        rp = cl.ping_round_trip
        #: A drawn ping round trip: ``jit(c, s)`` of the ping ``c`` sends at ``s`` (None: the
        #: fixed ``Rp``, and each loop is a fixed grid of period ``Pe``).
        self.jit: Keyed | None = None
        if rp is None or isinstance(rp, Fixed):
            self.Rp = cl.round_trip if rp is None else rp.value
        else:
            self.jit = streams.keyed(f"fleet/{g.name}/ping-round-trip", rp)
            self.Rp = dist_mean(rp)  # not used for times: each ping draws its own
        self.set(g.exchange_interval, g.urgent_exchange_interval, g.ping_interval)
        self.cap = g.max_messages_per_exchange
        self.handlers = g.handlers
        self.default = g.default_handler
        self.restart_down = streams.sampler(f"fleet/{g.name}/restart-downtime", g.restarts.downtime)
        self.handle = streams.sampler(f"fleet/{g.name}/message-handling", cl.message_handling)
        self.overhead = streams.sampler(f"fleet/{g.name}/handler-overhead", cl.handler_overhead)
        self.backoff = cl.version == "backoff"
        self.dup = cl.duplicate_ping_loop
        self.bgT = cl.background.interval
        self.bgm = cl.background.messages
        self.bgr = cl.background.resynchronize_messages
        self.stepped = self.bgT is not None
        self.shutdown_delay = cl.shutdown_delay
        self.pkg_reboot = cl.packages_reboot

    def set(self, i: float | None, u: float | None, p: float | None) -> None:
        """New intervals (a ``set-intervals`` message; ``None`` keeps one)."""
        if i is not None:
            self.I = i
            self.Ie = i + self.R
        if u is not None:
            self.U = u
            self.Ue = u + self.R
        if p is not None:
            self.P = p
            self.Pe = p + self.Rp


class Fleet(Dormant, Exchange, Pings, Client):
    """Every computer's client: start, pings, exchanges, handlers, restarts, offline periods.

    Interface: ``visible(c, t)`` (the server has a message for ``c``), ``restart``,
    ``offline`` (the fault timeline), ``start()``, ``finish_counts(end)``, ``name(c)``,
    ``group(c)``, ``group_counts()``.
    """

    def __init__(
        self,
        scenario: Scenario,
        streams: Streams,
        env: simpy.Environment,
        counters: dict[str, int],
        emit: Callable[[Record], None],
    ) -> None:
        self.env = env
        self.c = counters
        self.emit = emit
        self.server: Server  # set by the simulation once the server exists
        sc, st = scenario, streams
        self.gcfg: list[GroupCfg] = []
        gi: list[int] = []
        reg: list[float] = []
        nx: list[float] = []
        nu: list[bool] = []
        g0: list[float] = []
        pfrom: list[float] = []
        #: background stream of computer c: (phase, counted up to)
        self.bg: dict[int, list[float]] = {}
        for k, g in enumerate(sc.fleet.groups):
            self.gcfg.append(GroupCfg(g, st, len(gi)))
            n = g.computers
            first = len(gi)
            gi.extend([k] * n)
            rng = st.rng(f"fleet/{g.name}/start")
            if g.registration_spread > 0:
                r = np.sort(rng.uniform(0.0, g.registration_spread, n))
                fresh = True
            else:
                spread = (
                    g.exchange_interval if g.start_phase_spread is None else g.start_phase_spread
                )
                fresh = spread == 0
                r = np.zeros(n)
            if fresh:
                # A client that starts (registers) at r: first exchange urgent, first ping at r+P.
                rl = r.tolist()
                reg.extend(rl)
                nx.extend((r + g.urgent_exchange_interval).tolist())
                nu.extend([True] * n)
                g0.extend((r + g.ping_interval).tolist())
                pfrom.extend(rl)
            else:
                # Clients already running at t=0, at random points of their cycles.
                reg.extend([0.0] * n)
                nx.extend(rng.uniform(0.0, spread, n).tolist())
                nu.extend([False] * n)
                g0.extend(rng.uniform(0.0, g.ping_interval, n).tolist())
                pfrom.extend([0.0] * n)
            T = g.client.background.interval
            if T is not None and n:
                phase = st.rng(f"fleet/{g.name}/background").uniform(0.0, T, n).tolist()
                for j in range(n):
                    self.bg[first + j] = [phase[j], reg[first + j]]
        N = len(gi)
        self.N = N
        # Times and event tokens are C arrays, not lists: a list holds a pointer to a float
        # (or big int) object of its own per computer, each written one allocated anywhere in
        # a big run's heap; reading one computer's state then costs two cache misses per
        # field instead of one (at a million computers, the simulator's largest single cost).
        # Values read back are the same floats. Small ints and bools stay in lists (their
        # objects are shared).
        #: registered at; next exchange attempt and whether urgent; ping grid origin; pings
        #: counted from.
        self.gi, self.nu = gi, nu
        self.reg, self.nx, self.g0, self.pfrom = (array("d", v) for v in (reg, nx, g0, pfrom))
        self.xs = array("q", [0]) * N  # token of the scheduled exchange event, 0 = dormant
        self.ptok = array("q", [0]) * N  # token of the scheduled ping event, 0 = none
        self.pat = array("d", [0.0]) * N  # time of that ping
        self.lvl = [0] * N  # back-off level (version "backoff" only)
        self.down = array("d", [0.0]) * N  # client not running before this (restart, power-off)
        self.os = array("d", [INF]) * N  # current/last offline window [os, oe)
        self.oe = array("d", [INF]) * N
        self.gen = [0] * N  # handler generation: a restart makes running handlers stale
        # Whether any computer has been down or offline yet, or can back off at all: until
        # then ``down``, ``os``/``oe`` and ``lvl`` hold their initial values for everyone,
        # and the hot paths need not read them (at a million computers each read of a
        # random computer's entry is a cache miss).
        self.downs = False
        self.offlines = False
        self.out: dict[int, deque[Any]] = {}  # queued messages: (activity, status) or a count
        self.running: dict[int, list[Activity]] = {}  # accepted, result not yet queued
        self.pkgq: dict[int, deque[Activity]] = {}  # the package changer's tasks, oldest first
        self.xing: dict[int, tuple[float, float]] = {}  # exchange in progress: (answer, done)
        #: exchanges whose completion has no event (``Exchange._settle``): the time it
        #: would have had, and ``_complete``'s arguments
        self.lazy: dict[int, tuple[float, int, list[float] | None]] = {}
        self.lastx: dict[int, float] = {}  # last counted attempt of a dormant computer
        self.deferred: set[int] = set()  # urgent requests seen after the exchange's loop
        self.extra: dict[int, list[float]] = {}  # origins of duplicate ping loops
        self.stale_seen: dict[int, float] = {}  # a stale ping view still shows a delivery
        self.halting: set[int] = set()  # exchanger stopped ahead of a package reboot
        self.ffail: dict[int, float] = {}  # first failure of the current streak
        self.blackhole: dict[int, float] = {}  # the store drops new messages from then
        self.gx = [0] * len(self.gcfg)  # exchanges per group
        self.gp = [0] * len(self.gcfg)  # pings per group
        self._tok = count(1)
        self._xc = -1  # the computer whose store.exchange call is being made
        fb = sc.faults.server_busy
        merged: list[list[float]] = []
        for s0, e0 in sorted((w.start, w.end) for w in fb.windows):
            if merged and s0 <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e0)
            else:
                merged.append([s0, e0])
        self.busy_starts = [w[0] for w in merged]
        self.busy_ends = [w[1] for w in merged]
        self.bo_init, self.bo_max, self.bo_jit = (
            fb.backoff_initial,
            fb.backoff_max,
            fb.backoff_jitter,
        )
        self.backoffs = bool(self.busy_starts) and any(g.backoff for g in self.gcfg)
        self.bo_top = (
            math.ceil(math.log2(self.bo_max / self.bo_init) + 1)
            if self.bo_max > self.bo_init > 0
            else 1
        )
        self._u_jit = st.uniform("fleet/backoff-jitter")
        self.lost_p = sc.faults.lost_exchange_probability
        #: No exchange attempt can fail or be skipped yet: no busy window and no lost
        #: exchanges (so no back-off, no failure streak either), and no computer has been
        #: down, halting or offline (the first restart, power-off, package reboot or offline
        #: period clears it for good). ``_on_exchange`` then skips those checks.
        self.calm = not (self.busy_starts or self.lost_p)
        self._u_lost = st.uniform("fleet/lost-exchange")
        self._u_fail = st.uniform("client/failure")
        self._u_pkg = st.uniform("client/packages-reboot")
        self.set_intervals: list[SetIntervals] = sorted(sc.server.set_intervals, key=lambda s: s.at)
        self.si_times = [s.at for s in self.set_intervals]
        # Between a message becoming visible at t and the first ping p that sees it, only a
        # handler finishing on that computer, a cancel (the ping would then find nothing), an
        # offline period (the ping would fail) or a set-intervals message (it moves the ping)
        # can change what the ping does. Without those, the ping's outcome is known at t and
        # its event can be skipped: exact, and one event fewer per activity. Restarts need no
        # exclusion: they reset the schedule. A stale ping view (ping_staleness > 0) adds
        # pings of its own after deliveries.
        wl = sc.workload
        tpls = [*wl.arrivals, *wl.batches, *wl.bulks, *(s for ch in wl.chains for s in ch.steps)]
        self.ping_shortcut = (
            sc.server.ping_staleness == 0
            and sc.cancellations.probability == 0
            and all(not tp.cancel_probability for tp in tpls)
            and all(g.offline.rate_per_day == 0 for g in sc.fleet.groups)
        )
        self.staleness = sc.server.ping_staleness
        self.every_ping = False  # see ping_every_time
        #: False: every exchange's completion is an event (for the test that completing
        #: one without an event changes nothing; ``Exchange._settle``)
        self.lazy_completion = True
        #: The client handler's duration model: ``duration(activity) -> seconds``
        #: (replaceable; the default draws from the activity's handler spec).
        self.duration: Callable[[Activity], float] = _drawn_duration

    # -- small queries -------------------------------------------------------------------------
    @staticmethod
    def name(c: int) -> str:
        return f"c{c + 1}"

    def group(self, c: int) -> GroupCfg:
        return self.gcfg[self.gi[c]]

    def group_counts(self) -> dict[str, int]:
        """Exchanges and pings per group: ``exchanges.<group>``, ``pings.<group>``."""
        out: dict[str, int] = {}
        for k, g in enumerate(self.gcfg):
            out[f"exchanges.{g.name}"] = self.gx[k]
            out[f"pings.{g.name}"] = self.gp[k]
        return out

    def _at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        """``kernel.at`` with the callback's arguments bound: the fleet's events."""
        env = self.env
        now = env.now
        d = t - now
        if d < 0.0:
            d = 0.0
        elif now + d != t:
            d = exact_delay(now, t)
        # (``_delay_to``'s lines, not a call to it: this runs for every fleet event)
        env.timeout(d).callbacks.append(partial(fn, *args))

    def _delay_to(self, t: float) -> float:
        """The delay ``_at(t, ...)`` schedules with (its event runs at ``now +`` it):
        ``kernel.at``'s, inlined (the fleet schedules a few events per activity)."""
        now = self.env.now
        d = t - now
        if d < 0.0:
            return 0.0
        return d if now + d == t else exact_delay(now, t)

    def _busy_at(self, t: float) -> bool:
        i = bisect_right(self.busy_starts, t) - 1
        return i >= 0 and t < self.busy_ends[i]

    def _busy_end(self, t: float) -> float:
        return self.busy_ends[bisect_right(self.busy_starts, t) - 1]

    def _next_busy_start(self, t: float) -> float:
        i = bisect_right(self.busy_starts, t)
        return self.busy_starts[i] if i < len(self.busy_starts) else INF

    def _delay(self, lv: int) -> float:
        """``lib/backoff.py``: ``initial * 2**(level-1)`` up to the ceiling, its last
        ``jitter`` fraction random, in whole seconds; added to the interval."""
        if not lv:
            return 0.0
        d = min(self.bo_init * 2.0 ** (lv - 1), self.bo_max)
        return float(int(d * (1.0 - self.bo_jit) + d * self.bo_jit * self._u_jit()))

    def _schedule_x(self, c: int) -> None:
        tok = next(self._tok)
        self.xs[c] = tok
        self._at(self.nx[c], self._on_exchange, c, tok)

    def _ensure_x(self, c: int) -> None:
        if not self.xs[c]:
            self._schedule_x(c)

    def _urgent_now(self, c: int, t: float, g: GroupCfg) -> None:
        """``schedule_exchange(urgent=True)`` when no urgent exchange is pending (``g``: the
        group of ``c``)."""
        lv = self.lvl[c] if self.backoffs else 0
        x = self.nx[c] = (t + g.U + self._delay(lv)) if lv else t + g.U
        self.nu[c] = True
        tok = next(self._tok)  # ``_schedule_x``, inlined: once or twice per activity
        self.xs[c] = tok
        self._at(x, self._on_exchange, c, tok)

    def _during_exchange(self, c: int, t: float) -> None:
        """A request to exchange urgently while an exchange is in progress: ignored while its
        request is on the way, seen after the loop while its messages are handled."""
        if t >= self.xing[c][0]:
            self.deferred.add(c)

    def _si_between(self, a: float, b: float) -> bool:
        i = bisect_right(self.si_times, a)
        return i < len(self.si_times) and self.si_times[i] <= b

    def visible(self, c: int, t: float) -> None:
        """A message for ``c`` is deliverable from ``t``: when will an exchange carry it?"""
        self._settle(c, t)
        if (
            c == self._xc
            or c in self.xing
            or (self.downs and self.down[c] == INF)
            or (self.halting and c in self.halting)
        ):
            return  # the exchange in progress looks again when it completes
        # ``_catch_up``'s own first test, inlined: most calls have nothing to catch up, and
        # the call costs more than the test
        if not self.xs[c] and self.nx[c] < t:
            self._catch_up(c, t)
        g = self.gcfg[self.gi[c]]
        if g.jit is not None:
            # Drawn round trips: a ping sent before the exchange that carries the message
            # can be answered after that exchange's answer (and ask for another), and a later
            # ping before the first's answer: while a message waits, each ping is an event
            # (``_on_ping`` chains them), as stepping every ping would have it.
            if self.nu[c] or self._first_answer(c, t + self.staleness)[1] >= self.nx[c]:
                self._ensure_x(c)
            self._schedule_ping(c, self._next_ping(c, t + self.staleness))
            return
        if self.nu[c]:
            self._ensure_x(c)  # the pending urgent exchange carries it
            return
        p = self._next_ping(c, t + self.staleness)
        a = p + g.Rp  # the ping's answer
        if a < self.nx[c]:
            if (
                self.ping_shortcut
                and c not in self.running
                and not (self.si_times and self._si_between(t, a))
            ):
                # Nothing can reach this computer before the answer (see ping_shortcut): the
                # ping at p will find the message, so schedule its urgent exchange right away.
                self.c["pings_found"] += 1
                self._urgent_now(c, a, g)
            else:
                self._schedule_ping(c, p)
        else:
            self._ensure_x(c)

    def _want_urgent(self, c: int, t: float) -> None:
        """The client queued an urgent message (an operation-result); its caller has
        settled ``c`` (``_settle``)."""
        if c in self.xing:
            self._during_exchange(c, t)
            return
        if (self.downs and t < self.down[c]) or (self.halting and c in self.halting):
            return  # the restart schedules the exchange that carries it
        if not self.xs[c]:
            if self.nx[c] < t:
                self._catch_up(c, t)
            if self.lastx and self._requesting(c, t):
                self._ensure_x(c)  # the request is ignored; the next exchange carries it
                return
        if self.nu[c]:
            self._ensure_x(c)
            return
        self._urgent_now(c, t, self.gcfg[self.gi[c]])

    def _requesting(self, c: int, t: float) -> bool:
        """Is a counted (idle) exchange of the dormant ``c`` still on the way at ``t``? Then
        a request to schedule one is ignored, like during any exchange's request."""
        return bool(self.lastx) and self.lastx.get(c, -INF) + self.gcfg[self.gi[c]].R > t


def _drawn_duration(a: Activity) -> float:
    return a.extra.duration()
