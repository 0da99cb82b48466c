"""``activitykit live`` with server activities: one run, one store, a broker of its own."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from activitykit.cli import main

pytestmark = pytest.mark.amqp

SCENARIO = """\
name: live-amqp
seed: 5
duration: 4
run_until: drained
drain_limit: 60
fleet:
  groups:
    - {name: live, computers: 0, exchange_interval: 30, urgent_exchange_interval: 10,
       ping_interval: 2}
server:
  job_handlers: 2
  default_handler:
    duration: {dist: uniform, low: 0.05, high: 0.4}
    failure_probability: 0.3
approvals:
  delay: 1
workload:
  batches:
    - {name: jobs, type: ArchiveRequest, count: 6, at: 0.5}
    - {name: later, type: GenerateUsgReportActivity, state: Scheduled, deliver_after: 1,
       count: 2, at: 1}
    - {name: approved, type: ArchiveRequest, state: Blocked, count: 2, at: 1}
output: {trace_format: jsonl, report: false}
"""


def _cmdlines(needle: str) -> set[int]:
    """Pids of this machine's processes whose command line contains ``needle``."""
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if needle.encode() in cmd:
                found.add(int(pid))
    return found


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "live-amqp.yaml"
    path.write_text(SCENARIO, "utf-8")
    return path


@pytest.mark.slow
def test_own_broker_run_is_checked_and_leaves_nothing_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from activitykit.live.amqp.broker import find_server_script

    if find_server_script() is None:
        pytest.skip("rabbitmq-server is not installed (Debian: apt-get install rabbitmq-server)")
    queue = f"activitykit.test.live.{os.getpid()}"
    ours = f"activitykit-{os.getpid()}-"  # our brokers' node names (the session's too)
    brokers_before = _cmdlines(ours)
    out = tmp_path / "run"
    code = main(
        ["live", str(_scenario(tmp_path)), "--clients", "0", "--own-broker",
         "--job-handlers", "2", "--amqp-queue", queue, "--out", str(out)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["violations"]["count"] == 0
    amqp = summary["live"]["amqp"]
    assert amqp["published"] == amqp["consumes"] == amqp["acks"] == 10
    records = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]
    events = [r["event"] for r in records]
    assert events.count("consume") == 10 and events.count("ack") == 10
    assert events.count("approve") == 2
    ends = {r["activity"]: r["to"] for r in records if r["event"] == "transition"}
    assert set(ends.values()) <= {"Succeeded", "Failed"} and len(ends) == 10
    assert {r["handler"] for r in records if r["event"] == "consume"} <= {"h1", "h2"}
    assert "published, 10 consumed" in captured.out
    # Nothing left: no handler on our queue, no broker of this run.
    assert _cmdlines(f"--queue {queue}") == set()
    assert _cmdlines(ours) <= brokers_before


def test_server_activities_without_a_broker_name_the_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["live", str(_scenario(tmp_path)), "--clients", "0", "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "ArchiveRequest is a server activity" in err
    assert "--amqp-url URL or --own-broker" in err and "Traceback" not in err


def test_an_unreachable_broker_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from activitykit.live.amqp.broker import _free_port

    url = f"amqp://guest:secret@127.0.0.1:{_free_port()}/%2F"
    code = main(
        ["live", str(_scenario(tmp_path)), "--clients", "0", "--amqp-url", url,
         "--out", str(tmp_path / "o")]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "no AMQP connection" in err and "secret" not in err and "Traceback" not in err


BOTH = """\
name: live-both
seed: 11
duration: 6
run_until: drained
drain_limit: 100
fleet:
  groups:
    - name: live
      computers: 2
      exchange_interval: 30
      urgent_exchange_interval: 10
      ping_interval: 2
      handlers:
        ExecuteScriptRequest: {duration: {dist: fixed, value: 0.2}, failure_probability: 0.3}
server:
  job_handlers: 2
  default_handler:
    duration: {dist: uniform, low: 0.1, high: 0.6}
    failure_probability: 0.3
workload:
  batches:
    - {name: scripts, type: ExecuteScriptRequest, count: 3, at: 1}
    - {name: jobs, type: ArchiveRequest, count: 5, at: 0.5}
    - {name: later, type: GenerateUsgReportActivity, state: Scheduled, deliver_after: 2,
       count: 2, at: 1}
output: {trace_format: jsonl, report: false}
"""


@pytest.mark.live
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_real_clients_and_server_activities_in_one_checked_run(
    client_src: Path, tmp_path: Path
) -> None:
    """One ``activitykit live`` run: real Landscape Clients and the kit's job-handlers
    through an own broker, one server core, one trace, checked online and again in batch."""
    import subprocess

    from activitykit.check import check
    from activitykit.live.amqp.broker import find_server_script
    from activitykit.live.clients import leftover_processes

    if find_server_script() is None:
        pytest.skip("rabbitmq-server is not installed (Debian: apt-get install rabbitmq-server)")
    scenario = tmp_path / "live-both.yaml"
    scenario.write_text(BOTH, "utf-8")
    queue = f"activitykit.test.both.{os.getpid()}"
    out = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "activitykit", "live", str(scenario), "--clients", "2",
         "--client-src", str(client_src), "--own-broker", "--amqp-queue", queue,
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        stdout, stderr = child.communicate(timeout=200)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, stdout[-2000:] + stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["violations"]["count"] == 0
    assert summary["unfinished"]["count"] == 0
    records = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]
    created = {r["activity"]: r for r in records if r["event"] == "created"}
    kinds = {a: r["kind"] for a, r in created.items()}
    assert sorted(kinds.values()) == ["client"] * 3 + ["server"] * 7
    final = {
        r["activity"]: r["to"]
        for r in records
        if r["event"] == "transition" and r["to"] in ("Succeeded", "Failed", "Canceled")
    }
    assert set(final) == set(kinds), "every activity, client and server, reached a final state"
    # The client half: deliveries and results over real exchanges of real clients.
    exchanged = {r["computer"] for r in records if r["event"] == "exchange"}
    assert exchanged == {"c1", "c2"}
    client_ids = {a for a, k in kinds.items() if k == "client"}
    assert {r["activity"] for r in records if r["event"] == "deliver"} == client_ids
    assert {r["activity"] for r in records if r["event"] == "result"} == client_ids
    # The server half: published, consumed (with the broker's flag) and acked by handlers.
    server_ids = {a for a, k in kinds.items() if k == "server"}
    assert {r["activity"] for r in records if r["event"] == "enqueue"} == server_ids
    consumes = [r for r in records if r["event"] == "consume"]
    assert {r["activity"] for r in consumes} == server_ids
    assert all(r["redelivered"] is False and r["attempt"] == 1 for r in consumes)
    assert {r["handler"] for r in consumes} <= {"h1", "h2"}
    assert sorted(r["activity"] for r in records if r["event"] == "ack") == sorted(server_ids)
    # The same trace passes the batch checker too, and everything has stopped.
    batch = check(out / "trace.jsonl")
    assert batch.ok, batch.to_text(limit=5)
    assert summary["live"]["amqp"]["acks"] == 7
    assert not leftover_processes(out)
    assert _cmdlines(f"--queue {queue}") == set()
    assert _cmdlines(f"activitykit-{child.pid}-") == set()  # the run's own broker node


CRASHES = """\
name: live-crashes
seed: 6
duration: 8
run_until: drained
drain_limit: 120
fleet:
  groups:
    - {name: live, computers: 0, exchange_interval: 30, urgent_exchange_interval: 10,
       ping_interval: 2}
server:
  job_handlers: 2
  prefetch: 1
  default_handler:
    duration: {dist: uniform, low: 1.0, high: 2.0}
faults:
  job_handler_crash: {mtbf: 5, restart_delay: {dist: fixed, value: 0.5}}
workload:
  arrivals:
    - {name: jobs, type: ArchiveRequest, rate: 1.5, stop: 7}
output: {trace_format: jsonl, report: false}
"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_mtbf_kills_the_handlers_on_a_seeded_schedule_and_the_broker_redelivers(
    amqp_url: str, amqp_queue: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from activitykit.live.amqp.crashes import CrashPlan
    from activitykit.scenario import load_scenario

    path = tmp_path / "live-crashes.yaml"
    path.write_text(CRASHES, "utf-8")
    out = tmp_path / "run"
    # The kit's handler run as a user's command: what --job-handler starts is killed too.
    command = f"{shlex.quote(sys.executable)} -m activitykit.live.amqp.handler"
    code = main(
        ["live", str(path), "--clients", "0", "--amqp-url", amqp_url, "--amqp-queue",
         amqp_queue, "--job-handler", command, "--out", str(out)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["violations"]["count"] == 0
    assert summary["unfinished"]["count"] == 0
    records = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]
    faults = [(i, r) for i, r in enumerate(records) if r["event"] == "fault"]
    crashes = [(i, r) for i, r in faults if r["fault"] == "handler_crash"]
    restarts = [(i, r) for i, r in faults if r["fault"] == "handler_restart"]
    # Each handler's first crash is the seeded draw (run time; the kill takes a moment).
    plan = CrashPlan.of(load_scenario(str(path)))
    assert plan is not None
    for h in ("h1", "h2"):
        due = plan.gap(h)()
        first = next(r["t"] for _, r in crashes if r["handler"] == h)
        assert due <= first < due + 2.0, (h, due, first)
    # Every restart follows a crash of the same handler, restart_delay (0.5 s) or more later.
    for i, r in restarts:
        before = [c for j, c in crashes if j < i and c["handler"] == r["handler"]]
        assert before and r["t"] - before[-1]["t"] >= 0.5
    # The broker gave a dead handler's message to a live one, flagged; the second consume
    # comes after the crash in the trace and makes no second move.
    consumes = [(i, r) for i, r in enumerate(records) if r["event"] == "consume"]
    again = [(i, r) for i, r in consumes if r["redelivered"]]
    started_again = 0
    for i, r in again:
        earlier = [(j, c) for j, c in consumes if j < i and c["activity"] == r["activity"]]
        if not earlier:  # killed between the delivery and its in-progress report
            assert crashes[0][0] < i
            continue
        j0, prev = earlier[-1]
        lost = [j for j, c in crashes if c["handler"] == prev["handler"] and j0 < j < i]
        assert lost, f"redelivery of {r['activity']} without a crash of {prev['handler']} first"
        assert r["attempt"] == prev["attempt"] + 1
        started_again += 1
    assert started_again, "a crash mid-activity must bring its message back"
    # A handler is down from its crash to its restart: nothing of it in between (what it
    # committed before the kill comes before the crash, however late it arrived).
    for h in ("h1", "h2"):
        up = True
        for r in records:
            if r.get("handler") == h and r["event"] == "fault":
                up = r["fault"] == "handler_restart"
            elif r.get("handler") == h:
                assert up, f"{r} while {h} was down"
    moves = [r for r in records if r["event"] == "transition" and r["to"] == "In Progress"]
    assert len(moves) == len({r["activity"] for r in moves})
    amqp = summary["live"]["amqp"]
    assert amqp["redelivered"] == len(again) and amqp["acks"] == amqp["published"]
    assert _cmdlines(f"--queue {amqp_queue}") == set()


BAD_HANDLER = """\
import json, os, pika
conn = pika.BlockingConnection(pika.URLParameters(os.environ["ACTIVITYKIT_AMQP_URL"]))
ch = conn.channel()
ch.basic_qos(prefetch_count=int(os.environ["ACTIVITYKIT_PREFETCH"]))
for method, props, body in ch.consume(os.environ["ACTIVITYKIT_QUEUE"]):
    job = json.loads(body)
    report = {"activity": job["activity"], "gen": job["gen"], "status": "in-progress",
              "redelivered": "false"}  # a string: the protocol wants a boolean
    ch.basic_publish("", props.reply_to, json.dumps({"protocol": job["protocol"],
                     "handler": os.environ["ACTIVITYKIT_HANDLER"], "reports": [report]}))
"""


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_users_handler_that_breaks_the_protocol_ends_the_run_at_once(
    amqp_url: str, amqp_queue: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    script = tmp_path / "bad_handler.py"
    script.write_text(BAD_HANDLER, "utf-8")
    out = tmp_path / "run"
    t0 = time.monotonic()
    code = main(
        ["live", str(_scenario(tmp_path)), "--clients", "0", "--amqp-url", amqp_url,
         "--amqp-queue", amqp_queue, "--job-handlers", "1", "--set", "duration=120",
         "--job-handler", f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}",
         "--out", str(out)]
    )  # fmt: skip
    took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert code == 2, err
    assert "handler 'h1'" in err and "reports[0].redelivered" in err, err
    assert "Traceback" not in err
    assert took < 90, f"the run went on for {took:.0f} s after the bad report"
    assert _cmdlines(str(script)) == set()
