"""The fleet: Landscape Client's exchange rules for every computer, computed analytically.

Per-computer state lives in parallel Python lists indexed by computer number (cheap to index,
a few dozen bytes per computer); see docs/simulator.md for why skipping idle pings and
exchanges is exact.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from itertools import count

import numpy as np

from .base import DELIVERABLE, INF, IP, KO, OK, POWER_OFF_DELAY, Act, Ev, GroupCfg, Kernel, X

__all__ = ["FleetMixin"]


class FleetMixin(Kernel):
    """Computers: start, pings, exchanges, handlers, restarts, power-offs, offline periods."""

    # ------------------------------------------------------------------ fleet set-up
    def _build_fleet(self) -> None:
        sc, st = self.sc, self.streams
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
        self.gi, self.reg, self.nx, self.nu, self.g0, self.pfrom = gi, reg, nx, nu, g0, pfrom
        self.xs = [0] * N  # token of the scheduled exchange event, 0 = dormant
        self.ptok = [0] * N  # token of the scheduled ping event, 0 = none
        self.pat = [0.0] * N  # time of that ping
        self.bo = [0.0] * N  # next back-off base; > 0 while backing off
        self.down = [0.0] * N  # client not running before this (restart downtime, power-off)
        self.os = [INF] * N  # current/last offline window [os, oe)
        self.oe = [INF] * N
        self.gen = [0] * N  # handler generation: a restart makes running handlers stale
        self.pend: dict[int, list[Act]] = {}  # deliverable messages waiting on the server
        self.out: dict[int, deque] = {}  # operation-results waiting on the client
        self.running: dict[int, list[Act]] = {}
        self.lastdel: dict[int, tuple[float, float]] = {}  # for a stale ping view
        self._tok = count(1)
        self._xc = -1  # the computer whose exchange is being processed
        self.staleness = sc.server.ping_staleness
        fb = sc.faults.server_busy
        wins = sorted((w.start, w.end) for w in fb.windows)
        merged: list[list[float]] = []
        for s0, e0 in wins:
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

    # ------------------------------------------------------------------ the analytic part
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
        self._at(self.nx[c], self._on_exchange, (c, tok))

    def _ensure_x(self, c: int) -> None:
        if not self.xs[c]:
            self._schedule_x(c)

    def _visible(self, c: int, t: float) -> None:
        """A message for ``c`` is deliverable from ``t``: when will an exchange carry it?"""
        if c == self._xc or self.down[c] == INF:
            return  # the exchange in progress delivers it / the computer was powered off
        if not self.xs[c]:
            self._catch_up(c, t)
        if self.nu[c] or self.bo[c] > 0:
            # An urgent exchange is pending, or the client is backing off (its retry
            # carries the message; pings do not cut a back-off short).
            self._ensure_x(c)
            return
        p = self._next_ping(c, t + self.staleness)
        if p < self.nx[c]:
            if self._ping_shortcut and c not in self.running:
                # Nothing can reach this computer before p (see _ping_shortcut): the ping at p
                # will find the message, so schedule its urgent exchange right away.
                self.c["pings_found"] += 1
                self.nx[c] = p + self.gcfg[self.gi[c]].U
                self.nu[c] = True
                self._schedule_x(c)
            elif not (self.ptok[c] and self.pat[c] <= p):
                tok = next(self._tok)
                self.ptok[c] = tok
                self.pat[c] = p
                self._at(p, self._on_ping, (c, tok))
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

    def _stale_view_has_messages(self, c: int, t: float) -> bool:
        seen = t - self.staleness
        pend = self.pend.get(c)
        if pend:
            for a in pend:
                if a.vis <= seen and a.state in DELIVERABLE:
                    return True
        if self.staleness > 0:
            ld = self.lastdel.get(c)
            if ld is not None and ld[0] > seen and ld[1] <= seen:
                return True
        return False

    # ------------------------------------------------------------------ fleet events
    def _on_ping(self, ev: Ev) -> None:
        c, tok = ev._value
        if self.ptok[c] != tok:
            return
        self.ptok[c] = 0
        t = self.env._now
        self.c["pings_simulated"] += 1
        if t < self.down[c] or self.os[c] <= t < self.oe[c]:
            if self.pend.get(c):
                self._visible(c, t)
            return
        if not self.xs[c]:
            self._catch_up(c, t)
        if self._stale_view_has_messages(c, t):
            if self.nu[c] or self.bo[c] > 0:  # already urgent, or backing off
                self._ensure_x(c)
                return
            self.c["pings_found"] += 1
            self.nx[c] = t + self.gcfg[self.gi[c]].U
            self.nu[c] = True
            self._schedule_x(c)

    def _on_exchange(self, ev: Ev) -> None:
        c, tok = ev._value
        if self.xs[c] != tok:
            return
        self.xs[c] = 0
        t = self.env._now
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
        cid = f"c{c + 1}"
        stale_ping: tuple[float, float] | None = None
        if self.busy_starts and self._busy_at(t):
            cnt["busy_rejections"] += 1
            self.emit({"t": t, "event": "fault", "computer": cid, "fault": "busy"})
            self.nx[c] = t + self._backoff(c)
            self._schedule_x(c)
            return
        if self.lost_p and self._u_lost() < self.lost_p:
            cnt["lost_exchanges"] += 1
            self.emit({"t": t, "event": "fault", "computer": cid, "fault": "lost_exchange"})
            self.nx[c] = t + (g.U if u else g.I)
            self._schedule_x(c)
            return
        self.bo[c] = 0.0
        cnt["exchanges_urgent" if u else "exchanges_regular"] += 1
        outq = self.out.get(c)
        pend = self.pend.get(c)
        carries = bool(outq) or (pend is not None and any(a.state in DELIVERABLE for a in pend))
        if carries:
            cnt["exchanges_traced"] += 1
            self.emit({"t": t, "event": "exchange", "computer": cid, "urgent": u})
            self._xc = c
            if outq:
                for _ in range(min(g.cap, len(outq))):
                    a, status = outq.popleft()
                    self._receive(a, status, cid, t)
                if not outq:
                    del self.out[c]
            pend = self.pend.pop(c, None)
            if pend:
                first = INF
                for a in pend:
                    if a.state in DELIVERABLE:
                        if a.vis < first:
                            first = a.vis
                        self._deliver(a, c, cid, t)
                if self.staleness > 0 and first < INF:
                    self.lastdel[c] = (t, first)
                    stale_ping = (t, first)
            self._xc = -1
        else:
            cnt["exchanges_idle"] += 1
            if pend is not None:  # only canceled messages were left
                del self.pend[c]
        if c in self.out:  # more than the cap was pending: another urgent exchange follows
            self.nx[c] = t + g.U
            self.nu[c] = True
            self._schedule_x(c)
        else:  # a successful exchange ends urgent mode; the computer goes dormant
            self.nx[c] = t + g.I
            self.nu[c] = False
        if stale_ping is not None:
            # The ping service's view is `staleness` old: a ping in [t, t + staleness) that
            # looks at a moment when a just-delivered message was still waiting says "yes",
            # and the client schedules an (empty) urgent exchange. Simulate that first ping.
            p = self._next_ping(c, max(t, stale_ping[1] + self.staleness))
            if p < t + self.staleness and not (self.ptok[c] and self.pat[c] <= p):
                tok = next(self._tok)
                self.ptok[c] = tok
                self.pat[c] = p
                self._at(p, self._on_ping, (c, tok))

    def _deliver(self, a: Act, c: int, cid: str, t: float) -> None:
        op = next(self._ops)
        a.op = op
        self.c["deliveries"] += 1
        self.emit(
            {"t": t, "event": "deliver", "activity": a.id, "computer": cid, "operation_id": op}
        )
        self._move(a, IP, t, "delivered in exchange")
        run = self.running.get(c)
        if run is None:
            run = self.running[c] = []
        run.append(a)
        self._at(t + a.dur(), self._on_client_done, (c, a, self.gen[c]))

    def _receive(self, a: Act, status: str, cid: str, t: float) -> None:
        self.c["results"] += 1
        self.emit(
            {
                "t": t,
                "event": "result",
                "activity": a.id,
                "computer": cid,
                "operation_id": a.op,
                "status": status,
            }
        )
        dst = OK if status == "succeeded" else KO
        if a.state == IP:
            self._move(a, dst, t, "operation-result")
            self._final(a, t, dst == OK)
        elif a.state == X and a.cancel_ip and self.result_wins:
            self.c["late_results"] += 1
            self._move(a, dst, t, "late operation-result after cancel")

    def _on_client_done(self, ev: Ev) -> None:
        c, a, gen = ev._value
        if self.gen[c] != gen:
            return  # the client restarted meanwhile: this result was lost (or re-run)
        t = self.env._now
        self.running[c].remove(a)
        if not self.running[c]:
            del self.running[c]
        status = "failed" if a.failp and self._u_fail() < a.failp else "succeeded"
        q = self.out.get(c)
        if q is None:
            q = self.out[c] = deque()
        q.append((a, status))
        self._want_urgent(c, t)
        if a.atype.reports_before_acting:
            self._at(t + POWER_OFF_DELAY, self._on_power_off, (c, a.atype.name))

    def _on_power_off(self, ev: Ev) -> None:
        c, tname = ev._value
        t = self.env._now
        if tname == "ShutdownRequest":
            self._shutdown(c, t)
        else:
            self.c["reboots"] += 1
            self._restart(c, t, self.gcfg[self.gi[c]].restart_down())

    def _lose_running(self, c: int, t: float, up: float) -> None:
        self.gen[c] += 1
        run = self.running.pop(c, None)
        if not run:
            return
        keep = []
        for a in run:
            if a.atype.survives_restart and up < INF:
                keep.append(a)  # persisted as a task: re-run from scratch after the restart
                self._at(up + a.dur(), self._on_client_done, (c, a, self.gen[c]))
            else:
                self.c["lost_results"] += 1
        if keep:
            self.running[c] = keep

    def _restart(self, c: int, t: float, downtime: float) -> None:
        self.c["restarts"] += 1
        self.emit({"t": t, "event": "fault", "computer": f"c{c + 1}", "fault": "restart"})
        if not self.xs[c]:
            self._catch_up(c, t)
        if t < self.down[c]:
            pass  # already down: the new downtime starts now
        elif self.pfrom[c] < t:
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
        self._lose_running(c, t, up)
        if self.out.get(c) or self.pend.get(c):
            self._schedule_x(c)

    def _shutdown(self, c: int, t: float) -> None:
        self.c["shutdowns"] += 1
        self.emit({"t": t, "event": "fault", "computer": f"c{c + 1}", "fault": "offline"})
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
        self._lose_running(c, t, INF)

    def _on_offline(self, c: int, t: float, end: float) -> None:
        self.c["offline_periods"] += 1
        self.emit({"t": t, "event": "fault", "computer": f"c{c + 1}", "fault": "offline"})
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
        if end < self.t_stop:
            self._at(end, self._on_online, c)

    def _on_online(self, ev: Ev) -> None:
        c = ev._value
        self.emit(
            {"t": self.env._now, "event": "fault", "computer": f"c{c + 1}", "fault": "online"}
        )
