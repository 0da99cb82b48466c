"""One live run on its event loop: the clients started and registered, the workload in real
seconds with its faults (busy windows, client restarts), then everything stopped.

``run.run_live`` runs it inside the staged run directory; what it returns becomes the
``live`` section of summary.json and the run's counts.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..scenario import Scenario
from ..sim.rand import Streams
from ..sim.workload import build_plan, fleet_layout
from .clients import ClientDiedError, ClientSettings
from .core import CorePort, RunClock, TraceSink, open_protocol_log
from .exchange import Intervals, MessageSystem
from .findings import Findings
from .harness import running_fleet, wait_until
from .options import LiveOptions
from .server import BusyWindow
from .server_activities import ServerActivities
from .workload import LiveWorkload

__all__ = ["run_session"]


async def run_session(
    scenario: Scenario,
    options: LiveOptions,
    intervals: Intervals,
    sink: TraceSink,
    out: Path,
    amqp_url: str | None,
) -> dict[str, Any]:
    """The run itself: its end time, its ``live`` summary, its counts, what is unfinished."""
    clock = RunClock()
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
    servers = ServerActivities(scenario, port, sink, clock, amqp_url, options, out)
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


async def _until_done(
    scenario: Scenario,
    options: LiveOptions,
    clock: RunClock,
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
