"""Every bundled scenario validates, and runs (shortened with --set) to a conformant trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from activitykit.check import check
from activitykit.cli import main
from activitykit.runner import run_scenario
from activitykit.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))

#: How each scenario is shortened for the suite (the full sizes are for `activitykit run`).
SHORT: dict[str, list[str]] = {
    "baseline": ["duration=3600"],  # the bulks and chains start at 900-1800 s
    "idle-fleet": [
        "fleet.groups.0.computers=200",
        "workload.batches.0.count=40",
        "workload.batches.0.spread=1800",
        "duration=1800",
    ],
    "bench-fleet": ["fleet.groups.0.computers=500", "duration=600"],
    "million-computers": [
        "fleet.groups.0.computers=2000",
        "workload.batches.0.count=300",
        "workload.batches.0.spread=1800",
        "duration=1800",
    ],
    "capacity-job-handlers": ["duration=3600", "warmup=600"],
    "ping-interval-tradeoff": [
        *(f"fleet.groups.{i}.computers=100" for i in range(3)),
        "duration=2400",
        "warmup=300",
    ],
    "bulk-upgrade": ["fleet.groups.0.computers=10", "fleet.groups.1.computers=40"],
    "approval-gate": ["fleet.groups.0.computers=100", "duration=10800"],
    "client-restarts": ["fleet.groups.0.computers=200", "duration=14400"],
    "job-handler-crash": ["duration=7200"],
    "live-smoke": [],  # real seconds, small already; `activitykit live` runs it with clients
    "live-calibration": [],  # as small: `activitykit calibrate` runs it live and simulated
    "maintenance-window": [
        "fleet.groups.0.computers=100",
        "workload.batches.0.count=40",
    ],
}
#: Too big to run at full size in the suite (benchmarks/ run them); the rest also run full.
BENCHMARK_SIZED = {"bench-fleet", "million-computers"}


def test_every_bundled_scenario_is_listed_here() -> None:
    assert {p.stem for p in BUNDLED} == set(SHORT)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_scenario_validates_and_states_its_question(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.description
    assert path.read_text(encoding="utf-8").startswith("# Question: ")


def test_cli_validates_all_bundled(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "validate", *map(str, BUNDLED)]) == 0
    assert capsys.readouterr().out.count(": OK") == len(BUNDLED)


@pytest.mark.parametrize("name", sorted(SHORT))
def test_bundled_scenario_runs_conformant(name: str, tmp_path: Path) -> None:
    _run_conformant(name, [*SHORT[name], "output.report=false"], tmp_path)


@pytest.mark.parametrize("name", sorted(set(SHORT) - BENCHMARK_SIZED))
def test_bundled_scenario_runs_conformant_at_full_size(name: str, tmp_path: Path) -> None:
    _run_conformant(name, ["output.report=false"], tmp_path)


def _run_conformant(name: str, overrides: list[str], tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml", overrides)
    result = run_scenario(scenario, tmp_path)
    summary = result.summary
    assert result.exit_code == 0, summary["violations"]
    assert summary["activities"]["total"] > 0
    # The batch checker agrees with the simulator's online one on the written trace.
    report = check(result.trace_path, profile=scenario.model.profile)
    assert report.ok, report.to_text(limit=5)
    assert report.summary["activities"] == summary["activities"]["total"]
    assert report.summary["unfinished"] == summary["unfinished"]["count"]
