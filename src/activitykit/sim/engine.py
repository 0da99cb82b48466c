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

import time
from collections.abc import Callable
from itertools import count
from typing import Any

import numpy as np
import simpy

from ..model import Kind, machine
from ..scenario.schema import Scenario
from .activities import ActivitiesMixin
from .base import INF, OPEN, Act, Ev, Group
from .fleet import FleetMixin
from .rand import Streams
from .result import SimResult, SimulationInvariantError
from .server import ServerMixin
from .workload import build_plan, fleet_layout

__all__ = ["Simulation", "run_simulation"]

#: How long a `run_until: drained` run advances between checks for open activities (s).
DRAIN_STEP = 3600.0


class Simulation(FleetMixin, ServerMixin, ActivitiesMixin):
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
            from ..check import Checker  # imports pyarrow: only for runs that check

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
        self.acts: list[Act] = []
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
        # A stale ping view (ping_staleness > 0) adds pings of its own after deliveries, which
        # could come before p: no shortcut then either.
        wl = scenario.workload
        tpls = [*wl.arrivals, *wl.batches, *wl.bulks, *(s for ch in wl.chains for s in ch.steps)]
        self._ping_shortcut = (
            scenario.server.ping_staleness == 0  # else stale views add pings of their own
            and scenario.cancellations.probability == 0
            and all(not tp.cancel_probability for tp in tpls)
            and all(g.offline.rate_per_day == 0 for g in scenario.fleet.groups)
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

    def _on_fault(self, ev: Ev) -> None:
        i = self._fi
        ft = self.ft
        t = self.env._now
        while i < len(ft) and ft[i][0] <= t:
            _, kind, c, e = ft[i]
            i += 1
            if t < self.reg[c]:
                continue  # not registered yet: nothing to restart, nothing to cut off
            if kind == 0:
                if self.down[c] != INF:
                    self._restart(c, t, self.gcfg[self.gi[c]].restart_down())
            else:
                self._on_offline(c, t, e)
        self._fi = i
        if i < len(ft):
            self._at(ft[i][0], self._on_fault)

    # ------------------------------------------------------------------ the run
    def _on_progress(self, ev: Ev) -> None:
        t = self.env._now
        self._progress_cb(t, self._progress_end)
        nxt = t + self._progress_step
        if nxt < self._progress_end:
            self._at(nxt, self._on_progress)

    def run(self) -> SimResult:
        wall0 = time.perf_counter()
        sc = self.sc
        self.t_stop = sc.duration if sc.run_until == "duration" else sc.drain_limit
        self.bulk_groups: dict[str, Group] = {}
        self.bulk_children: dict[str, dict[int, Act]] = {}
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
        # Our events have NORMAL priority (1); SimPy's own `until` marker is URGENT (0).
        events = self.n_sched - sum(1 for item in self._queue if item[1] == 1)
        # Pending events hold bound methods of this object: drop them so that reference
        # counting alone can free the run's memory (the caller may have the collector off).
        self._queue.clear()
        return SimResult(
            end_t=end_t,
            records=self._nrec[0],
            events=events,
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


def run_simulation(
    scenario: Scenario,
    writer: Any = None,
    check: bool = True,
    progress: Callable[[float, float], None] | None = None,
) -> SimResult:
    return Simulation(scenario, writer, check, progress).run()
