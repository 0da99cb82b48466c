"""``activitykit sweep`` on the command line: tables, exit codes, bad input."""

from __future__ import annotations

import argparse
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
        (["--workers", "100000"], "--workers (100000) must be at most 256 local processes"),
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


def _run_like_parser() -> argparse.ArgumentParser:
    """The options ``activitykit run`` has, plus the replication hook."""
    from activitykit.experiments import add_replication_args

    p = argparse.ArgumentParser()
    p.add_argument("scenario")
    p.add_argument("--seed", type=int)
    p.add_argument("--out")
    p.add_argument("--quiet", "-q", action="store_true")
    add_replication_args(p)
    return p


def test_replication_hook_reports_intervals(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from activitykit.experiments import run_replications_from_args
    from activitykit.scenario import load_scenario

    out = tmp_path / "reps"
    args = _run_like_parser().parse_args(
        [str(scenario_file), "--replications", "4", "--seed", "20", "--out", str(out)]
    )
    assert run_replications_from_args(args, load_scenario(scenario_file)) == 0
    text = capsys.readouterr().out
    assert "tiny: 4 of 4 replication(s) ok" in text
    draws = [60.0 / 2 + np.random.default_rng(s).normal() for s in range(20, 24)]
    from activitykit.experiments.stats import figure_ci

    iv = figure_ci("client.total.p90", draws)  # a key figure: the bootstrap interval
    line = next(ln for ln in text.splitlines() if ln.startswith("client.total.p90"))
    assert f"{iv.mean:.4g}" in line and f"[{iv.low:.4g}, {iv.high:.4g}]" in line
    assert line.split()[-2:] == ["4", "bootstrap"]
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs["seed"]) == [20, 21, 22, 23]
    assert all((out / "runs" / rid).is_dir() for rid in runs["run_id"])


def test_replication_hook_without_the_option_is_not_taken() -> None:
    args = _run_like_parser().parse_args(["x.yaml"])
    assert args.replications is None and args.workers == 1 and args.scheduler is None


def test_run_replications_through_activitykit_run(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reps"
    argv = ["run", str(scenario_file), "--replications", "3", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "tiny: 3 of 3 replication(s) ok" in text and "95% CI" in text
    assert list(pd.read_parquet(out / "runs.parquet")["seed"]) == [4, 5, 6]
    assert main(["run", str(scenario_file), "--replications", "0", "--out", str(out)]) == 2
    assert "--replications (0) must be at least 1" in capsys.readouterr().err
    assert main(["run", str(scenario_file), "--replications", "2", "--workers", "0"]) == 2
    assert "--workers (0) must be at least 1" in capsys.readouterr().err
    # the same rule as sweep's (one check, in the library), before any process is started
    assert main(["run", str(scenario_file), "--replications", "2", "--workers", "9999"]) == 2
    assert "a larger pool needs --scheduler" in capsys.readouterr().err
