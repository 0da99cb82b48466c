"""What happens on a computer between exchanges: its handlers, the package changer, reboots,
power-offs, restarts and offline periods (Landscape Client's manager and its processes).

- Most handlers run side by side; a result is queued when one finishes, and asks for an urgent
  exchange.
- Package changes (``change-packages`` messages) are tasks run one at a time by a separate
  changer; each answers with a change-packages-result; with reboot-if-necessary
  (``client.packages_reboot``) the changer stops the exchanger and reboots 5 s later.
- RestartRequest reboots at once after queuing its result; ShutdownRequest powers the computer
  off ``client.shutdown_delay`` after it.
- ResynchronizeRequest is answered by the broker itself when it handles the message: a
  resynchronize message, then the plugins' whole state again (``resynchronize_messages``).
- A restart loses the running handlers' results, except package tasks (persisted: re-run);
  queued messages are persisted and go out after it.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import simpy

from ..server.activity import Activity

if TYPE_CHECKING:
    from .fleet import Fleet, GroupCfg

__all__ = ["PACKAGES_REBOOT_DELAY", "Client"]

INF = math.inf
#: The package changer stops the exchanger and reboots this long after its result (s).
PACKAGES_REBOOT_DELAY = 5.0


class Client:
    """The on-computer half of ``Fleet`` (a mixin over the fleet's per-computer state)."""

    # -- handlers ------------------------------------------------------------------------------
    def _start(self: Fleet, c: int, a: Activity, t: float, g: GroupCfg) -> None:
        """The client (of group ``g``) handled the message of ``a`` at ``t`` (during an
        exchange)."""
        run = self.running.get(c)
        if run is None:
            self.running[c] = [a]
        else:
            run.append(a)
        atype = a.type
        if atype.name == "ResynchronizeRequest":
            self._at(t, self._on_resync, c, a, self.gen[c])
        elif atype.message == "change-packages":
            q = self.pkgq.get(c)
            if q is None:
                q = self.pkgq[c] = deque()
            q.append(a)
            if len(q) == 1:
                self._at(t, self._pkg_next, c, self.gen[c])
        else:
            d = self.duration(a) + g.overhead()
            self._at(t + d, self._on_client_done, c, a, self.gen[c])

    def _queue(self: Fleet, c: int, item: tuple[Activity, str] | int, t: float) -> bool:
        """Put a message in the client's store (False: dropped, the store awaits a resync)."""
        if self.blackhole and self.blackhole.get(c, INF) <= t:
            self.c["store_dropped"] += 1
            return False
        if self.gcfg[self.gi[c]].bgT is not None:
            self._bg_fill(c, t)
        out = self.out
        q = out.get(c)
        if q is None:
            out[c] = deque((item,))
        elif type(item) is int and q and type(q[-1]) is int:
            q[-1] += item
        else:
            q.append(item)
        return True

    def _finished(self: Fleet, c: int, a: Activity) -> str:
        running = self.running
        run = running[c]
        if len(run) == 1 and run[0] is a:
            del running[c]
        else:
            run.remove(a)
            if not run:
                del running[c]
        failp = a.extra.failp
        return "failed" if failp and self._u_fail() < failp else "succeeded"

    def _on_client_done(self: Fleet, c: int, a: Activity, gen: int, ev: simpy.Event) -> None:
        if self.gen[c] != gen:
            return  # the client restarted meanwhile: this result was lost (or re-run)
        t = self.env.now
        self._settle(c, t)
        status = self._finished(c, a)
        if not self._queue(c, (a, status), t):
            self.c["lost_results"] += 1
            return
        name = a.type.name
        if name == "RestartRequest":
            self.c["reboots"] += 1
            self.restart(c, t, self.gcfg[self.gi[c]].restart_down())
            return
        self._want_urgent(c, t)
        if name == "ShutdownRequest":
            self._at(t + self.gcfg[self.gi[c]].shutdown_delay, self._on_power_off, c, gen)

    def _on_resync(self: Fleet, c: int, a: Activity, gen: int, ev: simpy.Event) -> None:
        if self.gen[c] != gen:
            return
        t = self.env.now
        self._settle(c, t)
        self._finished(c, a)
        if self._queue(c, (a, "succeeded"), t):
            self.c["resynchronizations"] += 1
            burst = self.gcfg[self.gi[c]].bgr
            if burst:
                self._queue(c, burst, t)
                self.c["background_messages"] += burst
        else:
            self.c["lost_results"] += 1
        self._want_urgent(c, t)

    def _pkg_next(self: Fleet, c: int, gen: int, ev: simpy.Event | None = None) -> None:
        """The changer takes the oldest package task, if any."""
        q = self.pkgq.get(c)
        if self.gen[c] != gen or not q:
            return
        a = q[0]
        self._at(self.env.now + self.duration(a), self._on_pkg_done, c, a, gen)

    def _on_pkg_done(self: Fleet, c: int, a: Activity, gen: int, ev: simpy.Event) -> None:
        if self.gen[c] != gen:
            return
        t = self.env.now
        self._settle(c, t)
        q = self.pkgq[c]
        q.popleft()
        if not q:
            del self.pkgq[c]
        status = self._finished(c, a)
        if not self._queue(c, (a, status), t):
            self.c["lost_results"] += 1
        else:
            self._want_urgent(c, t)
        g = self.gcfg[self.gi[c]]
        if g.pkg_reboot and self._u_pkg() < g.pkg_reboot:
            self.halting.add(c)  # the changer stops the exchanger, then reboots
            self.calm = False
            self._at(t + PACKAGES_REBOOT_DELAY, self._on_pkg_reboot, c, gen)
            return
        self._pkg_next(c, gen)

    def _on_pkg_reboot(self: Fleet, c: int, gen: int, ev: simpy.Event) -> None:
        if self.gen[c] != gen:
            return
        self.c["reboots"] += 1
        self.restart(c, self.env.now, self.gcfg[self.gi[c]].restart_down())

    def _on_power_off(self: Fleet, c: int, gen: int, ev: simpy.Event) -> None:
        if self.gen[c] == gen:
            self._shutdown(c, self.env.now)

    def _lose_running(self: Fleet, c: int, up: float) -> None:
        self.gen[c] += 1
        run = self.running.pop(c, None)
        tasks = self.pkgq.pop(c, None)
        if not run:
            return
        keep = []
        for a in run:
            if a.type.survives_restart and up < INF:
                keep.append(a)  # persisted as a task: re-run from scratch after the restart
            else:
                self.c["lost_results"] += 1
        if keep:
            self.running[c] = keep
            if tasks:
                self.pkgq[c] = tasks
                self._at(up, self._pkg_next, c, self.gen[c])

    # -- restarts, power-off, offline ---------------------------------------------------------
    def registered(self: Fleet, c: int, t: float) -> bool:
        return t >= self.reg[c]

    def _forget_session(self: Fleet, c: int) -> None:
        """What a client process keeps in memory only: its exchange, pings, back-off."""
        self.xing.pop(c, None)
        self.deferred.discard(c)
        self.extra.pop(c, None)
        self.halting.discard(c)
        self.xs[c] = 0
        self.ptok[c] = 0
        self.lvl[c] = 0

    def restart(self: Fleet, c: int, t: float, downtime: float) -> None:
        """The client process restarts at ``t`` and is back ``downtime`` later."""
        if self.down[c] == INF:
            return
        self._settle(c, t)
        self.c["restarts"] += 1
        self.emit({"t": t, "event": "fault", "computer": self.name(c), "fault": "restart"})
        if not self.xs[c]:
            self._catch_up(c, t)
        if t >= self.down[c]:
            self._count_pings(c, t)
        g = self.gcfg[self.gi[c]]
        up = t + downtime
        self.downs = True
        self.calm = False
        self.down[c] = up
        self._forget_session(c)
        self.g0[c] = up + g.P
        self.pfrom[c] = self.oe[c] if self.os[c] <= up < self.oe[c] else up
        x = up + g.U
        if self.os[c] <= x < self.oe[c]:
            x += math.ceil((self.oe[c] - x) / g.U) * g.U
        self.nx[c] = x
        self.nu[c] = True  # the first exchange after the client starts is urgent
        self._lose_running(c, up)
        if self.every_ping:
            self._schedule_ping(c, self._next_ping(c, self.pfrom[c]))
        if self.out.get(c) or self.server.store.has_deliverable(t, c) or g.stepped:
            self._schedule_x(c)

    def _shutdown(self: Fleet, c: int, t: float) -> None:
        self._settle(c, t)
        self.c["shutdowns"] += 1
        self.emit({"t": t, "event": "fault", "computer": self.name(c), "fault": "offline"})
        if not self.xs[c]:
            self._catch_up(c, t)
        if t >= self.down[c]:
            self._count_pings(c, t)
        self._forget_session(c)
        self.downs = True
        self.calm = False
        self.down[c] = INF
        self.pfrom[c] = INF
        self.g0[c] = INF
        self.nx[c] = INF
        self._lose_running(c, INF)

    def offline(self: Fleet, c: int, t: float, end: float, t_stop: float) -> None:
        """The computer's network is gone over ``[t, end)``."""
        self._settle(c, t)
        self.c["offline_periods"] += 1
        self.emit({"t": t, "event": "fault", "computer": self.name(c), "fault": "offline"})
        if self.down[c] == INF:
            return
        if not self.xs[c]:
            self._catch_up(c, t)
        self._count_pings(c, t)
        self.pfrom[c] = max(self.pfrom[c], end)
        self.offlines = True
        self.calm = False
        self.os[c], self.oe[c] = t, end
        if not self.xs[c]:
            x = self.nx[c]
            if t <= x < end and not self.lvl[c]:
                g = self.gcfg[self.gi[c]]
                step = g.Ue if self.nu[c] else g.Ie
                k = math.ceil((end - x) / step)
                self._fail_span(c, x, x + (k - 1) * step, step)
                self.nx[c] = x + k * step
                if self.out.get(c):
                    self._schedule_x(c)  # the store queued a resynchronize message
            elif t <= x < end:
                self._schedule_x(c)  # backing off: each attempt's delay is drawn
        if end < t_stop:
            self._at(end, self._on_online, c)

    def _on_online(self: Fleet, c: int, ev: simpy.Event) -> None:
        t = self.env.now
        self.emit({"t": t, "event": "fault", "computer": self.name(c), "fault": "online"})
