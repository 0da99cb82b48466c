"""The port on the server core, the workload and the findings, with scripted clients.

No real client here: ``FakeClient`` (tests/test_live_exchange.py) plays the protocol against
the same ``MessageSystem`` a live run uses, answering each script at its next exchange, so
the core's path (creation, scheduling, approval, dependencies, cancel, delivery, results)
runs on the wall clock in a couple of seconds and is checked record by record.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_live_exchange import FakeClient

from activitykit.check import Checker
from activitykit.errors import InputError
from activitykit.live.core import CorePort, TraceSink
from activitykit.live.exchange import Intervals, MessageSystem
from activitykit.live.findings import Findings
from activitykit.live.port import Notice, OperationResult
from activitykit.live.run import live_scenario
from activitykit.live.workload import LiveWorkload, check_workload
from activitykit.scenario import scenario_from_data
from activitykit.sim.rand import Streams
from activitykit.sim.workload import build_plan, fleet_layout
from activitykit.trace import MemoryTraceWriter

SCENARIO: dict[str, Any] = {
    "name": "core-paths",
    "seed": 3,
    "duration": 1.5,
    "fleet": {
        "groups": [
            {
                "name": "g",
                "computers": 3,
                "exchange_interval": 30,
                "urgent_exchange_interval": 10,
                "ping_interval": 2,
                "handlers": {"ExecuteScriptRequest": {"duration": 0.1, "failure_probability": 0.3}},
            }
        ]
    },
    "approvals": {"delay": 0.3},
    "workload": {
        "arrivals": [{"name": "s", "type": "ExecuteScriptRequest", "rate": 8}],
        "batches": [
            {"name": "sched", "type": "ExecuteScriptRequest", "state": "Scheduled",
             "deliver_after": 0.4, "count": 2},
            {"name": "blocked", "type": "ExecuteScriptRequest", "state": "Blocked", "count": 2},
            {"name": "cancel", "type": "ExecuteScriptRequest", "state": "Blocked", "count": 1,
             "cancel_probability": 1},
        ],
        "chains": [
            {"name": "chain", "steps": [
                {"name": "a", "type": "ExecuteScriptRequest"},
                {"name": "b", "type": "ResynchronizeRequest", "state": "Waiting",
                 "depends_on": ["a"]},
            ]},
        ],
        "bulks": [{"name": "all", "type": "ExecuteScriptRequest", "at": 0.2}],
    },
    "cancellations": {"delay": 0.1},
}  # fmt: skip


def test_workload_runs_through_the_core_and_every_record_is_conformant() -> None:
    scenario = scenario_from_data(SCENARIO)
    writer = MemoryTraceWriter()
    checker = Checker(scenario.model.profile)
    sink = TraceSink(writer, checker)

    async def main() -> tuple[CorePort, LiveWorkload]:
        loop = asyncio.get_running_loop()
        origin = loop.time()
        clock = lambda: loop.time() - origin  # noqa: E731
        port = CorePort({"profile": scenario.model.profile}, sink, clock, lambda a: a.extra)
        system = MessageSystem(port)
        layout = fleet_layout(scenario)
        names = [f"c{i + 1}" for i in range(layout.total)]
        clients = [FakeClient(system, n) for n in names]
        for c in clients:
            c.register()
        streams = Streams(scenario.seed)
        plan = build_plan(scenario, layout, streams)
        workload = LiveWorkload(scenario, layout, plan, streams, port.store, names, port.call_at)
        workload.start()
        answered: set[int] = set()
        while clock() < 4 and not (workload.created_all and port.open_count() == 0):
            await asyncio.sleep(0.05)
            for c in clients:
                for m in c.received:
                    op = m.get("operation-id")
                    if op is not None and op not in answered:
                        answered.add(op)
                        if m["type"] == "execute-script":
                            failed = "exit 1" in m["code"]
                            c.send_result(op, 5 if failed else 6, "", 103 if failed else None)
                        else:
                            c.pending.append({"type": "resynchronize", "operation-id": op})
                c.exchange(clock())
        return port, workload

    port, workload = asyncio.run(main())
    report = checker.finish(sink.last_t)
    assert report.violation_list == ()
    assert port.open_count() == 0 and workload.refused == []
    states = {r["to"] for r in writer.records if r["event"] == "transition"}
    assert {"In Progress", "Succeeded", "Failed", "Canceled", "Queued"} <= states
    kinds = {r["event"] for r in writer.records}
    assert {"created", "deliver", "result", "exchange", "approve", "cancel", "group"} <= kinds
    times = [r["t"] for r in writer.records]
    assert times == sorted(times)


def test_live_scenario_takes_one_group_and_whole_second_intervals() -> None:
    scenario, intervals = live_scenario(scenario_from_data(SCENARIO), 7)
    assert scenario.fleet.groups[0].computers == 7 and intervals == Intervals(30, 10, 2)
    data = {
        **SCENARIO,
        "fleet": {"groups": [{**SCENARIO["fleet"]["groups"][0], "ping_interval": 1.5}]},
    }
    with pytest.raises(InputError, match=r"ping_interval: Landscape Client takes whole seconds"):
        live_scenario(scenario_from_data(data), 2)
    data["fleet"]["groups"][0].update(ping_interval=2, urgent_exchange_interval=5)
    with pytest.raises(InputError, match=r"urgent_exchange_interval \(5 s\) must be at least 10 s"):
        live_scenario(scenario_from_data(data), 2)
    two = {**SCENARIO, "fleet": {"groups": [SCENARIO["fleet"]["groups"][0], {"name": "h"}]}}
    with pytest.raises(InputError, match="one fleet group"):
        live_scenario(scenario_from_data(two), 2)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "r", "type": "RestartRequest", "rate": 1}, "--allow-host-changes"),
        ({"name": "p", "type": "ChangePackagesRequest", "rate": 1}, "would change the host"),
        ({"name": "a", "type": "ArchiveRequest", "rate": 1}, "is a server activity"),
    ],
)
def test_workload_check_refuses_before_anything_starts(entry, message) -> None:
    scenario = scenario_from_data({**SCENARIO, "workload": {"arrivals": [entry]}})
    with pytest.raises(InputError, match=r"workload\.arrivals\[0\]\.type: .*" + message):
        check_workload(scenario, allow_host_changes=False)


def test_host_changes_pass_only_with_the_switch() -> None:
    entry = {"name": "r", "type": "RestartRequest", "rate": 1}
    scenario = scenario_from_data({**SCENARIO, "workload": {"arrivals": [entry]}})
    check_workload(scenario, allow_host_changes=True)


def test_findings() -> None:
    f = Findings(Intervals(30, 10, 4), epoch=1000.0, busy=[(50.0, 60.0)])
    for t in (1.0, 5.0, 5.5, 9.0, 9.2):  # two pings closer than 2 s to the one before
        f.notice(Notice("ping", t, "c1"))
    for t in (50.0, 60.0, 70.0):  # steady retries
        f.notice(Notice("busy", t, "c2", {"endpoint": "exchange"}))
    f.result("c1", OperationResult(1, 6, timestamp=1000 + 10), 15.0)  # 5 s: fine
    f.result("c1", OperationResult(2, 6, timestamp=1000 + 10), 40.0)  # 30 s: held
    f.result("c1", OperationResult(3, 6, timestamp=1000 + 45), 65.0)  # waited out busy: fine
    s = f.summary()
    assert s["duplicate_pings"] == {"count": 2, "by_computer": {"c1": 2}}
    assert s["busy_retries"]["computers_without_backoff"] == ["c2"]
    assert s["busy_retries"]["median_gap_s"] == 10.0
    assert s["held_results"]["count"] == 1 and s["held_results"]["examples"][0]["operation_id"] == 2
    assert len(s["items"]) == 3


def test_findings_of_a_clean_run_say_so() -> None:
    f = Findings(Intervals(30, 10, 4), epoch=0.0)
    for t in (0.0, 4.0, 8.0):
        f.notice(Notice("ping", t, "c1"))
    f.notice(Notice("busy", 1.0, "c1", {"endpoint": "exchange"}))
    for gap_start in (10.0, 20.0, 40.0, 80.0):  # growing gaps: backing off
        f.notice(Notice("busy", gap_start, "c2", {"endpoint": "exchange"}))
    s = f.summary()
    assert s["items"] == []
    assert s["duplicate_pings"]["count"] == 0
    assert "c2" not in s["busy_retries"]["computers_without_backoff"]


def test_the_port_counts_the_fleets_load_per_group_from_run_time_zero() -> None:
    # named as the simulator's counters, so reports.summary.load reads a live run the same way
    sink = TraceSink(MemoryTraceWriter(), Checker("result-wins"))
    groups = {"c1": "a", "c2": "b"}

    async def main() -> CorePort:
        port = CorePort({}, sink, lambda: 0.0, lambda a: a.extra, group_of=groups.__getitem__)
        for notice in (
            Notice("ping", 1.0, "c1", {"messages": False}),
            Notice("ping", 2.0, "c1", {"messages": True}),
            Notice("exchange", 2.5, "c2", {"registered": True}),
            Notice("exchange", -1.0, "c1", {"registered": True}),  # registration, before 0
            Notice("exchange", 0.5, None, {"registered": False}),  # not yet a computer
            Notice("busy", 3.0, "c1", {}),
        ):
            port.notify(notice)
        return port

    counts = asyncio.run(main()).counts
    assert counts["pings"] == 2 and counts["pings.a"] == 2 and counts["pings.b"] == 0
    assert counts["exchanges"] == 1 and counts["exchanges.b"] == 1 and counts["exchanges.a"] == 0
    assert counts["notice_exchange"] == 3  # every notice is still counted as a notice


def test_each_record_reaches_the_trace_file_as_it_happens(tmp_path) -> None:
    # the JSONL writer buffers a MiB for the simulator; a live trace must grow as it goes
    from activitykit.trace import JsonlTraceWriter

    path = tmp_path / "trace.jsonl"
    writer = JsonlTraceWriter(path)
    sink = TraceSink(writer, Checker("result-wins"))
    sink({"t": 0.5, "event": "exchange", "computer": "c1"})
    assert path.read_text().count("\n") == 1
    sink({"t": 0.7, "event": "exchange", "computer": "c2"})
    assert path.read_text().count("\n") == 2
    writer.close()
