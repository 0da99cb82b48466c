"""The server side of a live run on the one server core, and the function that runs it.

``StoreServer`` implements ``ServerPort`` on ``activitykit.server.ActivityStore``: the store
decides every move, writes ``enqueue`` / ``consume`` / transitions, and asks for publishing;
the AMQP side (``AmqpServerSide``) carries the messages. ``run_server_side`` runs a
scenario's server activities through a broker with the kit's job-handlers, the trace
written by ``activitykit.trace`` writers and judged online by ``activitykit.check.Checker``.

Where the workload comes from: a live run uses the simulator's one workload generator. The
scenario is simulated first (it is cheap) and the server activities it creates, with the
administrator actions on them (``approve``, ``cancel``) and their times, are replayed on the
live clock. Everything after creation (release, queueing, consumption, results) is decided
live, by the core and the broker. Handler durations and failures are drawn from the
scenario's server handler settings with the simulator's random-stream names
(``duration/server/<type>``, ``server/failure``); they are drawn when an activity is
published, not when it starts, so the values match the simulator's in distribution, not
one by one. A template-level ``handler`` override of the workload is not carried over.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...check import Checker
from ...check.report import CheckReport
from ...model import Kind
from ...scenario.schema import Scenario
from ...server import Activity, ActivityStore
from ...trace.writers import MemoryTraceWriter, TraceWriter, open_writer
from .port import Emit, Recorder
from .server_side import AmqpServerSide, HandlerPool

__all__ = ["Action", "LiveResult", "StoreServer", "run_server_side", "server_actions"]

Record = dict[str, Any]
#: Given an activity being published: (work time in real seconds, "succeeded"/"failed").
HandlerModel = Callable[[Activity], tuple[float, str]]


class StoreServer:
    """``ServerPort`` on the server core; publishes through ``side`` (set before use).

    The broker's ``redelivered`` flag is known only here, at the moment of the consume: it is
    added to the core's ``consume`` record as the kit's ``redelivered`` field.
    """

    def __init__(
        self,
        emit: Emit,
        *,
        profile: str = "result-wins",
        on_dependency_failure: str = "cancel",
        handler_model: HandlerModel | None = None,
    ) -> None:
        self._out = emit
        self.handler_model = handler_model or (lambda a: (0.0, "succeeded"))
        self.side: AmqpServerSide | None = None
        self.store = ActivityStore(
            profile,
            emit=self._emit,
            at=self._at,
            on_publish=self._on_publish,
            on_dependency_failure=on_dependency_failure,
        )
        self._redelivered: bool | None = None
        self._running: set[tuple[str, int, str]] = set()
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()

    # -- driver duties of the store --------------------------------------------------------
    def _emit(self, rec: Record) -> None:
        if self._redelivered is not None and rec["event"] == "consume":
            rec["redelivered"] = self._redelivered
        self._out(rec)

    def _at(self, t: float, callback: Callable[[float], None]) -> None:
        heapq.heappush(self._timers, (t, next(self._seq), callback))

    def _on_publish(self, a: Activity, t: float) -> None:
        assert self.side is not None, "StoreServer.side must be set before activities exist"
        duration, outcome = self.handler_model(a)
        self.side.publish(a.id, a.gen, a.type.name, duration, outcome)

    def next_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def run_timers(self, now: float) -> None:
        """Fire the store's wake-ups that are due; at ``now`` (never in the trace's past)."""
        while self._timers and self._timers[0][0] <= now:
            _, _, cb = heapq.heappop(self._timers)
            cb(now)

    # -- ServerPort ------------------------------------------------------------------------
    def consumed(self, activity: str, gen: int, handler: str, redelivered: bool, t: float) -> bool:
        a = self.store.get(activity)
        self._redelivered = redelivered
        try:
            ok = self.store.consume(t, a, gen, handler, redelivered)
        finally:
            self._redelivered = None
        if ok:
            self._running.add((activity, gen, handler))
        return ok

    def finished(self, activity: str, gen: int, handler: str, status: str, t: float) -> None:
        # Only the handler whose consume the core accepted settles: the work on a stale
        # message (canceled, republished) ends with its ack and nothing else.
        key = (activity, gen, handler)
        if key in self._running:
            self._running.discard(key)
            self.store.finish(t, self.store.get(activity), status)

    def handler_lost(self, handler: str, t: float) -> None:
        self._running = {k for k in self._running if k[2] != handler}


# ---------------------------------------------------------------------- workload
@dataclass(frozen=True, slots=True)
class Action:
    """One administrator action of a scenario on a server activity, at scenario time ``t``."""

    t: float
    what: str  # "create", "approve", "cancel", "handler_crash" or "handler_restart"
    record: Record


def server_actions(scenario: Scenario) -> list[Action]:
    """The server activities ``scenario`` creates, the approvals/cancellations of them, and
    the job-handler crashes and restarts of its fault model.

    Taken from a simulated run (the one workload generator); activities that depend on a
    client activity are left out (a live server side has no clients to wait for). A crash
    is replayed as a SIGKILL of that handler's process, a restart as a new process.
    """
    from ...sim import simulate  # here: the simulator is needed only for this

    w = MemoryTraceWriter()
    simulate(scenario, writer=w, check=False)
    server: set[str] = set()
    out: list[Action] = []
    for r in w.records:
        ev = r["event"]
        if ev == "created" and r["kind"] == Kind.SERVER.value:
            if not set(r.get("depends_on") or ()) <= server:
                continue
            if r.get("progress_of") is not None and r["progress_of"] not in server:
                continue
            server.add(r["activity"])
            out.append(Action(r["t"], "create", r))
        elif ev in ("approve", "cancel") and r.get("activity") in server:
            out.append(Action(r["t"], ev, r))
        elif ev == "fault" and r.get("fault") in ("handler_crash", "handler_restart"):
            out.append(Action(r["t"], r["fault"], r))
    return out


def _handler_model(scenario: Scenario, time_scale: float) -> HandlerModel:
    from ...sim.rand import Streams

    srv = scenario.server
    streams = Streams(scenario.seed)
    fail = streams.uniform("server/failure")
    samplers: dict[str, Callable[[], float]] = {}

    def model(a: Activity) -> tuple[float, str]:
        name = a.type.name
        spec = srv.handlers.get(name) or srv.default_handler
        smp = samplers.get(name)
        if smp is None:
            smp = samplers[name] = streams.sampler(f"duration/server/{name}", spec.duration)
        d = smp() * time_scale
        p = spec.failure_probability
        return d, "failed" if p and fail() < p else "succeeded"

    return model


# ---------------------------------------------------------------------- the run
@dataclass
class LiveResult:
    """What a live server-side run did: the verdict of the online check and the counts."""

    report: CheckReport
    records: int
    published: int
    consumes: int
    redelivered: int
    acks: int
    wall_seconds: float
    states: dict[str, str] = field(default_factory=dict)
    trace_path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.report.ok


def run_server_side(
    scenario: Scenario,
    amqp_url: str,
    *,
    trace: str | Path | TraceWriter | None = None,
    time_scale: float = 1.0,
    queue: str = "activitykit.jobs",
    drain_timeout: float = 60.0,
    handler_args: tuple[str, ...] = (),
    log_dir: str | None = None,
) -> LiveResult:
    """Run ``scenario``'s server activities through the broker at ``amqp_url``.

    Starts ``scenario.server.job_handlers`` kit handlers with its prefetch, replays the
    scenario's server workload (``server_actions``) with ``time_scale`` real seconds per
    scenario second (the trace's ``t`` stays in scenario seconds), then waits up to
    ``drain_timeout`` real seconds for every activity to end. ``trace`` is a path (format by
    extension) or a writer; None keeps nothing but the verdict. The queues are purged first:
    give a queue of the run's own.
    """
    actions = server_actions(scenario)
    writer: TraceWriter | None
    close_writer = False
    path: Path | None = None
    if trace is None or not isinstance(trace, str | Path):
        writer = trace
    else:
        path = Path(trace)
        writer = open_writer(path)
        close_writer = True
    checker = Checker(scenario.model.profile)
    rec = Recorder(writer, checker, strict=False)
    t0 = time.monotonic()

    def clock() -> float:
        return (time.monotonic() - t0) / time_scale

    server = StoreServer(
        rec.emit,
        profile=scenario.model.profile,
        on_dependency_failure=scenario.model.on_dependency_failure,
        handler_model=_handler_model(scenario, time_scale),
    )
    n = scenario.server.job_handlers
    side = AmqpServerSide(
        amqp_url,
        server,
        rec.emit,
        queue=queue,
        prefetch=scenario.server.prefetch,
        clock=clock,
        purge=True,
    )
    server.side = side
    pool = HandlerPool(
        amqp_url, queue, prefetch=scenario.server.prefetch, log_dir=log_dir, extra_args=handler_args
    )
    store = server.store
    try:
        side.open()
        pool.start_all([f"h{i + 1}" for i in range(n)], side)
        t0 = time.monotonic()  # scenario time 0 is when the handlers are ready
        todo = list(actions)
        i = 0
        while i < len(todo) or store.open:
            now = clock()
            while i < len(todo) and todo[i].t <= now:
                act = todo[i]
                i += 1
                h = act.record.get("handler")
                if act.what == "handler_crash" and h in pool.procs:
                    pool.kill(h)
                    pool.reap()
                    side.handler_lost(h)
                elif act.what == "handler_restart" and h not in pool.procs:
                    pool.start(h)
                    side.emit(
                        {"t": clock(), "event": "fault", "handler": h, "fault": "handler_restart"}
                    )
                elif act.what not in ("handler_crash", "handler_restart"):
                    # Each call reads the clock anew: records never go back in time.
                    _apply(store, act, clock())
            server.run_timers(clock())
            for name in pool.reap():
                side.handler_lost(name)
            nxt = [
                x
                for x in (todo[i].t if i < len(todo) else None, server.next_timer())
                if x is not None
            ]
            wait = min(0.05, max(0.0, (min(nxt) - now) * time_scale)) if nxt else 0.05
            side.pump(wait)
            if i >= len(todo) and (time.monotonic() - t0) > (
                scenario.duration * time_scale + drain_timeout
            ):
                break
    finally:
        pool.stop()
        side.close()
        if close_writer and writer is not None:
            writer.close()
    report = checker.finish(clock())
    c = side.counts
    return LiveResult(
        report=report,
        records=rec.records,
        published=c.published,
        consumes=c.consumes,
        redelivered=c.redelivered,
        acks=c.acks,
        wall_seconds=time.monotonic() - t0,
        states={a.id: a.state for a in store.activities.values()},
        trace_path=path,
    )


def _apply(store: ActivityStore, act: Action, now: float) -> None:
    r = act.record
    if act.what == "create":
        store.create(
            now,
            r["activity"],
            "server",
            r["type"],
            r["state"],
            deliver_after=(now + (r["deliver_after"] - r["t"]))
            if r.get("deliver_after") is not None
            else None,
            depends_on=r.get("depends_on") or (),
            progress_of=r.get("progress_of"),
            threshold=r.get("threshold"),
        )
        return
    a = store.get(r["activity"])
    if act.what == "approve" and a.state == "Blocked":
        store.approve(now, a)
    elif act.what == "cancel" and store.may_cancel(a):
        store.cancel(now, a)
