"""The simulation engine: server (store, message system, ping service, queue, job-handlers) and
fleet (Landscape Client's exchange rules), driven by one SimPy environment.

Where time passes: only in events that matter. A computer is *dormant* while nothing is pending
for it on either side; its regular exchanges then follow the arithmetic sequence
``nx, nx + I, nx + 2I, ...`` and its pings the grid ``g0 + kP``, neither of which can change
anything, so neither is simulated: ``_catch_up`` counts them when the computer next matters
(or at the end). A computer wakes when something becomes relevant to it:

- a message becomes deliverable on the server at ``t``: the first ping that can see it is the
  first grid point ``p >= t + ping_staleness``; if that comes before the next scheduled
  exchange, one ping event is scheduled at ``p`` (which turns into an urgent exchange at
  ``p + U``), else the scheduled exchange will carry the message;
- a handler finishes: the operation-result asks for an urgent exchange at ``t + U``;
- a restart, an offline period, a busy server, a lost exchange.

Every state change goes through ``_move``, which asks the reference machine
(``activitykit.model.machine``) and refuses illegal moves with ``SimulationInvariantError``;
every record goes through the online checker when one is available.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from heapq import heappush
from itertools import count
from typing import Any

import numpy as np
import simpy

from ..errors import InputError
from ..model import Kind, State, activity_type, machine
from ..scenario.schema import HandlerSpec, Scenario
from .rand import Streams
from .result import SimResult, SimulationInvariantError
from .workload import build_plan, fleet_layout

__all__ = ["run_simulation"]

Record = dict[str, Any]

Q, S, W, B = State.QUEUED.value, State.SCHEDULED.value, State.WAITING.value, State.BLOCKED.value
IP, OK, KO, X = (
    State.IN_PROGRESS.value,
    State.SUCCEEDED.value,
    State.FAILED.value,
    State.CANCELED.value,
)
OPEN = frozenset({Q, S, W, B, IP})
DELIVERABLE = frozenset({Q, S})
INF = math.inf
#: Restart/Shutdown report success, then the computer powers off this much later (SPEC.md 4).
POWER_OFF_DELAY = 120.0
#: How long a `run_until: drained` run advances between checks for open activities (s).
DRAIN_STEP = 3600.0


class _Ev:
    """A pre-triggered event for SimPy's kernel: what ``Environment.step`` reads, and no more.

    ``simpy.Event`` carries an environment reference and a pending-value protocol that a
    scheduled callback does not need; this is about three times cheaper to make, and the
    simulator makes several per activity.
    """

    __slots__ = ("_ok", "_value", "callbacks")

    def __init__(self, fn: Callable[[Any], None], payload: Any) -> None:
        self.callbacks = [fn]
        self._value = payload
        self._ok = True


class _Act:
    """One activity in the server's store (plain slots: a million of them must stay small)."""

    __slots__ = (
        "attempts",
        "atype",
        "cancel_ip",
        "client",
        "comp",
        "dependents",
        "done",
        "dur",
        "failp",
        "id",
        "last_progress",
        "op",
        "parent",
        "psat",
        "pwait",
        "state",
        "thr",
        "unmet",
        "vis",
        "watchers",
        "wsorted",
    )

    def __init__(self, aid: str, atype, client: bool, comp: int, state: str) -> None:
        self.id = aid
        self.atype = atype
        self.client = client
        self.comp = comp
        self.state = state
        self.attempts = 0
        self.cancel_ip = False
        self.dependents: list[_Act] | None = None
        self.done = False
        self.dur: Callable[[], float] | None = None
        self.failp = 0.0
        self.last_progress = -1.0
        self.op = 0
        self.parent: _Group | None = None
        self.psat = True
        self.pwait = None
        self.thr = 0.0
        self.vis = 0.0
        self.watchers: list[_Act] | None = None
        self.wsorted = True
        self.unmet = 0


class _Group:
    """A bulk operation's parent: not a state-machine activity, only progress (TRACE kit ext)."""

    __slots__ = ("done", "id", "last_progress", "n", "watchers", "wsorted")

    def __init__(self, gid: str, n: int) -> None:
        self.id = gid
        self.n = n
        self.done = 0
        self.last_progress = -1.0
        self.watchers: list[_Act] | None = None
        self.wsorted = True


class _GroupCfg:
    __slots__ = ("I", "P", "U", "cap", "default", "handlers", "name", "restart_down")

    def __init__(self, g, streams: Streams) -> None:
        self.name = g.name
        self.I = g.exchange_interval
        self.U = g.urgent_exchange_interval
        self.P = g.ping_interval
        self.cap = g.max_messages_per_exchange
        self.handlers = g.handlers
        self.default = g.default_handler
        self.restart_down = streams.sampler(f"fleet/{g.name}/restart-downtime", g.restarts.downtime)


class Simulation:
    """One run of one scenario. Build, then ``run()`` once."""

    def __init__(
        self,
        scenario: Scenario,
        writer: Any = None,
        check: bool = True,
        progress: Callable[[float, float], None] | None = None,
    ) -> None:
        self.sc = scenario
        self.streams = st = Streams(scenario.seed)
        self.profile = scenario.model.profile
        self.result_wins = self.profile == "result-wins"
        self.cancel_on_dep_failure = scenario.model.on_dependency_failure == "cancel"
        self._machines = {
            True: machine(Kind.CLIENT, self.profile),
            False: machine(Kind.SERVER, self.profile),
        }
        self._allowed = {
            client: {s.value: frozenset(d.value for d in dsts) for s, dsts in m.transitions.items()}
            for client, m in self._machines.items()
        }
        self._progress_cb = progress
        self.env = simpy.Environment()
        self._queue = self.env._queue  # SimPy's heap: we push exact times (no now+delay rounding)
        self._eid = self.env._eid
        self.n_sched = 0
        self._nrec = [0]
        self._write = writer.write if writer is not None else None
        self._checker = None
        self._feed = None
        self.checked_with = "none"
        if check:
            self.checked_with = "state-machine"
            try:
                from ..check import Checker  # landed in parallel; optional until it does
            except ImportError:
                Checker = None
            if Checker is not None:
                self._checker = Checker(profile=self.profile)
                self._feed = self._checker.feed
                self.checked_with = "activitykit.check.Checker"
        self.emit = self._make_emit()
        self.c: dict[str, int] = dict.fromkeys(
            (
                "created",
                "groups",
                "exchanges",
                "exchanges_urgent",
                "exchanges_regular",
                "exchanges_traced",
                "exchanges_idle",
                "pings",
                "pings_simulated",
                "pings_found",
                "deliveries",
                "results",
                "late_results",
                "redeliveries",
                "consumes",
                "acks",
                "dropped_messages",
                "lost_exchanges",
                "busy_rejections",
                "restarts",
                "reboots",
                "shutdowns",
                "offline_periods",
                "lost_results",
                "handler_crashes",
                "approvals",
                "cancels",
            ),
            0,
        )
        self.open = 0
        self.acts: list[_Act] = []
        self._ids = count(1)
        self._ops = count(1)
        self._build_fleet()
        self._build_server()
        self.layout = fleet_layout(scenario)
        self.plan = build_plan(scenario, self.layout, st)
        self._u_fail = st.uniform("client/failure")
        self._u_sfail = st.uniform("server/failure")
        self._u_cancel = st.uniform("cancel/draw")
        self._cancel_delay = st.sampler("cancel/delay", scenario.cancellations.delay)
        self._u_approve = st.uniform("approval/draw")
        ad = scenario.approvals.delay
        self._approve_delay = st.sampler("approval/delay", ad) if ad is not None else None
        self._u_window = st.uniform("schedule/window")
        self._samplers: dict[tuple[str, ...], Callable[[], float]] = {}
        # Between a message becoming visible at t and the first ping p that sees it, only a
        # handler finishing on that computer, a cancel (the ping would then find nothing) or
        # an offline period (the ping would fail) can change what the ping does. Without
        # those, the ping's outcome is known at t and its event can be skipped: exact, and
        # one event fewer per activity. Restarts need no exclusion: they reset the schedule.
        wl = scenario.workload
        tpls = [*wl.arrivals, *wl.batches, *wl.bulks, *(s for ch in wl.chains for s in ch.steps)]
        self._ping_shortcut = (
            scenario.cancellations.probability == 0
            and all(not tp.cancel_probability for tp in tpls)
            and all(g.offline.rate_per_day == 0 for g in scenario.fleet.groups)
        )

    # ------------------------------------------------------------------ plumbing
    def _at(self, t: float, fn: Callable[[_Ev], None], payload: Any = None) -> None:
        """Schedule ``fn`` at absolute time ``t`` (never in the past)."""
        now = self.env._now
        heappush(self._queue, (t if t > now else now, 1, next(self._eid), _Ev(fn, payload)))
        self.n_sched += 1

    def _make_emit(self) -> Callable[[Record], None]:
        """``emit(record)``: count, write, check. Specialised once: it runs for every record."""
        write, feed, counter = self._write, self._feed, self._nrec

        if write is not None and feed is not None:

            def emit(rec: Record) -> None:
                counter[0] += 1
                write(rec)
                bad = feed(rec)
                if bad:
                    raise SimulationInvariantError(bad[0], rec)

        elif feed is not None:

            def emit(rec: Record) -> None:
                counter[0] += 1
                bad = feed(rec)
                if bad:
                    raise SimulationInvariantError(bad[0], rec)

        elif write is not None:

            def emit(rec: Record) -> None:
                counter[0] += 1
                write(rec)

        else:

            def emit(rec: Record) -> None:
                counter[0] += 1

        return emit

    def _move(self, a: _Act, dst: str, t: float, cause: str) -> None:
        src = a.state
        if dst not in self._allowed[a.client][src] or (
            src == X and not a.cancel_ip  # result-wins: only after In Progress -> Canceled
        ):
            verdict = self._machines[a.client].check(State(src), State(dst))
            reason = verdict.reason or (
                f"{a.id}: Canceled -> {dst} is only allowed after In Progress -> Canceled"
            )
            raise SimulationInvariantError(
                reason, {"t": t, "event": "transition", "activity": a.id, "from": src, "to": dst}
            )
        a.state = dst
        self.emit(
            {
                "t": t,
                "event": "transition",
                "activity": a.id,
                "from": src,
                "to": dst,
                "cause": cause,
            }
        )

    # ------------------------------------------------------------------ fleet set-up
    def _build_fleet(self) -> None:
        sc, st = self.sc, self.streams
        self.gcfg: list[_GroupCfg] = []
        gi: list[int] = []
        reg: list[float] = []
        nx: list[float] = []
        nu: list[bool] = []
        g0: list[float] = []
        pfrom: list[float] = []
        for k, g in enumerate(sc.fleet.groups):
            self.gcfg.append(_GroupCfg(g, st))
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
        self.pend: dict[int, list[_Act]] = {}  # deliverable messages waiting on the server
        self.out: dict[int, deque] = {}  # operation-results waiting on the client
        self.running: dict[int, list[_Act]] = {}
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
        b = self.bo[c] or self.bo_init
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
    def _on_ping(self, ev: _Ev) -> None:
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

    def _on_exchange(self, ev: _Ev) -> None:
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

    def _deliver(self, a: _Act, c: int, cid: str, t: float) -> None:
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

    def _receive(self, a: _Act, status: str, cid: str, t: float) -> None:
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

    def _on_client_done(self, ev: _Ev) -> None:
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

    def _on_power_off(self, ev: _Ev) -> None:
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

    def _on_online(self, ev: _Ev) -> None:
        c = ev._value
        self.emit(
            {"t": self.env._now, "event": "fault", "computer": f"c{c + 1}", "fault": "online"}
        )

    # ------------------------------------------------------------------ server: queue and handlers
    def _build_server(self) -> None:
        sc, st = self.sc, self.streams
        n = sc.server.job_handlers
        self.prefetch = sc.server.prefetch
        self.queue: deque[_Act] = deque()
        self.h_up = [True] * n
        self.h_buf: list[deque[_Act]] = [deque() for _ in range(n)]
        self.h_cur: list[_Act | None] = [None] * n
        self.h_gen = [0] * n
        self.h_t0 = [0.0] * n
        self.h_dur = [0.0] * n
        self._rr = 0
        jc = sc.faults.job_handler_crash
        self._crash_gap = st.sampler("server/crash", _exp(jc.mtbf)) if jc.mtbf is not None else None
        self._crash_restart = st.sampler("server/crash-restart", jc.restart_delay)
        self.progress_interval = sc.server.progress_interval

    def _dispatch(self, t: float) -> None:
        n = len(self.h_up)
        if n == 0:
            return
        q = self.queue
        pf = self.prefetch
        while q:
            for k in range(n):
                h = (self._rr + k) % n
                if self.h_up[h] and len(self.h_buf[h]) + (self.h_cur[h] is not None) < pf:
                    self.h_buf[h].append(q.popleft())
                    self._rr = h + 1
                    break
            else:
                break
        for h in range(n):
            if self.h_up[h] and self.h_cur[h] is None and self.h_buf[h]:
                self._start_next(h, t)

    def _start_next(self, h: int, t: float) -> None:
        buf = self.h_buf[h]
        hid = f"h{h + 1}"
        while buf:
            a = buf.popleft()
            if a.state not in (Q, IP):  # canceled (or finished) while queued: drop it
                self.c["dropped_messages"] += 1
                self.c["acks"] += 1
                self.emit({"t": t, "event": "ack", "activity": a.id, "handler": hid})
                continue
            a.attempts += 1
            self.c["consumes"] += 1
            self.emit(
                {
                    "t": t,
                    "event": "consume",
                    "activity": a.id,
                    "handler": hid,
                    "attempt": a.attempts,
                }
            )
            if a.state == Q:
                self._move(a, IP, t, "consumed by job-handler")
            else:
                # Redelivery after a crash: the activity is already In Progress. The handler
                # runs the work again from the start; no transition (a self-loop is illegal).
                self.c["redeliveries"] += 1
            d = a.dur()
            self.h_cur[h] = a
            self.h_t0[h] = t
            self.h_dur[h] = d
            gen = self.h_gen[h]
            self._at(t + d, self._on_server_done, (h, gen))
            if a.atype.reports_progress and self.progress_interval < d:
                self._at(t + self.progress_interval, self._on_server_tick, (h, gen))
            return

    def _on_server_tick(self, ev: _Ev) -> None:
        h, gen = ev._value
        if self.h_gen[h] != gen:
            return
        a = self.h_cur[h]
        t = self.env._now
        if a is None or a.state != IP:
            return
        v = (t - self.h_t0[h]) / self.h_dur[h]
        self._progress(a, min(v, 1.0), t)
        if t + self.progress_interval < self.h_t0[h] + self.h_dur[h]:
            self._at(t + self.progress_interval, self._on_server_tick, (h, gen))

    def _on_server_done(self, ev: _Ev) -> None:
        h, gen = ev._value
        if self.h_gen[h] != gen:
            return
        t = self.env._now
        a = self.h_cur[h]
        self.h_cur[h] = None
        if a.state == IP:
            ok = not (a.failp and self._u_sfail() < a.failp)
            if ok and a.atype.reports_progress:
                self._progress(a, 1.0, t)
            self._move(a, OK if ok else KO, t, "job-handler finished")
            self._final(a, t, ok)
        self.c["acks"] += 1
        self.emit({"t": t, "event": "ack", "activity": a.id, "handler": f"h{h + 1}"})
        self._start_next(h, t)
        self._dispatch(t)

    def _on_crash(self, ev: _Ev) -> None:
        h = ev._value
        t = self.env._now
        self.c["handler_crashes"] += 1
        self.emit({"t": t, "event": "fault", "handler": f"h{h + 1}", "fault": "handler_crash"})
        back = ([self.h_cur[h]] if self.h_cur[h] is not None else []) + list(self.h_buf[h])
        # Unacknowledged messages go back to the head of the queue, in their order.
        self.queue.extendleft(reversed(back))
        self.h_buf[h].clear()
        self.h_cur[h] = None
        self.h_up[h] = False
        self.h_gen[h] += 1
        self._at(t + self._crash_restart(), self._on_handler_restart, h)
        self._dispatch(t)

    def _on_handler_restart(self, ev: _Ev) -> None:
        h = ev._value
        t = self.env._now
        self.h_up[h] = True
        self.emit({"t": t, "event": "fault", "handler": f"h{h + 1}", "fault": "handler_restart"})
        nxt = t + self._crash_gap()
        if nxt < self.t_stop:
            self._at(nxt, self._on_crash, h)
        self._dispatch(t)

    # ------------------------------------------------------------------ activities
    def _handler(self, tpl, a: _Act, where: str) -> None:
        """Resolve duration sampler and failure probability: template, then group/server."""
        tname = a.atype.name
        spec: HandlerSpec
        if tpl.handler is not None:
            key: tuple[str, ...] = ("tpl", where)
            spec = tpl.handler
        elif a.client:
            g = self.gcfg[self.gi[a.comp]]
            spec = g.handlers.get(tname) or g.default
            key = ("client", g.name, tname)
        else:
            srv = self.sc.server
            spec = srv.handlers.get(tname) or srv.default_handler
            key = ("server", tname)
        smp = self._samplers.get(key)
        if smp is None:
            smp = self._samplers[key] = self.streams.sampler(
                "duration/" + "/".join(key), spec.duration
            )
        a.dur = smp
        a.failp = spec.failure_probability

    def _new(
        self,
        tpl,
        where: str,
        comp: int,
        t: float,
        parent: _Group | None = None,
        deps: list[_Act] | None = None,
        pwait: _Act | _Group | None = None,
        thr: float | None = None,
    ) -> _Act:
        at = activity_type(tpl.type)
        client = at.kind is Kind.CLIENT
        state = tpl.state
        if (deps or pwait is not None) and state in (Q, S):
            state = W  # an activity with something to wait for starts Waiting
        if state == S and tpl.deliver_after is None:
            raise InputError(
                f"{where}: state Scheduled needs deliver_after (seconds after creation); "
                "set deliver_after or use another start state"
            )
        a = _Act(f"a{next(self._ids)}", at, client, comp, state)
        self.acts.append(a)
        self.open += 1
        self.c["created"] += 1
        self._handler(tpl, a, where)
        rec: Record = {"t": t, "event": "created", "activity": a.id}
        if comp >= 0:
            rec["computer"] = f"c{comp + 1}"
        rec["kind"] = "client" if client else "server"
        rec["type"] = at.name
        rec["state"] = state
        due = 0.0
        if state == S:
            rec["deliver_after"] = t + tpl.deliver_after
            due = t + tpl.deliver_after
            if tpl.deliver_delay_window:
                due += tpl.deliver_delay_window * self._u_window()
        failed = False
        if deps:
            rec["depends_on"] = [d.id for d in deps]
            for d in deps:
                if d.state == OK:
                    continue
                if d.done:  # Failed or Canceled
                    failed = True
                    continue
                a.unmet += 1
                if d.dependents is None:
                    d.dependents = []
                d.dependents.append(a)
        if pwait is not None:
            rec["progress_of"] = pwait.id
            rec["threshold"] = thr
            a.pwait = pwait
            a.thr = thr
            if pwait.last_progress >= thr:
                a.psat = True
            elif isinstance(pwait, _Act) and pwait.done:
                a.psat = False
                failed = True
            else:
                a.psat = False
                if pwait.watchers is None:
                    pwait.watchers = []
                pwait.watchers.append(a)
                pwait.wsorted = False
        if parent is not None:
            rec["parent"] = parent.id
            a.parent = parent
        self.emit(rec)
        # What happens next, by start state.
        if failed and self.cancel_on_dep_failure and state in (W, B):
            self._cancel(a, t, "dependency failed")
        elif state == Q:
            self._queued(a, t)
        elif state == S:
            self._at(due, self._on_due, a)
        elif state == W:
            self._try_release(a, t)
        elif state == B:
            ap = self.sc.approvals
            if self._approve_delay is not None and (
                ap.probability >= 1.0 or self._u_approve() < ap.probability
            ):
                self._at(t + self._approve_delay(), self._on_approve, a)
        p = tpl.cancel_probability
        if p is None:
            p = self.sc.cancellations.probability
        if p > 0 and self._u_cancel() < p:
            self._at(t + self._cancel_delay(), self._on_cancel, a)
        return a

    def _queued(self, a: _Act, t: float) -> None:
        if a.client:
            self._offer(a, t)
        else:
            self.emit({"t": t, "event": "enqueue", "activity": a.id})
            self.queue.append(a)
            self._dispatch(t)

    def _offer(self, a: _Act, t: float) -> None:
        c = a.comp
        a.vis = t
        lst = self.pend.get(c)
        if lst is None:
            self.pend[c] = [a]
        else:
            lst.append(a)
        self._visible(c, t)

    def _on_due(self, ev: _Ev) -> None:
        a = ev._value
        if a.state != S:
            return
        t = self.env._now
        if a.client:
            self._offer(a, t)  # delivered (Scheduled -> In Progress) at the next exchange
        else:
            self._move(a, Q, t, "schedule due")
            self._queued(a, t)

    def _on_approve(self, ev: _Ev) -> None:
        a = ev._value
        if a.state != B:
            return
        t = self.env._now
        self.c["approvals"] += 1
        self.emit({"t": t, "event": "approve", "activity": a.id})
        if a.unmet == 0 and a.psat:
            self._move(a, Q, t, "approved")
            self._queued(a, t)
        else:
            self._move(a, W, t, "approved; dependencies not met")

    def _on_cancel(self, ev: _Ev) -> None:
        self._cancel(ev._value, self.env._now, "cancel request")

    def _cancel(self, a: _Act, t: float, cause: str) -> None:
        if a.state not in OPEN:
            return
        self.c["cancels"] += 1
        self.emit({"t": t, "event": "cancel", "activity": a.id})
        was = a.state
        self._move(a, X, t, cause)
        if was == IP and a.client:
            a.cancel_ip = True  # the client keeps running; its late result follows the profile
        self._final(a, t, False)

    def _try_release(self, a: _Act, t: float) -> None:
        if a.state == W and a.unmet == 0 and a.psat:
            self._move(a, Q, t, "dependencies met")
            self._queued(a, t)

    def _progress(self, obj: _Act | _Group, v: float, t: float) -> None:
        obj.last_progress = v
        self.emit({"t": t, "event": "progress", "activity": obj.id, "value": v})
        ws = obj.watchers
        if not ws:
            return
        if not obj.wsorted:
            ws.sort(key=_neg_thr)
            obj.wsorted = True
        while ws and ws[-1].thr <= v:
            w = ws.pop()
            w.psat = True
            self._try_release(w, t)

    def _final(self, a: _Act, t: float, ok: bool) -> None:
        """First arrival in Succeeded, Failed or Canceled: progress, dependents, watchers."""
        if a.done:
            return
        a.done = True
        self.open -= 1
        g = a.parent
        if g is not None:
            g.done += 1
            self._progress(g, g.done / g.n, t)
        if ok and a.watchers and not a.atype.reports_progress:
            self._progress(a, 1.0, t)
        deps = a.dependents
        if deps:
            a.dependents = None
            if ok:
                for d in deps:
                    d.unmet -= 1
                    self._try_release(d, t)
            elif self.cancel_on_dep_failure:
                for d in deps:
                    self._cancel(d, t, "dependency failed")
        ws = a.watchers
        if ws and not ok:
            a.watchers = None
            if self.cancel_on_dep_failure:
                for w in ws:
                    self._cancel(w, t, "dependency failed")

    # ------------------------------------------------------------------ workload walking
    def _on_create(self, ev: _Ev) -> None:
        plan = self.plan
        i = self._ci
        t = self.env._now
        ts = plan.t
        n = len(ts)
        while i < n and ts[i] <= t:
            self._create_item(plan.src[i], plan.computer[i], t)
            i += 1
        self._ci = i
        if i < n:
            self._at(ts[i], self._on_create)

    def _create_item(self, si: int, comp: int, t: float) -> None:
        src = self.plan.sources[si]
        spec = src.spec
        if src.form in ("arrival", "batch"):
            self._new(spec, src.where, comp, t)
        elif src.form == "bulk":
            self._create_bulk(si, spec, src.where, t)
        else:
            self._create_chain(spec, src.where, comp, t)

    def _create_bulk(self, si: int, k, where: str, t: float) -> None:
        lo, hi = self.layout.span(k.group, where)
        targets = list(range(lo, hi))
        if k.count is not None and k.count < len(targets):
            rng = self.streams.rng(f"bulk/{k.name}")
            targets = sorted(rng.choice(targets, k.count, replace=False).tolist())
        gid = f"a{next(self._ids)}"
        grp = _Group(gid, len(targets))
        self.groups[gid] = grp
        self.bulk_groups[k.name] = grp
        self.c["groups"] += 1
        self.emit({"t": t, "event": "group", "activity": gid, "type": k.type, "children": grp.n})
        self._progress(grp, 0.0, t)
        per_comp: dict[int, _Act] = {}
        self.bulk_children[k.name] = per_comp
        for comp in targets:
            deps = [
                self.bulk_children[d][comp] for d in k.depends_on if comp in self.bulk_children[d]
            ]
            pw = self.bulk_groups[k.progress_of] if k.progress_of else None
            a = self._new(
                k, where, comp, t, parent=grp, deps=deps or None, pwait=pw, thr=k.threshold
            )
            per_comp[comp] = a
        if grp.n == 0:
            self._progress(grp, 1.0, t)

    def _create_chain(self, ch, where: str, comp: int, t: float) -> None:
        made: dict[str, _Act] = {}
        for j, s in enumerate(ch.steps):
            deps = [made[d] for d in s.depends_on]
            pw = made[s.progress_of] if s.progress_of else None
            made[s.name] = self._new(
                s, f"{where}.steps[{j}]", comp, t, deps=deps or None, pwait=pw, thr=s.threshold
            )

    # ------------------------------------------------------------------ faults timeline
    def _plan_faults(self) -> None:
        """Draw client restarts and offline periods up front; walk them with one event."""
        st = self.streams
        end = self.sc.duration
        times: list[np.ndarray] = []
        kinds: list[np.ndarray] = []
        comps: list[np.ndarray] = []
        ends: list[np.ndarray] = []
        base = 0
        for g in self.sc.fleet.groups:
            n = g.computers
            if n and g.restarts.rate_per_day > 0:
                rng = st.rng(f"fleet/{g.name}/restarts")
                k = rng.poisson(g.restarts.rate_per_day * end / 86400.0, n)
                cs = np.repeat(np.arange(base, base + n), k)
                times.append(rng.uniform(0.0, end, len(cs)))
                kinds.append(np.zeros(len(cs), dtype=np.int64))
                comps.append(cs)
                ends.append(np.zeros(len(cs)))
            if n and g.offline.rate_per_day > 0:
                rng = st.rng(f"fleet/{g.name}/offline")
                k = rng.poisson(g.offline.rate_per_day * end / 86400.0, n)
                cs = np.repeat(np.arange(base, base + n), k)
                s0 = rng.uniform(0.0, end, len(cs))
                dur = st.sampler(f"fleet/{g.name}/offline-duration", g.offline.duration)
                e0 = s0 + np.array([dur() for _ in range(len(cs))])
                order = np.lexsort((s0, cs))
                ms, me, mc = [], [], []
                for i in order.tolist():
                    c, a, b = int(cs[i]), float(s0[i]), float(e0[i])
                    if mc and mc[-1] == c and a <= me[-1]:
                        me[-1] = max(me[-1], b)
                    else:
                        ms.append(a)
                        me.append(b)
                        mc.append(c)
                times.append(np.array(ms))
                kinds.append(np.ones(len(ms), dtype=np.int64))
                comps.append(np.array(mc, dtype=np.int64))
                ends.append(np.array(me))
            base += n
        if not times:
            self.ft = []
            return
        t = np.concatenate(times)
        k = np.concatenate(kinds)
        c = np.concatenate(comps)
        e = np.concatenate(ends)
        order = np.lexsort((c, k, t))
        self.ft = list(
            zip(
                t[order].tolist(),
                k[order].tolist(),
                c[order].tolist(),
                e[order].tolist(),
                strict=True,
            )
        )
        self._fi = 0
        if self.ft:
            self._at(self.ft[0][0], self._on_fault)

    def _on_fault(self, ev: _Ev) -> None:
        i = self._fi
        ft = self.ft
        t = self.env._now
        while i < len(ft) and ft[i][0] <= t:
            _, kind, c, e = ft[i]
            if kind == 0:
                if self.down[c] != INF:
                    self._restart(c, t, self.gcfg[self.gi[c]].restart_down())
            else:
                self._on_offline(c, t, e)
            i += 1
        self._fi = i
        if i < len(ft):
            self._at(ft[i][0], self._on_fault)

    # ------------------------------------------------------------------ the run
    def _on_progress(self, ev: _Ev) -> None:
        t = self.env._now
        self._progress_cb(t, self._progress_end)
        nxt = t + self._progress_step
        if nxt < self._progress_end:
            self._at(nxt, self._on_progress)

    def run(self) -> SimResult:
        wall0 = time.perf_counter()
        sc = self.sc
        self.t_stop = sc.duration if sc.run_until == "duration" else sc.drain_limit
        self.groups: dict[str, _Group] = {}
        self.bulk_groups: dict[str, _Group] = {}
        self.bulk_children: dict[str, dict[int, _Act]] = {}
        self._ci = 0
        if len(self.plan):
            self._at(self.plan.t[0], self._on_create)
        self._plan_faults()
        if self._crash_gap is not None:
            for h in range(len(self.h_up)):
                tc = self._crash_gap()
                if tc < sc.duration:
                    self._at(tc, self._on_crash, h)
        if self._progress_cb is not None:
            self._progress_end = self.t_stop
            self._progress_step = self.t_stop / 100.0
            self._at(self._progress_step, self._on_progress)
        env = self.env
        env.run(until=sc.duration)
        if sc.run_until == "drained":
            while self.open > 0 and env.now < sc.drain_limit:
                env.run(until=min(env.now + DRAIN_STEP, sc.drain_limit))
        end_t = float(env.now)
        self._finish_counts(end_t)
        if self._progress_cb is not None:
            self._progress_cb(end_t, self._progress_end)
        violations: list[Any] = []
        if self._checker is not None:
            report = self._checker.finish(end_t)
            violations = list(report.violation_list)
            if violations:
                raise SimulationInvariantError(violations[0])
        unfinished = tuple((a.id, a.state) for a in self.acts if a.state in OPEN)
        c = self.c
        c["exchanges"] = c["exchanges_urgent"] + c["exchanges_regular"]
        return SimResult(
            end_t=end_t,
            records=self._nrec[0],
            # Our events have NORMAL priority (1); SimPy's own `until` marker is URGENT (0).
            events=self.n_sched - sum(1 for item in self._queue if item[1] == 1),
            wall_seconds=time.perf_counter() - wall0,
            violations=violations,
            counters=dict(c),
            unfinished=unfinished,
            seed=sc.seed,
            checked_with=self.checked_with,
        )

    def _finish_counts(self, end_t: float) -> None:
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


def _neg_thr(a: _Act) -> float:
    return -a.thr


def _exp(mean: float):
    from ..scenario.schema import Exponential

    return Exponential(dist="exponential", mean=mean)


def run_simulation(
    scenario: Scenario,
    writer: Any = None,
    check: bool = True,
    progress: Callable[[float, float], None] | None = None,
) -> SimResult:
    return Simulation(scenario, writer, check, progress).run()
