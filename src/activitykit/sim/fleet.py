"""The fleet: Landscape Client's exchange and ping rules for every computer, computed lazily.

A computer is *dormant* while no exchange event is scheduled for it: its regular exchanges
then follow ``nx, nx + I, ...`` and its pings the grid ``g0 + kP``, and neither can change
anything, so neither is simulated; ``_catch_up`` counts them when the computer next matters
(or ``finish_counts`` at the end). A dormant computer has no SimPy event and no process. It
wakes when something becomes relevant (``visible``: a message became deliverable; a handler
finished; a restart, an offline period, a busy server): then one event is scheduled for its
next relevant moment, the first ping that can see the message or the exchange that carries it.

Per-computer state lives in parallel lists indexed by computer number (a few dozen bytes a
computer, for a million of them); they are the fleet's own, read by nothing else. The fleet
talks to the server through three calls: ``server.store.exchange`` (the message system),
``server.store.has_deliverable`` and ``server.ping_sees`` (the ping service).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from functools import partial
from itertools import count
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from ..scenario.schema import FleetGroup, Scenario
from ..server.activity import IP, Activity, X
from .kernel import Record, exact_delay
from .rand import Streams

if TYPE_CHECKING:
    from .server import Server

__all__ = ["POWER_OFF_DELAY", "Fleet", "GroupCfg"]

INF = math.inf
#: Restart/Shutdown report success, then the computer powers off this much later.
POWER_OFF_DELAY = 120.0


class GroupCfg:
    """One fleet group's client settings, as the hot path reads them."""

    __slots__ = ("I", "P", "U", "cap", "default", "handlers", "name", "restart_down")

    def __init__(self, g: FleetGroup, streams: Streams) -> None:
        self.name = g.name
        self.I = g.exchange_interval
        self.U = g.urgent_exchange_interval
        self.P = g.ping_interval
        self.cap = g.max_messages_per_exchange
        self.handlers = g.handlers
        self.default = g.default_handler
        self.restart_down = streams.sampler(f"fleet/{g.name}/restart-downtime", g.restarts.downtime)


class Fleet:
    """Every computer's client: start, pings, exchanges, handlers, restarts, offline periods.

    Interface: ``visible(c, t)`` (the server has a message for ``c``), ``restart``,
    ``offline`` (the fault timeline), ``finish_counts(end)``, ``name(c)``, ``group(c)``.
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
        for k, g in enumerate(sc.fleet.groups):
            self.gcfg.append(GroupCfg(g, st))
            n = g.computers
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
        N = len(gi)
        self.N = N
        #: registered at; next exchange attempt and whether urgent; ping grid origin; pings
        #: counted from.
        self.gi, self.reg, self.nx, self.nu, self.g0, self.pfrom = gi, reg, nx, nu, g0, pfrom
        self.xs = [0] * N  # token of the scheduled exchange event, 0 = dormant
        self.ptok = [0] * N  # token of the scheduled ping event, 0 = none
        self.pat = [0.0] * N  # time of that ping
        self.bo = [0.0] * N  # next back-off base; > 0 while backing off
        self.down = [0.0] * N  # client not running before this (restart downtime, power-off)
        self.os = [INF] * N  # current/last offline window [os, oe)
        self.oe = [INF] * N
        self.gen = [0] * N  # handler generation: a restart makes running handlers stale
        self.out: dict[int, deque[tuple[Activity, str]]] = {}  # results waiting on the client
        self.running: dict[int, list[Activity]] = {}
        self._tok = count(1)
        self._xc = -1  # the computer whose exchange is being carried out
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
        self._u_jit = st.uniform("fleet/backoff-jitter")
        self.lost_p = sc.faults.lost_exchange_probability
        self._u_lost = st.uniform("fleet/lost-exchange")
        self._u_fail = st.uniform("client/failure")
        # Between a message becoming visible at t and the first ping p that sees it, only a
        # handler finishing on that computer, a cancel (the ping would then find nothing) or
        # an offline period (the ping would fail) can change what the ping does. Without
        # those, the ping's outcome is known at t and its event can be skipped: exact, and
        # one event fewer per activity. Restarts need no exclusion: they reset the schedule.
        # A stale ping view (ping_staleness > 0) adds pings of its own after deliveries.
        wl = sc.workload
        tpls = [*wl.arrivals, *wl.batches, *wl.bulks, *(s for ch in wl.chains for s in ch.steps)]
        self.ping_shortcut = (
            sc.server.ping_staleness == 0
            and sc.cancellations.probability == 0
            and all(not tp.cancel_probability for tp in tpls)
            and all(g.offline.rate_per_day == 0 for g in sc.fleet.groups)
        )
        self.staleness = sc.server.ping_staleness
        #: The client handler's duration model: ``duration(activity) -> seconds``
        #: (replaceable; the default draws from the activity's handler spec).
        self.duration: Callable[[Activity], float] = _drawn_duration

    # -- small queries -------------------------------------------------------------------------
    @staticmethod
    def name(c: int) -> str:
        return f"c{c + 1}"

    def group(self, c: int) -> GroupCfg:
        return self.gcfg[self.gi[c]]

    def _at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        """``kernel.at`` inlined: the fleet schedules a few events per activity."""
        env = self.env
        now = env.now
        d = t - now
        if d < 0.0:
            d = 0.0
        elif now + d != t:
            d = exact_delay(now, t)
        env.timeout(d).callbacks.append(partial(fn, *args))

    def _busy_at(self, t: float) -> bool:
        i = bisect_right(self.busy_starts, t) - 1
        return i >= 0 and t < self.busy_ends[i]

    def _next_busy_start(self, t: float) -> float:
        i = bisect_right(self.busy_starts, t)
        return self.busy_starts[i] if i < len(self.busy_starts) else INF

    def _backoff(self, c: int) -> float:
        b = min(self.bo[c] or self.bo_init, self.bo_max)
        self.bo[c] = min(2.0 * b, self.bo_max)
        return b * (1.0 + self.bo_jit * (2.0 * self._u_jit() - 1.0))

    # -- the analytic part ----------------------------------------------------------------------
    def _catch_up(self, c: int, t: float) -> None:
        """Account for a dormant computer's exchanges before ``t``: all idle, none simulated."""
        x = self.nx[c]
        if x >= t:
            return
        g = self.gcfg[self.gi[c]]
        interval = g.I
        u = self.nu[c]
        os_, oe = self.os[c], self.oe[c]
        busy = bool(self.busy_starts)
        cnt = self.c
        while x < t:
            if os_ <= x < oe:  # offline: the attempt fails, the client retries per its mode
                step = g.U if u else interval
                x += math.ceil((oe - x) / step) * step
                continue
            if busy and self._busy_at(x):
                cnt["busy_rejections"] += 1
                x += self._backoff(c)
                continue
            if u:
                cnt["exchanges_urgent"] += 1
                u = False
            else:
                cnt["exchanges_regular"] += 1
            self.bo[c] = 0.0
            limit = t
            if x < os_ < limit:
                limit = os_
            if busy:
                nb = self._next_busy_start(x)
                if nb < limit:
                    limit = nb
            n = math.ceil((limit - x) / interval) - 1
            if n > 0:
                cnt["exchanges_regular"] += n
            x += (n + 1) * interval if n > 0 else interval
        self.nx[c] = x
        self.nu[c] = u

    def _next_ping(self, c: int, x: float) -> float:
        """The first ping of computer ``c`` at or after ``x`` (skipping its offline window)."""
        g0 = self.g0[c]
        P = self.gcfg[self.gi[c]].P
        p = g0 if x <= g0 else g0 + math.ceil((x - g0) / P) * P
        if self.os[c] <= p < self.oe[c]:
            p = g0 + math.ceil((self.oe[c] - g0) / P) * P
        return p

    def _ping_count(self, c: int, a: float, b: float) -> int:
        g0 = self.g0[c]
        a = max(a, g0)
        if b <= a:
            return 0
        P = self.gcfg[self.gi[c]].P
        return max(0, math.ceil((b - g0) / P) - math.ceil((a - g0) / P))

    def _schedule_x(self, c: int) -> None:
        tok = next(self._tok)
        self.xs[c] = tok
        self._at(self.nx[c], self._on_exchange, c, tok)

    def _ensure_x(self, c: int) -> None:
        if not self.xs[c]:
            self._schedule_x(c)

    def _schedule_ping(self, c: int, p: float) -> None:
        if not (self.ptok[c] and self.pat[c] <= p):
            tok = next(self._tok)
            self.ptok[c] = tok
            self.pat[c] = p
            self._at(p, self._on_ping, c, tok)

    def visible(self, c: int, t: float) -> None:
        """A message for ``c`` is deliverable from ``t``: when will an exchange carry it?"""
        if c == self._xc or self.down[c] == INF:
            return  # the exchange in progress delivers it / powered off for good
        if not self.xs[c]:
            self._catch_up(c, t)
        if self.nu[c] or self.bo[c] > 0:
            # An urgent exchange is pending, or the client is backing off (its retry
            # carries the message; pings do not cut a back-off short).
            self._ensure_x(c)
            return
        p = self._next_ping(c, t + self.staleness)
        if p < self.nx[c]:
            if self.ping_shortcut and c not in self.running:
                # Nothing can reach this computer before p (see ping_shortcut): the ping at p
                # will find the message, so schedule its urgent exchange right away.
                self.c["pings_found"] += 1
                self.nx[c] = p + self.gcfg[self.gi[c]].U
                self.nu[c] = True
                self._schedule_x(c)
            else:
                self._schedule_ping(c, p)
        else:
            self._ensure_x(c)

    def _want_urgent(self, c: int, t: float) -> None:
        """The client queued an urgent message (an operation-result)."""
        if not self.xs[c]:
            self._catch_up(c, t)
        if self.nu[c] or self.bo[c] > 0:
            self._ensure_x(c)
            return
        self.nx[c] = t + self.gcfg[self.gi[c]].U
        self.nu[c] = True
        self._schedule_x(c)

    # -- fleet events ---------------------------------------------------------------------------
    def _on_ping(self, c: int, tok: int, ev: simpy.Event) -> None:
        if self.ptok[c] != tok:
            return
        self.ptok[c] = 0
        t = self.env.now
        self.c["pings_simulated"] += 1
        if t < self.down[c] or self.os[c] <= t < self.oe[c]:
            if self.server.store.has_deliverable(t, c):
                self.visible(c, t)
            return
        if not self.xs[c]:
            self._catch_up(c, t)
        if self.server.ping_sees(c, t):
            if self.nu[c] or self.bo[c] > 0:  # already urgent, or backing off
                self._ensure_x(c)
                return
            self.c["pings_found"] += 1
            self.nx[c] = t + self.gcfg[self.gi[c]].U
            self.nu[c] = True
            self._schedule_x(c)

    def _on_exchange(self, c: int, tok: int, ev: simpy.Event) -> None:
        if self.xs[c] != tok:
            return
        self.xs[c] = 0
        t = self.env.now
        if t < self.down[c]:
            return
        g = self.gcfg[self.gi[c]]
        u = self.nu[c]
        cnt = self.c
        if self.os[c] <= t < self.oe[c]:
            step = g.U if u else g.I
            self.nx[c] = t + math.ceil((self.oe[c] - t) / step) * step
            self._schedule_x(c)
            return
        if self.busy_starts and self._busy_at(t):
            cnt["busy_rejections"] += 1
            self.emit({"t": t, "event": "fault", "computer": self.name(c), "fault": "busy"})
            self.nx[c] = t + self._backoff(c)
            self._schedule_x(c)
            return
        if self.lost_p and self._u_lost() < self.lost_p:
            cnt["lost_exchanges"] += 1
            self.emit(
                {"t": t, "event": "fault", "computer": self.name(c), "fault": "lost_exchange"}
            )
            self.nx[c] = t + (g.U if u else g.I)
            self._schedule_x(c)
            return
        self.bo[c] = 0.0
        cnt["exchanges_urgent" if u else "exchanges_regular"] += 1
        outq = self.out.get(c)
        store = self.server.store
        if outq or store.has_deliverable(t, c):
            cnt["exchanges_traced"] += 1
            self.emit({"t": t, "event": "exchange", "computer": self.name(c), "urgent": u})
            self._carry(c, t, g, outq)
        else:
            cnt["exchanges_idle"] += 1
        if c in self.out:  # more than the cap was pending: another urgent exchange follows
            self.nx[c] = t + g.U
            self.nu[c] = True
            self._schedule_x(c)
        else:  # a successful exchange ends urgent mode; the computer goes dormant
            self.nx[c] = t + g.I
            self.nu[c] = False

    def _carry(self, c: int, t: float, g: GroupCfg, outq: deque | None) -> None:
        """One exchange that carries something: results up, deliveries down."""
        batch: list[tuple[Any, str]] = []
        was_canceled: list[bool] = []
        store = self.server.store
        self._xc = c
        if outq:
            for _ in range(min(g.cap, len(outq))):
                a, status = outq.popleft()
                if status == "succeeded" and a.state == IP and store.watched(a):
                    # Finished means all done: what waits on its progress learns it first.
                    store.progress(t, a, 1.0)
                batch.append((a.op, status))
                was_canceled.append(a.state == X)
            if not outq:
                del self.out[c]
        delivered, answers = store.exchange(t, c, batch)
        self._xc = -1
        cnt = self.c
        cnt["results"] += len(batch)
        if any(was_canceled):  # late results that settled a canceled activity (result-wins)
            cnt["late_results"] += sum(
                1 for x, (_, _, ok) in zip(was_canceled, answers, strict=True) if x and ok
            )
        if delivered:
            cnt["deliveries"] += len(delivered)
            run = self.running.get(c)
            if run is None:
                run = self.running[c] = []
            gen = self.gen[c]
            for a in delivered:
                run.append(a)
                self._at(t + self.duration(a), self._on_client_done, c, a, gen)
            p = self.server.delivered(c, t, delivered)
            if p is not None:
                # The ping service's view is stale: a ping before p + staleness may still see
                # a just-delivered message and make the client exchange (empty) at once.
                p = self._next_ping(c, max(t, p + self.staleness))
                if p < t + self.staleness:
                    self._schedule_ping(c, p)

    def _on_client_done(self, c: int, a: Activity, gen: int, ev: simpy.Event) -> None:
        if self.gen[c] != gen:
            return  # the client restarted meanwhile: this result was lost (or re-run)
        t = self.env.now
        self.running[c].remove(a)
        if not self.running[c]:
            del self.running[c]
        failp = a.extra.failp
        status = "failed" if failp and self._u_fail() < failp else "succeeded"
        q = self.out.get(c)
        if q is None:
            q = self.out[c] = deque()
        q.append((a, status))
        self._want_urgent(c, t)
        if a.type.reports_before_acting:
            self._at(t + POWER_OFF_DELAY, self._on_power_off, c, a.type.name)

    def _on_power_off(self, c: int, tname: str, ev: simpy.Event) -> None:
        t = self.env.now
        if tname == "ShutdownRequest":
            self._shutdown(c, t)
        else:
            self.c["reboots"] += 1
            self.restart(c, t, self.gcfg[self.gi[c]].restart_down())

    def _lose_running(self, c: int, up: float) -> None:
        self.gen[c] += 1
        run = self.running.pop(c, None)
        if not run:
            return
        keep = []
        for a in run:
            if a.type.survives_restart and up < INF:
                keep.append(a)  # persisted as a task: re-run from scratch after the restart
                self._at(up + self.duration(a), self._on_client_done, c, a, self.gen[c])
            else:
                self.c["lost_results"] += 1
        if keep:
            self.running[c] = keep

    # -- faults -----------------------------------------------------------------------------------
    def registered(self, c: int, t: float) -> bool:
        return t >= self.reg[c]

    def restart(self, c: int, t: float, downtime: float) -> None:
        """The client process restarts at ``t`` and is back ``downtime`` later."""
        if self.down[c] == INF:
            return
        self.c["restarts"] += 1
        self.emit({"t": t, "event": "fault", "computer": self.name(c), "fault": "restart"})
        if not self.xs[c]:
            self._catch_up(c, t)
        if t >= self.down[c] and self.pfrom[c] < t:
            self.c["pings"] += self._ping_count(c, self.pfrom[c], t)
        g = self.gcfg[self.gi[c]]
        up = t + downtime
        self.down[c] = up
        self.g0[c] = up + g.P
        self.pfrom[c] = self.oe[c] if self.os[c] <= up < self.oe[c] else up
        self.xs[c] = 0
        self.ptok[c] = 0
        self.bo[c] = 0.0
        x = up + g.U
        if self.os[c] <= x < self.oe[c]:
            x += math.ceil((self.oe[c] - x) / g.U) * g.U
        self.nx[c] = x
        self.nu[c] = True  # the first exchange after the client starts is urgent
        self._lose_running(c, up)
        if self.out.get(c) or self.server.store.has_deliverable(t, c):
            self._schedule_x(c)

    def _shutdown(self, c: int, t: float) -> None:
        self.c["shutdowns"] += 1
        self.emit({"t": t, "event": "fault", "computer": self.name(c), "fault": "offline"})
        if not self.xs[c]:
            self._catch_up(c, t)
        if self.pfrom[c] < t and t >= self.down[c]:
            self.c["pings"] += self._ping_count(c, self.pfrom[c], t)
        self.down[c] = INF
        self.pfrom[c] = INF
        self.g0[c] = INF
        self.nx[c] = INF
        self.xs[c] = 0
        self.ptok[c] = 0
        self._lose_running(c, INF)

    def offline(self, c: int, t: float, end: float, t_stop: float) -> None:
        """The computer's network is gone over ``[t, end)``."""
        self.c["offline_periods"] += 1
        self.emit({"t": t, "event": "fault", "computer": self.name(c), "fault": "offline"})
        if self.down[c] == INF:
            return
        if not self.xs[c]:
            self._catch_up(c, t)
        if self.pfrom[c] < t:
            self.c["pings"] += self._ping_count(c, self.pfrom[c], t)
        self.pfrom[c] = max(self.pfrom[c], end)
        self.os[c], self.oe[c] = t, end
        if not self.xs[c]:
            x = self.nx[c]
            if t <= x < end:
                g = self.gcfg[self.gi[c]]
                step = g.U if self.nu[c] else g.I
                self.nx[c] = x + math.ceil((end - x) / step) * step
        if end < t_stop:
            self._at(end, self._on_online, c)

    def _on_online(self, c: int, ev: simpy.Event) -> None:
        t = self.env.now
        self.emit({"t": t, "event": "fault", "computer": self.name(c), "fault": "online"})

    # -- the end ---------------------------------------------------------------------------------
    def finish_counts(self, end_t: float) -> None:
        """Count what dormant computers did analytically up to ``end_t``."""
        if not self.N:
            return
        nx = np.array(self.nx)
        todo = (np.array(self.xs) == 0) & (nx < end_t)
        if not self.busy_starts:
            # Closed form where no busy window or offline period can split the sequence:
            # exchanges at nx, nx + I, ... < end_t, the first urgent when nu.
            simple = todo & np.isinf(np.array(self.os))
            idx = np.flatnonzero(simple)
            interval = np.array([g.I for g in self.gcfg])[np.array(self.gi)[idx]]
            n = np.ceil((end_t - nx[idx]) / interval).astype(np.int64)
            urgent = np.array(self.nu)[idx]
            self.c["exchanges_urgent"] += int(urgent.sum())
            self.c["exchanges_regular"] += int(n.sum() - urgent.sum())
            todo &= ~simple
        for c in np.flatnonzero(todo).tolist():
            self._catch_up(c, end_t)
        # Pings: grid points in [pfrom, end_t) of every live computer.
        g0 = np.array(self.g0)
        pf = np.array(self.pfrom)
        P = np.array([g.P for g in self.gcfg])[np.array(self.gi)]
        a = np.maximum(pf, g0)
        live = np.isfinite(a) & (a < end_t)
        n = np.ceil((end_t - g0[live]) / P[live]) - np.ceil((a[live] - g0[live]) / P[live])
        self.c["pings"] += int(np.clip(n, 0, None).sum())


def _drawn_duration(a: Activity) -> float:
    return a.extra.duration()
