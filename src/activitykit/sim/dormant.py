"""The dormant computers' arithmetic: what a computer that no event looks at did meanwhile.

A dormant computer (no exchange event scheduled) exchanges at ``nx, nx + I', ...`` with
``I'`` the exchange interval plus the round trip, fails through offline periods and busy
windows at its mode's interval (or, backing off, with a drawn delay each), and pings on its
grids; ``_catch_up`` replays that up to a time when the computer next matters, without events,
and ``finish_counts`` counts the rest at the end in closed form. The week-of-failures rule of
the message store and the server's set-intervals messages need the same accounting, so they
live here too.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import simpy

from ..scenario.schema import SetIntervals

if TYPE_CHECKING:
    from .fleet import Fleet

__all__ = ["WEEK", "Dormant"]

#: After failing this long (s), the client's message store drops new messages until a
#: successful exchange (``broker/store.py`` ``record_failure``).
WEEK = 7 * 86400.0
INF = math.inf


class Dormant:
    """The analytic half of ``Fleet`` (a mixin over the fleet's per-computer state)."""

    # -- the week of failures (broker/store.py) ------------------------------------------------
    def _fail_span(self: Fleet, c: int, x0: float, x1: float, step: float) -> None:
        """Attempts at ``x0, x0 + step, ..., x1`` all failed."""
        f = self.ffail.get(c)
        if f is None:
            f = self.ffail[c] = x0
        if x1 - f > WEEK and c not in self.blackhole:
            j = max(0, math.floor((f + WEEK - x0) / step) + 1)
            xb = x0 + j * step
            while xb - f <= WEEK:  # float care: the first attempt strictly after the week
                xb += step
            self._queue(c, 1, xb)  # a resynchronize message, the last one queued
            self.blackhole[c] = xb
            self.c["store_blackholes"] += 1

    # -- the analytic part ----------------------------------------------------------------------
    def _catch_up(self: Fleet, c: int, t: float) -> None:
        """Account for a dormant computer's exchanges before ``t``: all idle, none simulated."""
        x = self.nx[c]
        if x >= t:
            return
        g = self.gcfg[self.gi[c]]
        Ie = g.Ie
        u = self.nu[c]
        lv = self.lvl[c] if self.backoffs else 0
        os_, oe = (self.os[c], self.oe[c]) if self.offlines else (INF, INF)
        busy = bool(self.busy_starts)
        cnt = self.c
        n_u = n_r = 0
        woke = False
        prev = -INF  # the last attempt (its request may still be on the way at t)
        while x < t:
            prev = x
            off = os_ <= x < oe
            if off or (busy and self._busy_at(x)):
                step = g.Ue if u else Ie
                if not off:
                    cnt["busy_rejections"] += 1
                    if g.backoff:
                        lv = min(lv + 1, self.bo_top)
                if lv:  # each attempt draws its own delay
                    self._fail_span(c, x, x, step)
                    x += step + self._delay(lv)
                    continue
                k = math.ceil(((oe if off else self._busy_end(x)) - x) / step)
                if not off:
                    cnt["busy_rejections"] += k - 1
                self._fail_span(c, x, x + (k - 1) * step, step)
                x += k * step
                if c in self.out:
                    woke = True  # the store queued a resynchronize message: not idle any more
                    break
                continue
            if u:
                n_u += 1
                u = False
            else:
                n_r += 1
            if self.ffail:
                self.ffail.pop(c, None)
                self.blackhole.pop(c, None)
            if lv:
                lv -= 1
                x += Ie + self._delay(lv)
                continue
            limit = t
            if x < os_ < limit:
                limit = os_
            if busy:
                nb = self._next_busy_start(x)
                if nb < limit:
                    limit = nb
            n = math.ceil((limit - x) / Ie) - 1
            if n > 0:
                n_r += n
                prev = x + n * Ie
            x += (n + 1) * Ie if n > 0 else Ie
        if n_u or n_r:
            cnt["exchanges_urgent"] += n_u
            cnt["exchanges_regular"] += n_r
            self.gx[self.gi[c]] += n_u + n_r
        self.nx[c] = x
        self.nu[c] = u
        if self.backoffs:
            self.lvl[c] = lv
        if g.R > 0.0 and prev > -INF:
            self.lastx[c] = prev
        if woke:
            self._schedule_x(c)

    # -- set-intervals ----------------------------------------------------------------------------
    def start(self) -> None:
        """Schedule the server's set-intervals messages."""
        for si in self.set_intervals:
            self._at(si.at, self._on_set_intervals, si)

    def _on_set_intervals(self: Fleet, si: SetIntervals, ev: simpy.Event) -> None:
        """Every computer of the group handles the message now: its ping timer restarts with
        the new interval; the exchange intervals apply from its next scheduling."""
        t = self.env.now
        self.c["set_intervals"] += 1
        for k, g in enumerate(self.gcfg):
            if si.group is not None and si.group != g.name:
                continue
            last = self.gcfg[k + 1].first if k + 1 < len(self.gcfg) else self.N
            live = [c for c in range(g.first, last) if self.down[c] != INF]
            for c in live:
                self._settle(c, t)
                if not self.xs[c]:
                    self._catch_up(c, t)
                if t >= self.down[c]:
                    self._count_pings(c, t)
            g.set(si.exchange_interval, si.urgent_exchange_interval, si.ping_interval)
            store = self.server.store
            for c in live:
                if t >= self.down[c] and t >= self.reg[c]:
                    self._reset_pings(c, t)
                else:  # not running yet: it starts with the new values
                    self.g0[c] = max(self.down[c], self.reg[c]) + g.P
                if store.has_deliverable(t, c):
                    self.visible(c, t)

    # -- the end ---------------------------------------------------------------------------------
    def finish_counts(self: Fleet, end_t: float) -> None:
        """Count what dormant computers did analytically up to ``end_t``."""
        if not self.N:
            return
        self._settle_before(end_t)
        gi = np.array(self.gi)
        ng = len(self.gcfg)
        nx = np.array(self.nx)
        todo = (np.array(self.xs) == 0) & (nx < end_t)
        if self.xing:
            # an exchange still in progress at the end was counted when it began (its ``nx``
            # is its own start until it completes): nothing more to count for it
            todo[list(self.xing)] = False
        if not self.busy_starts:
            # Closed form where no busy window, offline period or back-off can split the
            # sequence: exchanges at nx, nx + I', ... < end_t, the first urgent when nu.
            simple = todo & np.isinf(np.array(self.os)) & (np.array(self.lvl) == 0)
            idx = np.flatnonzero(simple)
            interval = np.array([g.Ie for g in self.gcfg])[gi[idx]]
            n = np.ceil((end_t - nx[idx]) / interval).astype(np.int64)
            urgent = np.array(self.nu)[idx]
            self.c["exchanges_urgent"] += int(urgent.sum())
            self.c["exchanges_regular"] += int(n.sum() - urgent.sum())
            per = np.bincount(gi[idx], weights=n, minlength=ng)
            for k in range(ng):
                self.gx[k] += int(per[k])
            todo &= ~simple
        for c in np.flatnonzero(todo).tolist():
            self._catch_up(c, end_t)
        # Pings: grid points in [pfrom, end_t) of every live computer's loops; groups with
        # drawn ping round trips walk each computer's loops instead (no closed form).
        walked = np.array([g.jit is not None for g in self.gcfg])[gi]
        if walked.any():
            for c in np.flatnonzero(walked).tolist():
                self._count_pings(c, end_t)
        for c, origins in self.extra.items():
            pf = self.pfrom[c]
            if pf < end_t and not walked[c]:
                n_ex = sum(self._grid_count(c, o, pf, end_t) for o in origins)
                self.c["pings"] += n_ex
                self.gp[self.gi[c]] += n_ex
        g0 = np.array(self.g0)
        pf = np.array(self.pfrom)
        P = np.array([g.Pe for g in self.gcfg])[gi]
        a = np.maximum(pf, g0)
        live = np.isfinite(a) & (a < end_t) & ~walked
        n = np.ceil((end_t - g0[live]) / P[live]) - np.ceil((a[live] - g0[live]) / P[live])
        n = np.clip(n, 0, None)
        self.c["pings"] += int(n.sum())
        per = np.bincount(gi[live], weights=n, minlength=ng)
        for k in range(ng):
            self.gp[k] += int(per[k])
