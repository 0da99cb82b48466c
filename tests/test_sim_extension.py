"""The extension point of docs/simulator.md, through the example that documents it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "maintenance_window.py"


def _example():
    spec = importlib.util.spec_from_file_location("maintenance_window", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _consumes(records: list[dict]) -> list[float]:
    return [r["t"] for r in records if r["event"] == "consume"]


def test_maintenance_window_pauses_the_job_handlers_then_they_catch_up() -> None:
    ex = _example()
    start, end = 7200.0, 10800.0
    _, calm = ex.run(start, end=start)  # an empty window: nothing paused
    result, records = ex.run(start, end)
    consumes = _consumes(records)
    assert not [t for t in consumes if start <= t < end]
    assert sum(start <= t < end for t in _consumes(calm)) > 100  # so the window did it
    # The queue built up during the window is worked off from its end on.
    assert min(t for t in consumes if t >= end) == end
    backlog = [r for r in records if r["event"] == "enqueue" and start <= r["t"] < end]
    assert len(backlog) > 100
    assert result.violations == []  # the online checker saw every record


def test_a_replaced_duration_model_is_used() -> None:
    ex = _example()
    _, normal = ex.run(0.0, 0.0)
    _, slow = ex.run(0.0, 0.0, slowdown=3.0)

    def mean_work(records: list[dict]) -> float:
        start = {r["activity"]: r["t"] for r in records if r["event"] == "consume"}
        ends = [
            r["t"] - start[r["activity"]]
            for r in records
            if r["event"] == "ack" and r["activity"] in start
        ]
        return sum(ends) / len(ends)

    assert mean_work(slow) > 2.0 * mean_work(normal)


def test_the_example_runs_as_a_script() -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--start", "3600", "--end", "5400"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert ", 0 inside the window" in out
    assert "first consume after the window: t=5400.0" in out


def test_a_bug_inside_a_job_handler_process_is_reported_as_a_simulator_bug() -> None:
    import pytest

    from activitykit.sim import SimulationInvariantError, simulate

    ex = _example()

    def setup(sim) -> None:
        def broken(a):  # an illegal move from inside the job-handler process
            sim.store._move(a, "Queued", "bug")
            return 1.0

        for h in sim.handlers:
            h.duration = broken

    from activitykit.scenario.schema import Scenario

    with pytest.raises(SimulationInvariantError, match="In Progress -> Queued") as info:
        simulate(Scenario.model_validate(ex.SCENARIO), setup=setup)
    assert info.value.record["to"] == "Queued"
