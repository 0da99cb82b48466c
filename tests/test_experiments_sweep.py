"""Sweeps and replications with stand-in models whose answers are known.

The stand-in run functions draw their figures from the seed alone, like the simulator, so
these tests pin the orchestration (expansion, seeds, storage, resume, failures, workers)
independently of the simulator; ``test_experiments_sim.py`` runs the real thing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from activitykit.errors import InputError
from activitykit.experiments import mean_ci, meets, replicate, run_sweep, smallest_meeting
from activitykit.scenario.schema import Scenario

# dask worker processes cannot import this test module: ship its functions by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SIGMA = 2.0


def queue_model(scenario: Scenario, run_dir: Path | None) -> dict[str, float]:
    """Latency falls with job-handlers; noise from the seed only."""
    rng = np.random.default_rng(scenario.seed)
    h = scenario.server.job_handlers
    latency = 100.0 / h + rng.normal(0.0, SIGMA)
    if run_dir is not None:
        (run_dir / "marker.txt").write_text(f"{scenario.seed}\n")
    return {"latency": latency, "handlers": float(h), "noise": float(rng.uniform())}


def flaky_model(scenario: Scenario, run_dir: Path | None) -> dict[str, float]:
    if scenario.server.job_handlers == 3:
        raise RuntimeError(f"handler pool of 3 broke (seed {scenario.seed})")
    return queue_model(scenario, run_dir)


def test_replications_use_consecutive_seeds_and_known_intervals() -> None:
    res = replicate(Scenario(seed=40), 6, run_fn=queue_model)
    assert list(res.runs["seed"]) == [40, 41, 42, 43, 44, 45]
    assert res.failed == 0 and res.ok == 6
    draws = [100.0 / 2 + np.random.default_rng(s).normal(0.0, SIGMA) for s in range(40, 46)]
    want = mean_ci(draws)
    got = res.intervals["latency"]
    assert (got.mean, got.low, got.high, got.n) == pytest.approx(
        (want.mean, want.low, want.high, 6)
    )
    table = res.table()
    assert list(table["figure"]) == ["latency", "handlers", "noise"]
    assert table.loc[table["figure"] == "handlers", "half_width"].item() == 0.0
    assert "latency" in str(res) and "95% CI" in str(res)


def test_sweep_tables_have_one_row_per_run_and_per_point(tmp_path: Path) -> None:
    res = run_sweep(
        Scenario(seed=3),
        ["server.job_handlers=1,2,4", "server.prefetch=1,2"],
        3,
        out_dir=tmp_path,
        run_fn=queue_model,
    )
    assert res.params == ["server.job_handlers", "server.prefetch"]
    assert len(res.runs) == 3 * 2 * 3 and res.ran == 18 and res.failed == 0
    assert len(res.points) == 6
    stored = pd.read_parquet(tmp_path / "runs.parquet")
    pd.testing.assert_frame_equal(stored, res.runs)
    points = pd.read_parquet(tmp_path / "points.parquet")
    pd.testing.assert_frame_equal(points, res.points)
    assert {"latency.mean", "latency.ci_low", "latency.ci_high", "latency.n"} <= set(points)
    assert set(stored["status"]) == {"ok"} and (stored["wall_time"] >= 0).all()
    assert (stored["cpu_time"] >= 0).all()
    # each point's interval is the t-interval of its own runs
    for _, row in points.iterrows():
        sel = (stored["server.job_handlers"] == row["server.job_handlers"]) & (
            stored["server.prefetch"] == row["server.prefetch"]
        )
        want = mean_ci(stored.loc[sel, "latency"])
        assert (row["latency.ci_low"], row["latency.ci_high"]) == pytest.approx(
            (want.low, want.high)
        )
        assert row["handlers.mean"] == row["server.job_handlers"]
    iv = res.interval("latency", **{"server.job_handlers": 4, "server.prefetch": 1})
    assert iv.n == 3 and iv.contains(25.0)
    html = (tmp_path / "report.html").read_text()
    # no headline: one chart per varying figure and parameter, none twice
    pngs = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert html.count("<img") == len(pngs) and "Failed runs" in html
    assert "latency-vs-server.job_handlers.png" in pngs
    assert '<div class="scroll">' in html


def test_sweep_report_answers_the_objective(tmp_path: Path) -> None:
    import html

    from activitykit.experiments.report import answer, write_comparison
    from activitykit.scenario.schema import Headline, Objective

    grid = {"server.job_handlers": [1, 2, 4, 8]}
    res = run_sweep(Scenario(seed=3), grid, replications=3, run_fn=queue_model, report=False)
    objective = Objective(figure="latency", at_most=40.0)
    text = answer(res.points, objective, "server.job_handlers", res.params)
    # 100/h: 1 -> 100, 2 -> 50, 4 -> 25, 8 -> 12.5 (plus noise of SIGMA)
    assert text == "The smallest server.job_handlers with latency <= 40 is 4."
    never = answer(res.points, Objective(figure="latency", at_most=1.0), "server.job_handlers",
                   res.params)  # fmt: skip
    assert never.startswith("No server.job_handlers in the sweep meets latency <= 1")
    head = Headline(figures=["latency", "latency"], objectives=[objective])
    page = write_comparison(
        tmp_path, res.runs, res.points, res.params, res.figures, headline=head
    ).read_text()
    assert page.count("<img") == 1  # the one headline figure, once
    assert html.escape(text) in page
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == [
        "latency-vs-server.job_handlers.png"
    ]


def test_failed_runs_are_recorded_and_retried_on_resume(tmp_path: Path) -> None:
    grid = ["server.job_handlers=1,3"]
    first = run_sweep(Scenario(), grid, 2, out_dir=tmp_path, run_fn=flaky_model)
    assert first.failed == 2 and first.ran == 4
    failed = first.runs[first.runs["status"] == "failed"]
    assert set(failed["server.job_handlers"]) == {3}
    assert failed["error"].str.startswith("RuntimeError: handler pool of 3 broke").all()
    assert failed["latency"].isna().all()
    bad = first.points[first.points["server.job_handlers"] == 3].iloc[0]
    assert bad["failed"] == 2 and bad["latency.n"] == 0 and np.isnan(bad["latency.mean"])
    assert len(first.failures) == 2

    again = run_sweep(Scenario(), grid, 2, out_dir=tmp_path, run_fn=queue_model)
    assert (again.ran, again.skipped, again.failed) == (2, 2, 0)
    assert len(again.runs) == 4 and set(again.runs["status"]) == {"ok"}
    ok_before = first.runs[first.runs["status"] == "ok"].reset_index(drop=True)
    ok_after = again.runs[again.runs["server.job_handlers"] == 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(ok_before, ok_after)


def test_resume_skips_done_runs_and_adds_new_ones(tmp_path: Path) -> None:
    calls: list[int] = []

    def counting(scenario: Scenario, run_dir: Path | None) -> dict[str, float]:
        calls.append(scenario.seed)
        return queue_model(scenario, run_dir)

    run_sweep(Scenario(), ["server.job_handlers=1,2"], 2, out_dir=tmp_path, run_fn=counting)
    assert len(calls) == 4
    res = run_sweep(Scenario(), ["server.job_handlers=1,2,4"], 3, out_dir=tmp_path, run_fn=counting)
    assert len(calls) == 4 + (9 - 4)
    assert (res.ran, res.skipped) == (5, 4)
    assert len(res.runs) == 9 and len(res.points) == 3
    assert list(res.points["server.job_handlers"]) == [1, 2, 4]
    # asking for less reports on exactly that; the table on disk keeps everything
    few = run_sweep(Scenario(), ["server.job_handlers=2"], 2, out_dir=tmp_path, run_fn=counting)
    assert len(calls) == 9 and (few.ran, few.skipped) == (0, 2)
    assert list(few.runs["seed"]) == [0, 1] and list(few.points["latency.n"]) == [2]
    assert len(pd.read_parquet(tmp_path / "runs.parquet")) == 9
    assert len(pd.read_parquet(tmp_path / "points.parquet")) == 1


def test_a_results_dir_of_another_scenario_is_refused(tmp_path: Path) -> None:
    run_sweep(Scenario(), ["server.job_handlers=1"], 1, out_dir=tmp_path, run_fn=queue_model)
    with pytest.raises(InputError, match="different scenario"):
        run_sweep(
            Scenario(duration=60.0),
            ["server.job_handlers=1"],
            1,
            out_dir=tmp_path,
            run_fn=queue_model,
        )
    with pytest.raises(InputError, match="same --grid keys"):
        run_sweep(Scenario(), ["server.prefetch=1"], 1, out_dir=tmp_path, run_fn=queue_model)


def test_sweep_json_is_replaced_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A sweep killed (or a disk filling up) while it wrote sweep.json left half a file, and
    # every later sweep into the directory was refused as "not a sweep manifest".
    run_sweep(Scenario(), ["server.job_handlers=1"], 1, out_dir=tmp_path, run_fn=queue_model)
    before = (tmp_path / "sweep.json").read_text()
    real = Path.write_text

    def half_then_full_disk(self: Path, data: str, *args: object, **kwargs: object) -> int:
        real(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_full_disk)
    with pytest.raises(OSError, match="No space left"):
        run_sweep(Scenario(), ["server.job_handlers=1"], 1, out_dir=tmp_path, run_fn=queue_model)
    monkeypatch.undo()
    assert (tmp_path / "sweep.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []
    again = run_sweep(
        Scenario(), ["server.job_handlers=1"], 1, out_dir=tmp_path, run_fn=queue_model
    )
    assert again.skipped == 1


def test_a_bad_grid_point_is_refused_before_any_run(tmp_path: Path) -> None:
    calls: list[int] = []

    def counting(scenario: Scenario, run_dir: Path | None) -> dict[str, float]:
        calls.append(1)
        return {}

    with pytest.raises(InputError, match=r"server\.job_handlers=-1"):
        run_sweep(Scenario(), ["server.job_handlers=1,-1"], 2, run_fn=counting)
    assert calls == []
    with pytest.raises(InputError, match="at least 1"):
        run_sweep(Scenario(), [], 1, workers=0, run_fn=counting)
    with pytest.raises(InputError, match="--out"):
        run_sweep(Scenario(), [], 1, keep_runs=True, run_fn=counting)


def test_keep_runs_gives_each_run_its_directory(tmp_path: Path) -> None:
    res = run_sweep(
        Scenario(),
        {"server.job_handlers": [1, 2]},
        2,
        out_dir=tmp_path,
        keep_runs=True,
        run_fn=queue_model,
        report=False,
    )
    for rid, seed in zip(res.runs["run_id"], res.runs["seed"], strict=True):
        assert (tmp_path / "runs" / rid / "marker.txt").read_text() == f"{seed}\n"
    assert not (tmp_path / "report.html").exists()


def test_string_and_mapping_grid_values_are_stored(tmp_path: Path) -> None:
    res = run_sweep(
        Scenario(),
        [
            "model.profile=result-wins,cancel-sticky",
            "server.default_handler.duration={dist: exponential, mean: 5},2",
        ],
        1,
        out_dir=tmp_path,
        run_fn=queue_model,
    )
    stored = pd.read_parquet(tmp_path / "runs.parquet")
    assert set(stored["model.profile"]) == {"result-wins", "cancel-sticky"}
    assert set(stored["server.default_handler.duration"]) == {
        '{"dist": "exponential", "mean": 5}',
        "2",
    }
    assert len(res.points) == 4 and (tmp_path / "report.html").exists()


def test_smallest_configuration_meeting_an_objective() -> None:
    res = run_sweep(Scenario(), ["server.job_handlers=1,2,4,8"], 5, run_fn=queue_model)
    # true latencies 100, 50, 25, 12.5; sigma 2 over 5 runs gives CIs of about +-2.5
    best = smallest_meeting(res.points, {"latency": 30.0}, cost="server.job_handlers")
    assert best is not None and best["server.job_handlers"] == 4
    assert best["latency.ci_high"] <= 30.0
    assert smallest_meeting(res.points, {"latency": 5.0}, cost="server.job_handlers") is None
    # a lower limit too: "noise" is uniform(0, 1) per run, its mean passes 0 confidently
    both = smallest_meeting(
        res.points, {"latency": 60.0}, at_least={"noise": 0.0}, cost="server.job_handlers"
    )
    assert both is not None and both["server.job_handlers"] == 2
    # cost as a function returning a tuple: prefer many handlers (odd, but orderable)
    most = smallest_meeting(
        res.points, {"latency": 200.0}, cost=lambda r: (-r["server.job_handlers"],)
    )
    assert most is not None and most["server.job_handlers"] == 8
    # by the mean alone, a limit just above the true mean passes, confidently it does not
    near = {"latency": 25.0 + 0.5}
    assert meets(res.points, near, confident=True).sum() == 1  # only 8 handlers
    with pytest.raises(KeyError, match="no key figure"):
        smallest_meeting(res.points, {"latencies": 1.0}, cost="server.job_handlers")
    with pytest.raises(ValueError, match="at least one objective"):
        smallest_meeting(res.points, cost="server.job_handlers")


@pytest.mark.slow
def test_results_do_not_depend_on_the_worker_count(tmp_path: Path) -> None:
    grid = ["server.job_handlers=1,2", "server.prefetch=1,3"]
    one = run_sweep(Scenario(seed=9), grid, 3, workers=1, run_fn=flaky_model)
    two = run_sweep(
        Scenario(seed=9),
        grid,
        3,
        workers=2,
        run_fn=flaky_model,
        out_dir=tmp_path,
        keep_runs=True,
    )
    cols = [c for c in one.runs.columns if c not in ("wall_time", "cpu_time", "worker")]
    pd.testing.assert_frame_equal(one.runs[cols], two.runs[cols])
    pd.testing.assert_frame_equal(one.points, two.points)
    assert two.runs["worker"].nunique() == 2  # really spread over two processes
    assert len(list((tmp_path / "runs").glob("*/marker.txt"))) == 12


@pytest.mark.slow
def test_an_existing_scheduler_runs_the_sweep(tmp_path: Path) -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        res = run_sweep(
            Scenario(seed=2),
            ["server.job_handlers=1,2"],
            2,
            scheduler=cluster.scheduler_address,
            out_dir=tmp_path,
            run_fn=flaky_model,
        )
        assert len(cluster.scheduler.workers) == 1  # the sweep left the cluster running
    local = run_sweep(Scenario(seed=2), ["server.job_handlers=1,2"], 2, run_fn=flaky_model)
    cols = ["run_id", "seed", "status", "latency", "noise"]
    pd.testing.assert_frame_equal(res.runs[cols], local.runs[cols])


def dying_model(scenario: Scenario, run_dir: Path | None) -> dict[str, float]:
    if scenario.server.job_handlers == 3:
        os._exit(3)  # the worker process dies, as on a segfault or the OOM killer
    return queue_model(scenario, run_dir)


@pytest.mark.slow
def test_a_run_that_kills_its_worker_is_recorded(tmp_path: Path) -> None:
    res = run_sweep(
        Scenario(),
        ["server.job_handlers=1,3"],
        1,
        workers=2,
        run_fn=dying_model,
        out_dir=tmp_path,
        report=False,
    )
    assert res.failed == 1 and res.ran == 2
    lost = res.runs[res.runs["status"] == "failed"].iloc[0]
    assert lost["server.job_handlers"] == 3
    assert lost["error"].startswith("worker lost: ")
    assert res.runs.loc[res.runs["status"] == "ok", "server.job_handlers"].tolist() == [1]


@pytest.mark.slow
def test_replicate_intervals_cover_a_known_mean_95_percent_of_the_time() -> None:
    """End to end (seeds, tables, intervals): 200 experiments of 5 replications each."""
    trials, hits = 200, 0
    for k in range(trials):
        rep = replicate(Scenario(seed=1000 * k), 5, run_fn=queue_model)
        hits += rep.intervals["latency"].contains(50.0)  # 2 job-handlers: 100 / 2
    # binomial sd of the estimate: sqrt(.95 * .05 / 200) = 0.015; allow about 3 sd
    assert 0.90 <= hits / trials <= 0.995, hits / trials
