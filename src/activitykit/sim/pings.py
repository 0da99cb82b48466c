"""The client's ping loops (Landscape Client's ``Pinger``), as grids of send times.

A ping is sent, its answer comes ``ping_round_trip`` later, and the next ping is scheduled
from the answer: one loop sends at ``g0 + k (P + ping_round_trip)``. Every server message the
client handles cancels the pinger's current call (the one scheduled last) and schedules it
``P`` from the message. A call whose ping is unanswered when the reactor turns to an
exchange's messages (in flight, or answered after the exchange and so waiting for the
messages: one reactor thread) cannot be cancelled: the real client then has a second loop that
nobody resets (``duplicate_ping_loop``). Between two resets a loop's pings are a fixed grid,
so they are counted, not simulated; only a ping that can see a waiting message is an event.

With a drawn ping round trip (``client.ping_round_trip`` a distribution; ``GroupCfg.jit``)
a loop is no grid: each send is the last plus its round trip plus ``P``. The round trip of
the ping ``c`` sends at ``s`` is a function of the seed, ``c`` and ``s`` (``rand.Keyed``), so
a loop is walked, not stepped, and a walk and stepped events see the same draws in any
order. A counted stretch moves the loop's origin to its last send (the sends after a send
depend on it alone), so none is walked twice. While a message waits, every ping of such a
computer is an event: one sent before the carrying exchange may be answered after that
exchange's answer, and another loop's later ping may be answered first.

``g0`` is the loop the pinger holds after the last reset; ``extra[c]`` holds the origins of
the others. Pings are counted from ``pfrom`` (moved forward by every reset, restart and
offline period).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:
    from .fleet import Fleet, GroupCfg

__all__ = ["Pings"]


def grid_count(pe: float, g0: float, a: float, b: float) -> int:
    """How many sends of the loop ``g0 + k pe`` (k >= 0) fall in ``[a, b)``."""
    a = max(a, g0)
    if b <= a:
        return 0
    return max(0, math.ceil((b - g0) / pe) - math.ceil((a - g0) / pe))


class Pings:
    """The ping half of ``Fleet`` (a mixin: it reads the fleet's per-computer lists)."""

    def _rtp(self: Fleet, c: int, s: float) -> float:
        """The round trip of the ping ``c`` sends at ``s``."""
        g = self.gcfg[self.gi[c]]
        return g.Rp if g.jit is None else g.jit(c, s)

    def _walk(self: Fleet, c: int, o: float, x: float) -> float:
        """The first send at or after ``x`` of the loop through ``o`` (drawn round trips):
        each next send is the answer, ``s + round trip``, plus the interval."""
        g = self.gcfg[self.gi[c]]
        rt, P = g.jit, g.P
        s = o
        while s < x:
            s = s + rt(c, s) + P
        return s

    def _grid_next(self: Fleet, c: int, g0: float, x: float) -> float:
        """The first send of the loop from ``g0`` at or after ``x``, off the offline window."""
        g = self.gcfg[self.gi[c]]
        if g.jit is not None:
            p = self._walk(c, g0, x)
            if self.offlines and self.os[c] <= p < self.oe[c]:
                p = self._walk(c, p, self.oe[c])
            return p
        pe = g.Pe
        p = g0 if x <= g0 else g0 + math.ceil((x - g0) / pe) * pe
        if self.offlines and self.os[c] <= p < self.oe[c]:
            p = g0 + math.ceil((self.oe[c] - g0) / pe) * pe
        return p

    def _next_ping(self: Fleet, c: int, x: float) -> float:
        """The first ping of computer ``c`` at or after ``x``, over all its loops."""
        p = self._grid_next(c, self.g0[c], x)
        ex = self.extra.get(c)
        if ex:
            for o in ex:
                q = self._grid_next(c, o, x)
                if q < p:
                    p = q
        return p

    def _first_answer(self: Fleet, c: int, x: float) -> tuple[float, float]:
        """The ping sent at or after ``x`` whose answer comes first, and that answer. With
        drawn round trips a second loop's later ping can be answered before the first's."""
        g = self.gcfg[self.gi[c]]
        if g.jit is None:
            p = self._next_ping(c, x)
            return p, p + g.Rp
        p = self._grid_next(c, self.g0[c], x)
        a = p + g.jit(c, p)
        ex = self.extra.get(c)
        if ex:
            for o in ex:
                q = self._grid_next(c, o, x)
                b = q + g.jit(c, q)
                if b < a:
                    p, a = q, b
        return p, a

    def _grid_count(self: Fleet, c: int, g0: float, a: float, b: float) -> int:
        return grid_count(self.gcfg[self.gi[c]].Pe, g0, a, b)

    def _walk_count(self: Fleet, c: int, o: float, a: float, b: float) -> tuple[int, float]:
        """Drawn round trips: the sends of the loop through ``o`` in ``[a, b)``, and the
        loop's last send before ``b`` (``o`` if none), which stands for the loop from then
        on: the sends after a send depend on that send alone."""
        g = self.gcfg[self.gi[c]]
        rt, P = g.jit, g.P
        n, s, last = 0, o, o
        while s < b:
            if s >= a:
                n += 1
            last = s
            s = s + rt(c, s) + P
        return n, last

    def _count_pings(self: Fleet, c: int, b: float, g: GroupCfg | None = None) -> None:
        """Count every loop's pings in ``[pfrom, b)`` and move ``pfrom`` to ``b`` (``g``:
        the group of ``c``, where the caller has it)."""
        pfrom = self.pfrom
        a = pfrom[c]
        if a >= b:
            return
        gi = self.gi[c]
        if g is None:
            g = self.gcfg[gi]
        ex = self.extra.get(c) if self.extra else None
        if g.jit is not None:
            # Walked, not computed: the walk's end becomes the loop's origin, so that no
            # send is drawn twice however often a long-dormant computer is looked at.
            n, self.g0[c] = self._walk_count(c, self.g0[c], a, b)
            if ex:
                for i, o in enumerate(ex):
                    k, ex[i] = self._walk_count(c, o, a, b)
                    n += k
        else:
            pe = g.Pe
            n = grid_count(pe, self.g0[c], a, b)
            if ex:
                for o in ex:
                    n += grid_count(pe, o, a, b)
        if n:
            self.c["pings"] += n
            self.gp[gi] += n
        pfrom[c] = b

    def _reset_pings(
        self: Fleet, c: int, m: float, h0: float | None = None, g: GroupCfg | None = None
    ) -> None:
        """The client handled server messages from ``h0`` (the reactor turned to them) to
        ``m`` (the last one; ``h0`` defaults to ``m``): the ping timer starts again (``g``:
        the group of ``c``, where the caller has it).

        Each message cancels the pinger's current call (the one scheduled last, by a reset
        or by a ping's answer) and schedules a new one. If that call has already fired (its
        ping is in flight at ``h0``, or its answer waits for the reactor, busy with the
        messages), nothing is cancelled: with ``duplicate_ping_loop`` the new call is a
        second loop, and the ping's answer, handled after the messages, schedules its own
        loop on from then. Otherwise only the loop of the current call moves to ``m + P``.
        """
        if h0 is None:
            h0 = m
        if g is None:
            g = self.gcfg[self.gi[c]]
        self._count_pings(c, h0, g)
        self.pfrom[c] = max(self.pfrom[c], m)  # the tracked loop's pings due meanwhile: cancelled
        ex = self.extra.get(c) if self.extra else None
        if not ex and g.Rp == 0.0 and g.jit is None:
            # One loop, answered at once: its call is never in flight, so it moves (what the
            # loop below finds for it, without the search).
            self.g0[c] = m + g.P
            self.ptok[c] = 0
            if self.every_ping:
                self._schedule_ping(c, self._next_ping(c, m))
            return
        loops = [self.g0[c], *ex] if ex else [self.g0[c]]
        # The loop whose call the pinger holds: the one scheduled last (ties: the first, g0,
        # which is the loop a held answer rescheduled after the messages of the last reset).
        best, best_at, fired, fired_r = 0, -math.inf, -math.inf, 0.0
        for i, o in enumerate(loops):
            at, s = o - g.P, -math.inf  # a loop scheduled at ``at`` sends at ``o``
            if o <= h0 and (g.Rp > 0.0 or g.jit is not None):
                if g.jit is not None:  # the loop's last send at or before h0
                    s, nxt = o, o
                    while nxt <= h0:
                        s = nxt
                        nxt = s + g.jit(c, s) + g.P
                    r = g.jit(c, s)
                else:
                    s, r = o + math.floor((h0 - o) / g.Pe) * g.Pe, g.Rp
                if s + r <= h0 or (self.offlines and self.os[c] <= s < self.oe[c]):
                    at, s = s + r, -math.inf  # answered before the messages, or offline
                else:
                    at = s - g.P  # scheduled by the previous answer; its ping is in flight
            elif o <= h0:
                at = o + math.floor((h0 - o) / g.Pe) * g.Pe  # Rp 0: answered at once
            if at > best_at:
                best, best_at, fired = i, at, s
                if s > -math.inf:
                    fired_r = r
        if fired > -math.inf:
            # Nothing to cancel: the in-flight ping's answer, seen after the messages,
            # schedules its loop on from then; the real client also starts a second loop
            # from the last message (a fixed client does not).
            loops[best] = max(fired + fired_r, m) + g.P
            if g.dup:
                loops.append(m + g.P)
                self.c["ping_loops_started"] += 1
        else:
            loops[best] = m + g.P
        if best:  # the loop just rescheduled is the one the pinger holds: keep it first
            loops[0], loops[best] = loops[best], loops[0]
        self.g0[c] = loops[0]
        if len(loops) > 1:
            self.extra[c] = loops[1:]
        self.ptok[c] = 0  # a pending ping event belongs to the old grid
        if self.every_ping:
            self._schedule_ping(c, self._next_ping(c, m))

    def ping_every_time(self: Fleet) -> None:
        """Make every ping of every computer a SimPy event (before ``run``): slow, for the
        test that counting pings instead of simulating them changes nothing."""
        self.every_ping = True
        self.ping_shortcut = False
        self.lazy_completion = False  # a reset schedules a ping event
        for c in range(self.N):
            self._schedule_ping(c, self._next_ping(c, self.pfrom[c]))

    def _schedule_ping(self: Fleet, c: int, p: float) -> None:
        if not (self.ptok[c] and self.pat[c] <= p):
            tok = next(self._tok)
            self.ptok[c] = tok
            self.pat[c] = p
            self._at(p, self._on_ping, c, tok)

    def _on_ping(self: Fleet, c: int, tok: int, ev: simpy.Event) -> None:
        self._settle(c, self.env.now)  # first: the completion's reset may have cancelled this ping
        if self.ptok[c] != tok:
            return
        self.ptok[c] = 0
        sent = self.pat[c]  # the grid's own time (``now`` may be an ulp past it)
        t = self.env.now
        x = self.xing.get(c)
        if x is not None and t >= x[0]:
            return  # due while the client handles messages: their reset cancels it
        self.c["pings_simulated"] += 1
        if self.every_ping or (
            self.gcfg[self.gi[c]].jit is not None and self.server.store.has_deliverable(t, c)
        ):
            # The chain of every ping as an event: for the exactness check, or while a
            # message waits with drawn round trips (see ``visible``).
            # (a micro-second on: the grid arithmetic may round t itself back)
            p = self._next_ping(c, t + 1e-6)
            if p < math.inf:
                self._schedule_ping(c, p)
        if (self.downs and t < self.down[c]) or (self.offlines and self.os[c] <= t < self.oe[c]):
            if self.server.store.has_deliverable(t, c):
                self.visible(c, t)
            return
        if self.server.ping_sees(c, t):
            r = self._rtp(c, sent)
            if r > 0.0:
                self._at(t + r, self._on_ping_answer, c)
            else:
                self._ping_yes(c, t)

    def _on_ping_answer(self: Fleet, c: int, ev: simpy.Event) -> None:
        self._ping_yes(c, self.env.now)

    def _ping_yes(self: Fleet, c: int, t: float) -> None:
        """The answer "messages: true" reached the client at ``t``: an urgent exchange."""
        self._settle(c, t)
        if self.downs and t < self.down[c]:
            return
        if c in self.xing:
            self._during_exchange(c, t)
            return
        if not self.xs[c]:
            self._catch_up(c, t)
            if self._requesting(c, t):
                self.visible(c, t)  # the answer is ignored: a later ping finds the message
                return
        if self.nu[c] or self.nx[c] <= t:
            # An urgent exchange is pending, or an exchange is due this very moment (the
            # grids meet: pings restart from the exchange that schedules the next one): it
            # carries the message.
            self._ensure_x(c)
            return
        self.c["pings_found"] += 1
        self._urgent_now(c, t, self.gcfg[self.gi[c]])
