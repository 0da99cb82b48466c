"""Real Landscape Clients against the emulator (marker ``live``).

The client source tree comes from ``$ACTIVITYKIT_CLIENT_SRC``, else from the test
machine's fallback location (``find_client_source``); without one (or without its Debian
dependencies) these tests skip and say why. Intervals are short (urgent exchange 10 s,
the client's minimum; ping 2 s) and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from activitykit.live.clients import (
    ClientCommand,
    ClientSettings,
    leftover_processes,
)
from activitykit.live.exchange import Intervals, MessageSystem
from activitykit.live.harness import running_fleet, wait_until
from activitykit.live.scripted import ScriptedPort
from activitykit.live.server import BusyWindow
from activitykit.trace.manifest import verify

REPO = Path(__file__).resolve().parents[1]
INTERVALS = Intervals(exchange=30, urgent_exchange=10, ping=2)

pytestmark = [pytest.mark.live, pytest.mark.timeout(240)]


def _system(port: ScriptedPort) -> MessageSystem:
    return MessageSystem(port, intervals=INTERVALS)


async def _registered(system: MessageSystem, fleet, count: int) -> None:
    def ready() -> bool:
        fleet.check_alive()
        return len(system.computers()) == count

    await wait_until(ready, 90, f"{count} registrations")


def test_real_clients_register_and_run_scripts(client_src: Path, tmp_path: Path) -> None:
    port = ScriptedPort()
    system = _system(port)
    settings = ClientSettings(intervals=INTERVALS)

    async def main() -> dict[str, list[int]]:
        command = ClientCommand.from_source(client_src)
        async with running_fleet(system, command, 2, tmp_path, settings=settings) as (_, fleet):
            await _registered(system, fleet, 2)
            ops = {
                c.name: [
                    port.script(c.name, "echo ok"),
                    port.script(c.name, "echo no; exit 3"),
                    port.script(c.name, "sleep 30", time_limit=2),
                ]
                for c in fleet
            }
            await wait_until(lambda: len(port.results) == 6, 90, "six results")
            return ops

    ops = asyncio.run(main())
    for name, (ok, bad, slow) in ops.items():
        got = {r.operation_id: r for r in port.results if r.computer == name}
        assert (got[ok].status, got[ok].text) == (6, "ok\n")
        assert (got[bad].status, got[bad].code, got[bad].text) == (5, 103, "no\n")
        assert (got[slow].status, got[slow].code) == (5, 102)
    assert not leftover_processes(tmp_path)


def test_faults_busy_window_broker_restart_and_client_restart(
    client_src: Path, tmp_path: Path
) -> None:
    port = ScriptedPort()
    system = _system(port)
    settings = ClientSettings(intervals=INTERVALS)

    async def main() -> list[float]:
        command = ClientCommand.from_source(client_src)
        async with running_fleet(system, command, 1, tmp_path, settings=settings) as (
            server,
            fleet,
        ):
            await _registered(system, fleet, 1)
            client = fleet.clients[0]
            # Busy for 22 s: the urgent exchange the ping asks for is refused, and retried.
            now = server._clock()
            server.busy(BusyWindow(now, now + 22, status=503))
            op = port.script(client.name, "echo after-busy")
            await wait_until(lambda: port.result_of(op) is not None, 80, "the result after busy")
            busy_times = [n.t for n in port.notices if n.kind == "busy"]

            assert client.restart_broker()
            op = port.script(client.name, "echo after-broker-restart")
            await wait_until(lambda: port.result_of(op) is not None, 80, "a new broker result")

            client.restart()
            op = port.script(client.name, "echo after-restart")
            await wait_until(lambda: port.result_of(op) is not None, 80, "a result after restart")
            return busy_times

    busy_times = asyncio.run(main())
    assert len(busy_times) >= 2
    gaps = [b - a for a, b in itertools.pairwise(busy_times)]
    # The current client retries at its urgent interval without backing off.
    assert all(8 <= g <= 14 for g in gaps), gaps
    # Restarts keep the client's identity: one registration in all.
    assert [n.kind for n in port.notices].count("register") == 1
    assert not leftover_processes(tmp_path)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "error"])
def test_nothing_is_left_running(client_src: Path, tmp_path: Path, how: str) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "live_fleet_child.py"),
            str(client_src),
            str(tmp_path),
            "error" if how == "error" else "wait",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "ready").exists():
            assert child.poll() is None or how == "error", "the child ended before its clients ran"
            assert time.monotonic() < deadline, "the clients did not start within 60 s"
            time.sleep(0.2)
        pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
        if how != "error":
            assert len(leftover_processes(tmp_path, pids)) >= 8  # the check sees them
            child.send_signal(getattr(signal, how))
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0
    assert leftover_processes(tmp_path, pids) == []


def test_cli_live_run_writes_a_checked_run_directory(client_src: Path, tmp_path: Path) -> None:
    """``activitykit live`` on the bundled smoke scenario, shortened: the done-when run.

    The run folder is deep on purpose: the clients' UNIX sockets must still fit.
    """
    out = tmp_path / ("deep-" * 12) / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "activitykit",
            "live",
            str(REPO / "scenarios" / "live-smoke.yaml"),
            "--clients",
            "2",
            "--client-src",
            str(client_src),
            "--out",
            str(out),
            "--set",
            "duration=50",
            "--set",
            "workload.arrivals.0.stop=30",
        ],
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["violations"]["count"] == 0
    assert summary["unfinished"]["count"] == 0
    assert summary["activities"]["total"] >= 8
    assert set(summary["live"]["findings"]) >= {"items", "duplicate_pings", "held_results"}
    for name in ("trace.jsonl", "scenario.effective.yaml", "protocol.jsonl", "report.html"):
        assert (out / name).is_file(), name
    assert (out / "clients" / "c1" / "log" / "broker.log").is_file()
    assert "finding:" in proc.stdout
    # the run directory is staged and replaced whole, as for activitykit run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert manifest["records"] == summary["records"]["total"]
    assert verify(out) == []
    assert sorted(p.name for p in out.parent.iterdir()) == [".run.lock", "run"]
    assert not leftover_processes(tmp_path)  # the run was staged beside out


def test_sigterm_stops_a_cli_run_and_keeps_its_summary(client_src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "activitykit", "live", str(REPO / "scenarios" / "live-smoke.yaml"),
         "--clients", "2", "--client-src", str(client_src), "--out", str(out), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        trace = tmp_path / ".run.partial" / "run" / "trace.jsonl"  # the run is staged
        while not (trace.exists() and trace.stat().st_size > 0):  # run time 0 has passed
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the run did not start within 120 s"
            time.sleep(0.5)
        assert leftover_processes(tmp_path)  # the clients run
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=90)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["live"]["interrupted"] is True
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False and "interrupted" in manifest["error"]
    assert not (tmp_path / ".run.partial").exists()
    assert not leftover_processes(tmp_path)


def _installed_style_client(client_src: Path, tmp_path: Path) -> Path:
    """A ``landscape-client`` program in a bin folder, started the way a package installs it
    (a wrapper running the client's entry point with the system interpreter)."""
    tree = ClientCommand.from_source(client_src).prepared(tmp_path / "farm")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "landscape-client"
    root = tree.env["PYTHONPATH"]
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={root} exec /usr/bin/python3 {tree.argv[1]} "$@"\n')
    wrapper.chmod(0o755)
    return bindir


def test_calibrate_with_an_installed_client_command(client_src: Path, tmp_path: Path) -> None:
    """``activitykit calibrate`` end to end, small (2 real clients for 45 s, 2 seeds), with
    the clients given as ``--client-cmd landscape-client``: a program on PATH, as Ubuntu's
    package provides it (one run for both, to keep the live suite short).

    The calibration fits the single-loop ping periods (at least 2), which only a quiet
    stretch has: pings with no exchange between them. Scripts stop arriving at 8 s, before
    the first exchange (about 10 s), which takes them all; their results go at the next
    urgent one (about 10 s later), and the next regular exchange is 20 s after that. A run
    with scripts until 12 s had its last busy exchange at 31 s, after the end of a 30 s run,
    and recorded 1 such period on a loaded CI machine."""
    bindir = _installed_style_client(client_src, tmp_path)
    out = tmp_path / "cal"
    proc = subprocess.run(
        [sys.executable, "-m", "activitykit", "calibrate",
         str(REPO / "scenarios" / "live-calibration.yaml"), "--clients", "2",
         "--client-cmd", "landscape-client", "--out", str(out), "--seeds", "2",
         "--set", "duration=45", "--set", "workload.arrivals.0.stop=8"],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
        env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert (out / "calibration.json").is_file(), proc.stderr[-2000:]
    comparison = json.loads((out / "calibration.json").read_text())
    # exit 0 when the simulator agrees, 1 when not: both are answers, 2 would be an error
    assert proc.returncode == (0 if comparison["all_agree"] else 1), proc.stderr[-2000:]
    summary = json.loads((out / "live" / "summary.json").read_text())
    assert summary["live"]["client_source"] == "landscape-client"
    assert summary["unfinished"]["count"] == 0 and summary["violations"]["count"] == 0
    assert json.loads((out / "live" / "manifest.json").read_text())["complete"] is True
    assert comparison["computers"] == 2 and comparison["sim"]["runs"] == 2
    live = comparison["latency"]["to_start"]["live"]
    assert live["n"] >= 3 and comparison["latency"]["run"]["live"]["n"] == live["n"]
    assert set(comparison["counts"]["pings"]["live"]["per_computer"]) == {"c1", "c2"}
    assert comparison["real_client"]["exchange_duration_s"]["n"] > 0
    assert "KS two-sample" in proc.stdout and "exchanges" in proc.stdout
    assert (out / "calibration.png").stat().st_size > 10_000
    assert sorted(p.name for p in (out / "sim").glob("seed-*")) == ["seed-13", "seed-14"]
    assert not leftover_processes(tmp_path)
