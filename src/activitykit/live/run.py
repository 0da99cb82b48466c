"""One live run: a scenario's workload through real Landscape Clients, checked as it happens.

Phases, as for a simulated run: build (the scenario with the fleet set to the number of real
clients, checked for what a live run must refuse, written as ``scenario.effective.yaml``) ->
start (emulated server, N clients, wait until every client has registered: run time 0) ->
run (the workload in real seconds; faults: busy windows and client restarts) -> collect
(``summary.json`` with the live findings, ``report.html``, ``manifest.json``). The run
directory, staged and replaced whole as ``activitykit run`` does it::

    <out>/scenario.effective.yaml
    <out>/trace.jsonl | trace.parquet   every record (the trace format), checked online
    <out>/protocol.jsonl                the wire's own log: pings, registrations, busy...
    <out>/summary.json                  as for ``activitykit run``, plus a ``live`` section
    <out>/report.html
    <out>/manifest.json                 complete or not, trace digest (as ``activitykit run``)
    <out>/clients/<name>/log/           each client's own logs (its config and data beside)
    <out>/handlers/<name>.log           each job-handler's log (server activities, AMQP)

Server activities of the workload are created in the same store and published through a
RabbitMQ broker (``amqp_url``, or a broker of the run's own with ``own_broker``) to the kit's
job-handler processes (``activitykit.live.amqp``); their records go to the same trace.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..check import Checker
from ..errors import InputError
from ..reports.summary import summarise, write_summary
from ..runner import (
    TRACE_FILES,
    RunResult,
    finish_run_directory,
    read_back,
    run_directory,
    write_report_or_warn,
)
from ..scenario import Scenario, scenario_from_data
from ..sim.rand import Streams
from ..sim.result import SimResult
from ..sim.workload import build_plan, fleet_layout
from ..trace import open_writer
from .clients import ClientCommand, ClientDiedError, ClientSettings
from .core import CorePort, TraceSink, open_protocol_log
from .exchange import Intervals, MessageSystem
from .findings import Findings
from .harness import running_fleet, wait_until
from .server import BusyWindow
from .workload import LiveWorkload, check_workload

__all__ = ["LiveOptions", "live_scenario", "run_live"]


@dataclass(frozen=True)
class LiveOptions:
    """How to run: which clients, how many, where, and the safety switch."""

    clients: int
    #: None only for a run of no clients (server activities only).
    command: ClientCommand | None
    out_dir: Path
    allow_host_changes: bool = False
    host: str = "127.0.0.1"
    message_port: int = 0
    ping_port: int = 0
    #: Longest wait for every client to register before the workload starts (s).
    register_timeout: float = 180.0
    #: run_until=drained: the longest wait past duration (s), on top of drain_limit.
    drain_timeout: float = 300.0
    #: The broker for server activities; None with ``own_broker`` False: none allowed.
    amqp_url: str | None = None
    #: Start a private broker on loopback for the run (and stop it after).
    own_broker: bool = False
    #: The job queue (purged at the start: give the run a queue of its own).
    amqp_queue: str = "activitykit.live.jobs"
    #: Longest wait for the broker to accept a connection at the start (s).
    amqp_connect_timeout: float = 10.0
    #: A user's job-handler command (docs/job-handler-protocol.md); None: the kit's own.
    job_handler: str | None = None


class _RunClock:
    """Seconds since the workload started; -1 before (registration is not traced)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.origin: float | None = None
        self.epoch = 0.0

    def start(self) -> None:
        self.origin = self.loop.time()
        self.epoch = time.time()

    def __call__(self) -> float:
        return -1.0 if self.origin is None else self.loop.time() - self.origin


def live_scenario(scenario: Scenario, clients: int) -> tuple[Scenario, Intervals]:
    """The scenario with its one fleet group set to ``clients`` computers, and its intervals."""
    groups = scenario.fleet.groups
    if len(groups) != 1:
        raise InputError(
            f"fleet.groups: a live run takes one fleet group, the scenario has {len(groups)}"
        )
    g = groups[0]
    values = {
        "exchange_interval": g.exchange_interval,
        "urgent_exchange_interval": g.urgent_exchange_interval,
        "ping_interval": g.ping_interval,
    }
    for key, value in values.items():
        if value != int(value):
            raise InputError(
                f"fleet.groups[0].{key}: Landscape Client takes whole seconds, got {value}"
            )
    try:
        intervals = Intervals(
            int(g.exchange_interval), int(g.urgent_exchange_interval), int(g.ping_interval)
        )
    except ValueError as exc:
        raise InputError(f"fleet.groups[0]: {exc}") from None
    data = scenario.model_dump(mode="json")
    data["fleet"]["groups"][0]["computers"] = clients
    return scenario_from_data(data, source=f"scenario {scenario.name!r}"), intervals


#: What a live run writes besides a simulated run's files (``runner.run_directory``).
LIVE_FILES = frozenset({"protocol.jsonl", "clients", "handlers"})


def run_live(scenario: Scenario, options: LiveOptions) -> RunResult:
    """Run ``scenario`` against ``options.clients`` real clients; write the run directory.

    The directory is written as ``activitykit run`` writes one (``runner.run_directory``):
    staged beside the target, locked, with a manifest, and put in place whole at the end.
    A run stopped by Ctrl-C or SIGTERM after run time 0 keeps what ran, its manifest saying
    ``complete: false``; a run that cannot start leaves only the staged directory, and so
    does a run stopped by either signal after its clients stopped, while its summary and
    report are written (``KeyboardInterrupt`` then, for both signals: the CLI's interrupt).
    """
    scenario, intervals = live_scenario(scenario, options.clients)
    amqp = options.amqp_url is not None or options.own_broker
    check_workload(scenario, allow_host_changes=options.allow_host_changes, amqp=amqp)
    target = Path(options.out_dir)
    previous = signal.getsignal(signal.SIGTERM)
    _term_interrupts()
    staged: list[Path] = []
    try:
        return _run_staged(scenario, options, intervals, target, staged)
    except KeyboardInterrupt:
        if staged and staged[0].exists():
            print(
                "activitykit live: interrupted before the run's files were all written; "
                f"what was written is in {staged[0]} (its manifest says complete: false)",
                file=sys.stderr,
            )
        raise
    finally:
        if previous is not None:
            with suppress(ValueError):  # not the main thread: nothing was installed
                signal.signal(signal.SIGTERM, previous)


def _term_interrupts() -> None:
    """From now on SIGTERM stops the command as Ctrl-C does (``KeyboardInterrupt``). While
    the clients run, the run's event loop handles it (``live.harness``) and, stopping,
    sets it back to the default, which would end the process with no word and no exit
    code of ours; so this is called again once the loop is done."""

    def interrupt(signum: int, frame: object) -> None:
        # One is enough: a second SIGTERM must not cut short the stopping of what we started
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    with suppress(ValueError):  # not the main thread: signals are the main thread's
        signal.signal(signal.SIGTERM, interrupt)


def _run_staged(
    scenario: Scenario,
    options: LiveOptions,
    intervals: Intervals,
    target: Path,
    staged: list[Path],
) -> RunResult:
    """``run_live`` in its staged directory (appended to ``staged``, for the message of an
    interrupted run)."""
    with run_directory(target, scenario, own_files=LIVE_FILES) as out:
        staged.append(out)
        trace_path = out / TRACE_FILES[scenario.output.trace_format]
        summary, result = _run_into(scenario, options, intervals, out, trace_path)
        report = write_report_or_warn(out, target) if scenario.output.report else None
        error = None
        if summary["live"]["interrupted"]:
            error = f"interrupted (Ctrl-C or SIGTERM) at run time {result.end_t:.1f} s"
        final = finish_run_directory(
            out,
            target,
            scenario,
            trace_path,
            summary["records"]["by_event"],
            error,
            what="activitykit live",
        )
    trace_at = final / trace_path.name
    report_at = final / report.relative_to(out) if report is not None else None
    return RunResult(final, summary, result, scenario, trace_at, report_at)


def _run_into(
    scenario: Scenario,
    options: LiveOptions,
    intervals: Intervals,
    out: Path,
    trace_path: Path,
) -> tuple[dict[str, Any], SimResult]:
    """The live run itself, into the staged directory ``out``: trace, summary.json."""
    writer = open_writer(trace_path, scenario.output.trace_format)
    checker = Checker(scenario.model.profile)
    sink = TraceSink(writer, checker)
    started = time.perf_counter()
    try:
        with ExitStack() as stack:
            url = options.amqp_url
            if options.own_broker:
                url = stack.enter_context(_own_broker()).url
            try:
                live = asyncio.run(_run(scenario, options, intervals, sink, out, url))
            finally:
                _term_interrupts()  # before the broker stops: the loop left SIGTERM at its default
    except asyncio.CancelledError:  # a signal before run time 0: the clients are stopped
        raise KeyboardInterrupt from None
    finally:
        writer.close()
    end_t = max(live["end_t"], sink.last_t)
    report = checker.finish(end_t)
    frame, by_event = read_back(trace_path, scenario.output.trace_format)
    violations = [str(v) for v in report.violation_list]
    result = SimResult(
        end_t=end_t,
        records=sum(by_event.values()),
        events=0,
        wall_seconds=time.perf_counter() - started,
        violations=violations,
        counters=live["counts"],
        unfinished=live["unfinished"],
        seed=scenario.seed,
        checked_with="activitykit.check.Checker",
    )
    summary = summarise(scenario, result, frame, by_event)
    summary["live"] = live["summary"]
    summary["wall_seconds_total"] = time.perf_counter() - started
    summary["files"] = {
        "scenario": "scenario.effective.yaml",
        "trace": trace_path.name,
        "summary": "summary.json",
        "manifest": "manifest.json",
        "protocol": "protocol.jsonl",
        "client_logs": [f"clients/{n}/log" for n in live["summary"]["clients"]],
    }
    if "amqp" in live["summary"]:
        summary["files"]["handler_logs"] = "handlers"
    write_summary(out / "summary.json", summary)
    return summary, result


async def _run(
    scenario: Scenario,
    options: LiveOptions,
    intervals: Intervals,
    sink: TraceSink,
    out: Path,
    amqp_url: str | None,
) -> dict[str, Any]:
    clock = _RunClock()
    layout = fleet_layout(scenario)
    names = [f"c{i + 1}" for i in range(layout.total)]
    group_of = {name: layout.group_of(i) for i, name in enumerate(names)}
    streams = Streams(scenario.seed)
    plan = build_plan(scenario, layout, streams)
    findings: Findings | None = None
    protocol = open_protocol_log(out / "protocol.jsonl")
    port = CorePort(
        {
            "profile": scenario.model.profile,
            "on_dependency_failure": scenario.model.on_dependency_failure,
        },
        sink,
        clock,
        lambda a: a.extra,
        protocol=protocol,
        on_notice=lambda n: findings.notice(n) if findings else None,
        on_result=lambda c, r, t: findings.result(c, r, t) if findings else None,
        group_of=lambda name: group_of.get(name, "(not in the fleet)"),
    )
    system = MessageSystem(port, intervals=intervals, allow_host_changes=options.allow_host_changes)
    servers = _ServerActivities(scenario, port, sink, clock, amqp_url, options, out)
    settings = ClientSettings(intervals=intervals)
    registered_after: float | None = None
    workload: LiveWorkload | None = None
    restarts: list[asyncio.Task[None]] = []
    interrupted = False
    end_t = 0.0
    try:
        servers.start()  # before the fleet: blocks until every handler has subscribed
        async with running_fleet(
            system,
            options.command,
            options.clients,
            out / "clients",
            settings=settings,
            names=names,
            host=options.host,
            message_port=options.message_port,
            ping_port=options.ping_port,
            clock=clock,
        ) as (server, fleet):
            t0 = time.monotonic()

            def all_registered() -> bool:
                fleet.check_alive()
                return len(system.computers()) == len(names)

            try:
                await wait_until(all_registered, options.register_timeout, "every registration")
            except TimeoutError as exc:
                late = [c for c in fleet if system.computer(c.name) is None]
                tails = "".join(
                    f"\n--- {c.name} ({c.log_dir}), output ends with:\n{c.output_tail(8)}"
                    for c in late[:3]
                )
                raise InputError(
                    f"live run could not start its clients: {exc}; not registered: "
                    f"{', '.join(c.name for c in late)}{tails}"
                ) from None
            except ClientDiedError as exc:
                raise InputError(f"live run could not start its clients: {exc}") from None
            registered_after = time.monotonic() - t0
            clock.start()
            windows = [(w.start, w.end) for w in scenario.faults.server_busy.windows]
            findings = Findings(intervals, clock.epoch, windows)
            for w in scenario.faults.server_busy.windows:
                server.busy(BusyWindow(w.start, w.end, 503))
            workload = LiveWorkload(
                scenario, layout, plan, streams, port.store, names, port.call_at
            )
            workload.start()
            restarts = _schedule_restarts(scenario, streams, fleet, names, port, sink)
            pump = servers.pump_task()
            try:
                await _until_done(scenario, options, clock, workload, port, pump)
            except asyncio.CancelledError:  # Ctrl-C or SIGTERM: stop, and keep what ran
                interrupted = True
            if pump is not None:
                pump.cancel()
                with suppress(asyncio.CancelledError):
                    await pump
            end_t = clock()
            port.closed = True  # wake-ups due while the fleet stops write nothing more
            for task in restarts:
                task.cancel()
    finally:
        servers.stop()
        protocol.close()
    summary = {
        "clients": names,
        "client_source": options.command.description if options.command else None,
        "registration_seconds": registered_after,
        "intervals": {
            "exchange": intervals.exchange,
            "urgent_exchange": intervals.urgent_exchange,
            "ping": intervals.ping,
        },
        "requests": dict(server.requests),
        "counts": dict(sorted(port.counts.items())),
        "findings": findings.summary() if findings else {"items": []},
        "refused_creations": workload.refused if workload else [],
        "interrupted": interrupted,
    }
    if servers.side is not None:
        summary["amqp"] = servers.summary()
    return {
        "end_t": end_t,
        "summary": summary,
        "counts": dict(port.counts),
        "unfinished": port.unfinished(),
    }


class _ServerActivities:
    """The server activities' half of a live run: broker connection and job-handlers.

    ``StoreServer`` runs on the run's one store (``port.store``): the store's ``on_publish``
    puts each server activity on the job queue, and the handlers' reports come back as
    ``consume`` / ``ack`` records through the same sink. The connection is a blocking one,
    serviced from the event loop between other work (``pump_task``), so the store is only
    ever touched by the loop's thread.
    """

    PUMP_EVERY_S = 0.02

    def __init__(
        self,
        scenario: Scenario,
        port: CorePort,
        sink: TraceSink,
        clock: _RunClock,
        url: str | None,
        options: LiveOptions,
        out: Path,
    ) -> None:
        self.scenario = scenario
        self.url = url
        self.connect_timeout = options.amqp_connect_timeout
        self.side: Any = None
        self.pool: Any = None
        if url is None:
            return
        from .amqp.core import StoreServer, handler_model_for
        from .amqp.server_side import AmqpServerSide, HandlerPool

        core = StoreServer(sink, store=port.store, handler_model=handler_model_for(scenario))
        self.side = AmqpServerSide(
            url,
            core,
            sink,
            queue=options.amqp_queue,
            prefetch=scenario.server.prefetch,
            clock=clock,
            purge=True,
        )
        core.side = self.side
        (out / "handlers").mkdir(exist_ok=True)
        self.pool = HandlerPool(
            url,
            options.amqp_queue,
            prefetch=scenario.server.prefetch,
            log_dir=str(out / "handlers"),
            command=options.job_handler,
        )

    def start(self) -> None:
        if self.side is None:
            return
        from .amqp.broker import BrokerError, wait_for_amqp

        try:  # bounded here; once running, the side reconnects for longer (broker restarts)
            wait_for_amqp(self.url, self.connect_timeout)
        except BrokerError as exc:
            raise InputError(f"--amqp-url: {exc}") from None
        self.side.open()
        n = self.scenario.server.job_handlers
        try:
            self.pool.start_all([f"h{i + 1}" for i in range(n)], self.side)
        except RuntimeError as exc:
            raise InputError(f"live run could not start its job-handlers: {exc}") from None

    def pump_task(self) -> asyncio.Task[None] | None:
        """The connection serviced and ``faults.job_handler_crash`` carried out (until
        cancelled)."""
        if self.side is None:
            return None
        from .amqp.crashes import CrashPlan, serve

        names = list(self.pool.procs)
        plan = CrashPlan.of(self.scenario)
        return asyncio.create_task(
            serve(self.side, self.pool, names, plan, self.side.clock, self.PUMP_EVERY_S)
        )

    def stop(self) -> None:
        if self.side is not None:
            self.pool.stop()
            self.side.close()

    def summary(self) -> dict[str, Any]:
        c = self.side.counts
        return {
            "job_handlers": self.scenario.server.job_handlers,
            "queue": self.side.queue,
            "published": c.published,
            "consumes": c.consumes,
            "redelivered": c.redelivered,
            "acks": c.acks,
            "reconnects": c.reconnects,
        }


def _own_broker() -> Any:
    """A private RabbitMQ node for the run; BrokerError becomes a clear input error."""
    from contextlib import contextmanager

    from .amqp.broker import Broker, BrokerError

    @contextmanager
    def running():
        broker = Broker()
        try:
            broker.start()
        except BrokerError as exc:
            broker.stop()
            raise InputError(f"--own-broker: {exc}") from None
        try:
            yield broker
        finally:
            broker.stop()

    return running()


async def _until_done(
    scenario: Scenario,
    options: LiveOptions,
    clock: _RunClock,
    workload: LiveWorkload,
    port: CorePort,
    pump: asyncio.Task[None] | None = None,
) -> None:
    """Sleep through ``duration``; for run_until=drained, then until every activity ended.

    The server side's task (``pump``) ends only by failing (a report breaking the job-handler
    protocol, a handler that would not restart): the run then ends at once, with its error.
    """
    if pump is None:
        await asyncio.sleep(scenario.duration)
    else:
        await asyncio.wait([pump], timeout=scenario.duration)
    if scenario.run_until == "drained":
        limit = min(scenario.drain_limit, scenario.duration + options.drain_timeout)
        with suppress(TimeoutError):
            await wait_until(
                lambda: (
                    (workload.created_all and port.open_count() == 0)
                    or (pump is not None and pump.done())
                ),
                max(0.0, limit - clock()),
                "every activity to end",
                poll=0.5,
            )


def _schedule_restarts(scenario, streams, fleet, names, port, sink) -> list[asyncio.Task]:
    """Client restarts at the group's rate: stop the whole client, start it after downtime."""
    spec = scenario.fleet.groups[0].restarts
    if spec.rate_per_day <= 0:
        return []
    rng = streams.rng("live/restarts")
    downtime = streams.sampler("live/restart-downtime", spec.downtime)
    tasks = []

    async def restart(name: str, at: float, down: float) -> None:
        await asyncio.sleep(max(0.0, at - port.clock()))
        client = fleet.client(name)
        sink({"t": port.clock(), "event": "fault", "computer": name, "fault": "restart"})
        await asyncio.to_thread(client.stop)
        await asyncio.sleep(down)
        client.start()

    for name in names:
        n = int(rng.poisson(spec.rate_per_day * scenario.duration / 86400.0))
        for at in sorted(rng.uniform(0, scenario.duration, n)):
            tasks.append(asyncio.create_task(restart(name, float(at), float(downtime()))))
    return tasks
