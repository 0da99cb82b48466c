"""``activitykit sweep`` on the command line: tables, exit codes, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from activitykit.cli import main
from activitykit.experiments import execute
from activitykit.scenario.schema import Scenario

SCENARIO = """\
name: tiny
seed: 4
duration: 600
"""


def fake_run(scenario: Scenario, run_dir: Path | None) -> dict[str, float]:
    if scenario.server.prefetch == 7:
        raise ValueError("prefetch 7 is cursed")
    rng = np.random.default_rng(scenario.seed)
    return {"client.total.p90": 60.0 / scenario.server.job_handlers + rng.normal()}


@pytest.fixture
def scenario_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(execute, "default_run", fake_run)
    path = tmp_path / "tiny.yaml"
    path.write_text(SCENARIO)
    return path


def test_sweep_prints_points_and_writes_tables(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = [
        "sweep",
        str(scenario_file),
        "--grid",
        "server.job_handlers=1,2",
        "--replications",
        "3",
        "--workers",
        "1",
        "--out",
        str(out),
        "--set",
        "duration=1200",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "server.job_handlers" in text and "client.total.p90" in text
    assert "6 run(s) ran, 0 already done, 0 failed" in text
    runs = pd.read_parquet(out / "runs.parquet")
    assert sorted(runs["seed"].unique()) == [4, 5, 6]
    assert (out / "points.parquet").exists() and (out / "report.html").exists()
    # the same command again finds everything done
    assert main(argv) == 0
    assert "0 run(s) ran, 6 already done" in capsys.readouterr().out
    # --set changes the scenario: that directory holds another experiment
    assert main([*argv[:-2], "--set", "duration=900"]) == 2
    assert "different scenario" in capsys.readouterr().err


def test_failed_runs_exit_1_and_are_listed(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "sweep",
            str(scenario_file),
            "--grid",
            "server.prefetch=1,7",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--seed",
            "11",
            "--quiet",
            "--no-report",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "failed run" in err and "(seed 11): ValueError: prefetch 7 is cursed" in err
    assert not (tmp_path / "o" / "report.html").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "server.job_handlers"], "expected dotted.key=v1,v2"),
        (["--grid", "server.jobhandlers=1,2"], "no field 'server.jobhandlers'"),
        (["--grid", "server.job_handlers=1,-2"], "greater than or equal to 0"),
        (["--replications", "0"], "--replications (0) must be at least 1"),
        (["--workers", "0"], "--workers (0) must be at least 1"),
        (["--set", "server.job_handlers=lots"], "--set server.job_handlers=lots"),
    ],
)
def test_bad_input_exits_2_with_the_rule(
    scenario_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = ["sweep", str(scenario_file), "--out", str(tmp_path / "o"), "--quiet", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("activitykit sweep: error: ")
    assert message in err
    assert "Traceback" not in err


def test_missing_scenario_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err
