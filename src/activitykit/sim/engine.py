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

import contextlib
import time
from collections import deque
from collections.abc import Callable, Generator
from itertools import count
from typing import Any

import simpy
from simpy.core import StopSimulation

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
from .workload import FleetLayout, Plan, build_plan, fleet_layout

__all__ = ["CHECK_MODES", "PARALLEL_FROM", "Simulation"]

#: How long a `run_until: drained` run advances between checks for open activities (s).
DRAIN_STEP = 3600.0
#: ``check`` modes: judge each record here (``inline``), in a checker process on another
#: core (``parallel``), or ``auto``: parallel for a run planning at least ``PARALLEL_FROM``
#: activities (its start, about half a second of another core, is then won back many times:
#: checking is a fifth of a run), where a core is free for it (``can_check_in_parallel``).
CHECK_MODES = ("auto", "inline", "parallel")
PARALLEL_FROM = 10_000


class Simulation:
    """One run of one scenario. Build, adjust (optional), then ``run()`` once (or ``close()``
    a run never run: its checker may be a process)."""

    def __init__(
        self,
        scenario: Scenario,
        writer: Any = None,
        check: bool | str = True,
        progress: Callable[[float, float], None] | None = None,
    ) -> None:
        self.scenario = sc = scenario
        self.streams = st = Streams(scenario.seed)
        self.layout = fleet_layout(sc)
        # The plan first (its streams are its own, so the order changes no draw): its size
        # decides where the checker runs, and a checker process then starts while the rest
        # of the run is built.
        plan = build_plan(sc, self.layout, st)
        self._checker: Any = _open_checker(check, sc, plan, self.layout)
        #: which checker judged the records (``SimResult.checked_with``)
        self.checked_with = (
            "none"
            if self._checker is None
            else getattr(self._checker, "checked_with", "activitykit.check.Checker")
        )
        try:
            self._build(writer, progress, plan)
        except BaseException:
            self.close()
            raise

    def _build(
        self, writer: Any, progress: Callable[[float, float], None] | None, plan: Plan
    ) -> None:
        sc, st = self.scenario, self.streams
        self.env = env = simpy.Environment()
        #: The run's end as the first event scheduled: it comes before every other event at
        #: that time (none is urgent), as ``env.run(until=...)``'s own stop would.
        self._end = env.timeout(sc.duration) if sc.duration > 0 else None
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        #: one tick per record emitted; the next one's number is the run's record count
        self._nrec = count()
        feed = self._checker.feed if self._checker is not None else None
        write = writer.write if writer is not None else None
        #: called once the last record is out (see ``_run``)
        self._writer_done = getattr(writer, "begin_close", None)
        write_line = getattr(writer, "write_line", None)
        feed_line = getattr(self._checker, "feed_line", None)
        write_lines = getattr(writer, "write_lines", None)
        if feed_line is not None and write_lines is not None:
            # The checker process batches the encoded lines anyway: it hands each batch to
            # the writer too, one call per few thousand records instead of one per record.
            self._checker.tee(write_lines)
            write = write_line = None
        self.emit = emit = make_emit(
            write, feed, self._nrec.__next__, write_line=write_line, feed_line=feed_line
        )
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
        self.admin = Admin(sc, st, env, self.store, self.fleet, plan, self.layout, self.counters)
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

    def _advance(self, until: float, stop: simpy.Event | None = None) -> int:
        """Process every event before ``until``; then the clock stands at ``until``. Returns
        how many were processed. ``stop``: the event at ``until`` that comes before every
        other event then (``_end``), if there is one."""
        env = self.env
        if stop is not None:
            # ``env.run(until=stop)``, with the steps counted by a loop in C: a Python loop
            # around ``step`` costs a tenth of a step (millions of them in a big run)
            stop.callbacks.append(StopSimulation.callback)
            steps = count()
            with contextlib.suppress(StopSimulation):
                # (``step`` returns None, never 1: it runs until the stop raises)
                deque(zip(iter(env.step, 1), steps, strict=False), maxlen=0)
            return next(steps)
        n = 0
        step, peek = env.step, env.peek
        while peek() < until:
            step()
            n += 1
        env.run(until=until)
        return n

    def run(self) -> SimResult:
        """Run the scenario once; the checker (and its process, if any) ends with the run."""
        try:
            return self._run()
        finally:
            self.close()

    def close(self) -> None:
        """Drop the checker's state (end its process). ``run`` does it; a run built and never
        run should be closed. Dropping a big run's checker state this way frees it by
        reference counting, far cheaper than leaving it to the cyclic collector."""
        if self._checker is not None:
            self._checker.clear()

    def _run(self) -> SimResult:
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
            events = self._advance(sc.duration, self._end)
            if sc.run_until == "drained":
                while self.store.open > 0 and self.env.now < sc.drain_limit:
                    events += self._advance(min(self.env.now + DRAIN_STEP, sc.drain_limit))
        except Exception as exc:
            # An error inside a SimPy process reaches us as a copy SimPy made (same type, the
            # original as __cause__); raise the original, with its fields.
            orig = exc.__cause__ if type(exc.__cause__) is type(exc) else exc
            if isinstance(orig, IllegalMove):
                orig = SimulationInvariantError(orig.reason, orig.record)
            raise self._first_error(orig) from None
        end_t = float(self.env.now)
        # Every record is out: a checker process starts its report (seconds for a million
        # activities) and the writer its last row group while the counts and the
        # unfinished list are made here.
        begin = getattr(self._checker, "begin_finish", None)
        if begin is not None:
            begin(end_t)
        if self._writer_done is not None:
            self._writer_done()
        self.fleet.finish_counts(end_t)
        unfinished = tuple(
            (a.id, a.state) for a in self.store.activities.values() if a.state in OPEN
        )
        if self._progress_cb is not None:
            self._progress_cb(end_t, self._progress_end)
        violations: list[Any] = []
        if self._checker is not None:
            violations = list(self._checker.finish(end_t).violation_list)
            if violations:  # (a checker process may find a record's violation only now)
                raise SimulationInvariantError(violations[0], violations[0].record)
        c = self.counters
        c["exchanges"] = c["exchanges_urgent"] + c["exchanges_regular"]
        c.update(self.fleet.group_counts())  # exchanges.<group>, pings.<group>
        return SimResult(
            end_t=end_t,
            records=next(self._nrec),
            events=events,
            wall_seconds=time.perf_counter() - wall0,
            violations=violations,
            counters=dict(c),
            unfinished=unfinished,
            seed=sc.seed,
            checked_with=self.checked_with,
        )

    def _first_error(self, err: Exception) -> Exception:
        """What stopped the run: a record before it that broke a rule comes first (an inline
        checker has raised at that record; a checker process judges a little behind)."""
        if self._checker is None:
            return err
        try:
            seen = self._checker.violations
        except Exception:  # a checker that failed cannot tell: the run's own error stands
            return err
        return SimulationInvariantError(seen[0], seen[0].record) if seen else err


def _open_checker(check: bool | str, sc: Scenario, plan: Plan, layout: FleetLayout) -> Any:
    """The run's checker (``check``: see ``CHECK_MODES``; True is ``auto``), or None."""
    if check is False or check is None:
        return None
    mode = "auto" if check is True else check
    if mode not in CHECK_MODES:
        raise ValueError(
            f"check={check!r} is not a checking mode; accepted: True, False, "
            + ", ".join(repr(m) for m in CHECK_MODES)
        )
    # imports pyarrow: only for runs that check
    from ..check import Checker
    from ..check.process import CheckerProcess, can_check_in_parallel

    if mode == "auto":
        big = plan.activities(layout) >= PARALLEL_FROM
        mode = "parallel" if big and can_check_in_parallel() else "inline"
    if mode == "parallel":
        return CheckerProcess(profile=sc.model.profile)
    return Checker(profile=sc.model.profile)
