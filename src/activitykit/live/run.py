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

This module is the phases and the run directory; ``session`` runs the clients and the
workload on the event loop, ``server_activities`` the broker and the job-handlers.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from contextlib import ExitStack, suppress
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
from ..sim.result import SimResult
from ..trace import open_writer
from .core import TraceSink
from .exchange import Intervals
from .options import LiveOptions
from .server_activities import own_broker
from .session import run_session
from .workload import check_workload

__all__ = ["LiveOptions", "live_scenario", "run_live"]


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
                url = stack.enter_context(own_broker()).url
            try:
                live = asyncio.run(run_session(scenario, options, intervals, sink, out, url))
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
