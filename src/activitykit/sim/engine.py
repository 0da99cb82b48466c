"""``Simulation``: one run of one scenario, its components wired together on one SimPy
environment.

Components and who calls whom (see docs/architecture.md for the drawing)::

    Admin (plan, approvals, cancels) --create/approve/cancel--> Server.store (ActivityStore)
    Server.store --on_publish--> Broker --get--> JobHandler processes --consume/finish--> store
    Server.store --on_deliverable--> Fleet.visible --(one event at the next relevant moment)
    Fleet exchange --store.exchange(results)--> deliveries --> client handlers --> results
    ClientFaults --restart/offline--> Fleet;  handler_crashes --crash--> JobHandler
    every record --> emit --> writer + online checker

Extension point: ``Simulation(...)`` builds everything; before ``run()`` a user may replace a
component's model (``sim.handlers[i].duration``, ``sim.fleet.duration``), pause job-handlers
(``handler.pause()`` / ``resume()``) or start SimPy processes of their own on ``sim.env``
(``sim.process(fn)``: ``fn(sim)`` is a generator). ``simulate(..., setup=fn)`` does the same
in one call. See docs/simulator.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

import simpy

from ..scenario.schema import Scenario
from ..server import IllegalMove
from ..server.activity import OPEN
from .admin import Admin
from .broker import Broker, JobHandler
from .faults import ClientFaults, handler_crashes
from .fleet import Fleet
from .kernel import COUNTERS, at, make_emit
from .rand import Streams
from .result import SimResult, SimulationInvariantError
from .server import Server
from .workload import build_plan, fleet_layout

__all__ = ["Simulation"]

#: How long a `run_until: drained` run advances between checks for open activities (s).
DRAIN_STEP = 3600.0


class Simulation:
    """One run of one scenario. Build, adjust (optional), then ``run()`` once."""

    def __init__(
        self,
        scenario: Scenario,
        writer: Any = None,
        check: bool = True,
        progress: Callable[[float, float], None] | None = None,
    ) -> None:
        self.scenario = sc = scenario
        self.streams = st = Streams(scenario.seed)
        self.env = env = simpy.Environment()
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self._nrec = [0]
        self._checker = None
        self.checked_with = "none"
        feed = None
        if check:
            from ..check import Checker  # imports pyarrow: only for runs that check

            self._checker = Checker(profile=sc.model.profile)
            feed = self._checker.feed
            self.checked_with = "activitykit.check.Checker"
        self.emit = emit = make_emit(writer.write if writer is not None else None, feed, self._nrec)
        self._progress_cb = progress
        self.t_stop = sc.duration if sc.run_until == "duration" else sc.drain_limit

        self.fleet = Fleet(sc, st, env, self.counters, emit)
        self.broker = Broker(env)
        self.server = Server(sc, env, emit, self.fleet.visible, self.broker.publish)
        self.store = self.server.store
        self.fleet.server = self.server
        srv = sc.server
        jc = sc.faults.job_handler_crash
        u_sfail = st.uniform("server/failure")
        restart = st.sampler("server/crash-restart", jc.restart_delay)
        self.handlers = [
            JobHandler(
                h,
                env,
                self.broker,
                self.store,
                emit,
                self.counters,
                srv.prefetch,
                srv.progress_interval,
                u_sfail,
                restart,
            )
            for h in range(srv.job_handlers)
        ]
        JobHandler.subscribe(self.handlers)
        if jc.mtbf is not None:
            from ..scenario.schema import Exponential

            gap = st.sampler("server/crash", Exponential(dist="exponential", mean=jc.mtbf))
            for handler in self.handlers:
                env.process(handler_crashes(env, handler, gap, sc.duration, self.t_stop))
        self.layout = fleet_layout(sc)
        self.admin = Admin(
            sc,
            st,
            env,
            self.store,
            self.fleet,
            build_plan(sc, self.layout, st),
            self.layout,
            self.counters,
        )
        self.faults = ClientFaults(sc, st, self.fleet, self.t_stop)

    def process(self, fn: Callable[[Simulation], Generator[Any, Any, Any]]) -> simpy.Process:
        """Start ``fn(self)`` as a SimPy process of this run (the extension point)."""
        return self.env.process(fn(self))

    # -- the run ------------------------------------------------------------------------------
    def _on_progress(self, ev: simpy.Event) -> None:
        t = self.env.now
        self._progress_cb(t, self._progress_end)  # type: ignore[misc]
        nxt = t + self._progress_step
        if nxt < self._progress_end:
            at(self.env, nxt, self._on_progress)

    def _advance(self, until: float) -> int:
        """Process every event before ``until``; then the clock stands at ``until``."""
        env = self.env
        n = 0
        step, peek = env.step, env.peek
        while peek() < until:
            step()
            n += 1
        env.run(until=until)
        return n

    def run(self) -> SimResult:
        wall0 = time.perf_counter()
        sc = self.scenario
        self.admin.start()
        self.fleet.start()
        self.faults.start(self.env)
        if self._progress_cb is not None:
            self._progress_end = self.t_stop
            self._progress_step = self.t_stop / 100.0
            at(self.env, self._progress_step, self._on_progress)
        try:
            events = self._advance(sc.duration)
            if sc.run_until == "drained":
                while self.store.open > 0 and self.env.now < sc.drain_limit:
                    events += self._advance(min(self.env.now + DRAIN_STEP, sc.drain_limit))
        except Exception as exc:
            # An error inside a SimPy process reaches us as a copy SimPy made (same type, the
            # original as __cause__); raise the original, with its fields.
            orig = exc.__cause__ if type(exc.__cause__) is type(exc) else exc
            if isinstance(orig, IllegalMove):
                raise SimulationInvariantError(orig.reason, orig.record) from None
            raise orig from None
        end_t = float(self.env.now)
        self.fleet.finish_counts(end_t)
        if self._progress_cb is not None:
            self._progress_cb(end_t, self._progress_end)
        violations: list[Any] = []
        if self._checker is not None:
            violations = list(self._checker.finish(end_t).violation_list)
            if violations:
                raise SimulationInvariantError(violations[0])
        unfinished = tuple(
            (a.id, a.state) for a in self.store.activities.values() if a.state in OPEN
        )
        c = self.counters
        c["exchanges"] = c["exchanges_urgent"] + c["exchanges_regular"]
        c.update(self.fleet.group_counts())  # exchanges.<group>, pings.<group>
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
