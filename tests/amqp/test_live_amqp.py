"""``activitykit live`` with server activities: one run, one store, a broker of its own."""

from __future__ import annotations

import json
import os
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
