"""One exchange (Landscape Client's ``MessageExchange``). The payload is the oldest pending
messages up to the cap (background and results, in the order queued); the request is on the
way for ``round_trip`` (requests to schedule an exchange are ignored meanwhile), then the
server's messages are handled one by one (``message_handling`` each; the client attends to
nothing else, so a result or a ping answer arriving then is seen after the loop). On
completion the next exchange is scheduled from that moment: urgent if messages are still
pending and this exchange sent some, else per the mode; a busy server's retries follow the
client version (``current``: the mode's interval; ``backoff``: plus the back-off of
``lib/backoff.py``). A week of failed exchanges makes the message store drop new messages.
A completion that would only put the computer to sleep has no event: the next thing that
happens to the computer applies it first (``_settle``).
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any

import simpy

from ..server.activity import IP, X

if TYPE_CHECKING:
    from .fleet import Fleet, GroupCfg

__all__ = ["Exchange"]

INF = math.inf


class Exchange:
    """The exchange half of ``Fleet`` (a mixin over the fleet's per-computer state)."""

    # -- the exchange ---------------------------------------------------------------------------
    def _retry(self: Fleet, c: int, t: float, g: GroupCfg) -> None:
        """A failed attempt at ``t``: the next one from its end, in the same mode."""
        self._fail_span(c, t, t, 1.0)
        self.nx[c] = t + (g.Ue if self.nu[c] else g.Ie) + self._delay(self.lvl[c])
        self._schedule_x(c)
        self._look_again(c, t)

    def _look_again(self: Fleet, c: int, t: float) -> None:
        """A failed attempt delivered nothing: a ping before the retry may still find it."""
        if self.server.store.has_deliverable(t, c):
            self.visible(c, t)

    def _on_exchange(self: Fleet, c: int, tok: int, ev: simpy.Event) -> None:
        xs = self.xs
        if xs[c] != tok:
            return
        xs[c] = 0
        t = self.env.now
        gi = self.gi[c]
        g = self.gcfg[gi]
        nu = self.nu
        u = nu[c]
        cnt = self.c
        if self.calm:  # (see ``Fleet.calm``: the attempt succeeds, no back-off to step down)
            lv = 0
        else:
            if self._attempt_fails(c, t, g, u):
                return
            # A successful exchange: the back-off steps down one level.
            lv = self.lvl[c] if self.backoffs else 0
            if lv:
                self.lvl[c] = lv = lv - 1
            if self.ffail:
                self.ffail.pop(c, None)
                self.blackhole.pop(c, None)
        nu[c] = False  # a successful exchange ends urgent mode
        cnt["exchanges_urgent" if u else "exchanges_regular"] += 1
        self.gx[gi] += 1
        if g.stepped:
            self._bg_fill(c, t)
        outq = self.out.get(c)
        if outq or self.server.store.has_deliverable(t, c):
            cnt["exchanges_traced"] += 1
            self.emit({"t": t, "event": "exchange", "computer": self.name(c), "urgent": u})
            sent, handled = self._carry(c, t, g, outq)
        else:
            cnt["exchanges_idle"] += 1
            sent, handled = 0, None
        R = g.R
        if handled is None and R == 0.0:
            self._complete(c, t, sent, None, g)
            return
        done = handled[-1] if handled else t + R
        self.xing[c] = (t + R, done)
        if (
            done > t
            and not lv
            and not g.stepped
            and c not in self.out
            and self.lazy_completion
            and not (self.stale_seen and c in self.stale_seen)
        ):
            # The completion would only put the computer to sleep (nothing pending, nothing
            # to draw): no event for it. Whatever happens to the computer meanwhile (a new
            # message for it, a result, a fault) first calls ``_settle``.
            self.lazy[c] = (t + self._delay_to(done), sent, handled)
        else:
            self._at(done, self._on_done, c, sent, handled)

    def _attempt_fails(self: Fleet, c: int, t: float, g: GroupCfg, u: bool) -> bool:
        """The exchange attempt of ``c`` (of group ``g``, urgent ``u``) at ``t`` does not
        happen (the client is down or halting) or fails (offline, a busy server, lost);
        the failure is handled here."""
        if (self.downs and t < self.down[c]) or (self.halting and c in self.halting):
            return True
        if self.offlines and self.os[c] <= t < self.oe[c]:
            if self.lvl[c]:
                self._retry(c, t, g)
                return True
            step = g.Ue if u else g.Ie
            k = math.ceil((self.oe[c] - t) / step)
            self._fail_span(c, t, t + (k - 1) * step, step)
            self.nx[c] = t + k * step
            self._schedule_x(c)
            self._look_again(c, t)
            return True
        if self.busy_starts and self._busy_at(t):
            self.c["busy_rejections"] += 1
            self.emit({"t": t, "event": "fault", "computer": self.name(c), "fault": "busy"})
            if g.backoff:
                self.lvl[c] = min(self.lvl[c] + 1, self.bo_top)
            self._retry(c, t, g)
            return True
        if self.lost_p and self._u_lost() < self.lost_p:
            self.c["lost_exchanges"] += 1
            self.emit(
                {"t": t, "event": "fault", "computer": self.name(c), "fault": "lost_exchange"}
            )
            self._retry(c, t, g)
            return True
        return False

    def _settle(self: Fleet, c: int, t: float) -> None:
        """Something happens to ``c`` at ``t``: every entry point into a computer calls this
        first. If its last exchange completed without an event (``lazy``), apply that
        completion now if its time has passed; if not, the exchange is still in progress
        and completes as an event after all. Otherwise nothing to do.

        The completion runs with the time its event would have had, so it is the same as
        the event's, with one difference only at the exact instant of completion: an event
        there sees the exchange still in progress, as one scheduled before the exchange
        began does (a later one would run after the completion's event)."""
        v = self.lazy.pop(c, None) if self.lazy else None
        if v is None:
            return
        te, sent, handled = v
        if t > te:
            # (nothing became deliverable meanwhile: that would have settled it then)
            self._complete(c, te, sent, handled, self.gcfg[self.gi[c]], look=False)
        else:
            self._at(te, self._on_done, c, sent, handled)

    def _settle_before(self: Fleet, end: float) -> None:
        """Apply every eventless completion that comes before ``end`` (the run's end)."""
        for c in [c for c, v in self.lazy.items() if v[0] < end]:
            self._settle(c, end)

    def _carry(
        self, c: int, t: float, g: GroupCfg, outq: deque | None
    ) -> tuple[int, list[float] | None]:
        """One exchange that carries something: the oldest messages up, the server's down.

        Returns how many messages went up and when each server message was handled."""
        batch: list[tuple[Any, str]] = []
        #: indexes in ``batch`` of results for canceled activities (None: none so far)
        canceled: list[int] | None = None
        server = self.server
        store = server.store
        self._xc = c
        sent = 0
        if outq:
            room = g.cap
            while outq and room:
                item = outq[0]
                if type(item) is int:  # background messages, queued before what follows
                    k = item if item <= room else room
                    room -= k
                    if k == item:
                        outq.popleft()
                    else:
                        outq[0] = item - k
                    continue
                outq.popleft()
                room -= 1
                a, status = item
                state = a.state
                if status == "succeeded" and state == IP and store.watched(a):
                    # Finished means all done: what waits on its progress learns it first.
                    store.progress(t, a, 1.0)
                    state = a.state
                if state == X:
                    if canceled is None:
                        canceled = []
                    canceled.append(len(batch))
                batch.append((a.op, status))
            sent = g.cap - room
            if not outq:
                del self.out[c]
        delivered, answers = store.exchange(t, c, batch)
        self._xc = -1
        cnt = self.c
        if batch:
            cnt["results"] += len(batch)
        if canceled:  # late results that settled a canceled activity (result-wins)
            cnt["late_results"] += sum(1 for i in canceled if answers[i][2])
        if not delivered:
            return sent, None
        cnt["deliveries"] += len(delivered)
        # The answer arrives a round trip later; its messages are handled one after another.
        m = t + g.R
        handled = []
        handle = g.handle
        start = self._start
        for a in delivered:
            m += handle()
            handled.append(m)
            start(c, a, m, g)
        p = server.delivered(c, t, delivered) if self.staleness else None
        if p is not None:
            # The ping service's view is stale: a ping before p + staleness may still see
            # a just-delivered message and make the client exchange (empty) at once.
            self.stale_seen[c] = p
        return sent, handled

    def _on_done(
        self: Fleet, c: int, sent: int, handled: list[float] | None, ev: simpy.Event
    ) -> None:
        if c in self.xing:  # else the client restarted meanwhile
            self._complete(c, self.env.now, sent, handled, self.gcfg[self.gi[c]])

    def _complete(
        self: Fleet,
        c: int,
        t: float,
        sent: int,
        handled: list[float] | None,
        g: GroupCfg,
        look: bool = True,
    ) -> None:
        """The exchange of ``c`` (of group ``g``) is over at ``t``: schedule the next one
        (``look``: and look for what became deliverable during it)."""
        x = self.xing.pop(c, None) if self.xing else None
        if handled:
            # The reactor turned to the messages when the answer came (x[0]): one reset
            # for the loop, the pinger's state as it was then.
            self._reset_pings(c, handled[-1], x[0] if x else t, g)
        nu = self.nu
        pending = c in self.out
        if pending and sent:  # more than the cap was pending: another urgent exchange
            nu[c] = True
        if self.deferred and c in self.deferred:
            self.deferred.discard(c)
            nu[c] = True
        u = nu[c]
        lv = self.lvl[c] if self.backoffs else 0
        if lv:
            self.nx[c] = t + (g.U if u else g.I) + self._delay(lv)
        else:
            self.nx[c] = t + (g.U if u else g.I)  # (level 0: the call would add 0)
        if pending or u or g.stepped:
            self._schedule_x(c)
        # else the computer goes dormant
        if look and (handled or g.R > 0.0):
            st = self.server
            if st.store.has_deliverable(t, c):
                self.visible(c, t)  # became deliverable while the exchange was in progress
            elif c in self.stale_seen:
                p = self._next_ping(c, max(t, self.stale_seen.pop(c) + self.staleness))
                if p < t + self.staleness:
                    self._schedule_ping(c, p)

    def _bg_fill(self: Fleet, c: int, t: float) -> None:
        """Queue the background messages of ``c``'s stream due by ``t``."""
        b = self.bg[c]
        g = self.gcfg[self.gi[c]]
        T, ph, s = g.bgT, b[0], b[1]
        n = math.floor((t - ph) / T) - math.floor((s - ph) / T)
        b[1] = t
        if n > 0:
            k = n * g.bgm
            self.c["background_messages"] += k
            if self.blackhole.get(c, INF) <= t:
                self.c["store_dropped"] += k
                return
            q = self.out.get(c)
            if q is None:
                q = self.out[c] = deque()
            if q and type(q[-1]) is int:
                q[-1] += k
            else:
                q.append(k)
