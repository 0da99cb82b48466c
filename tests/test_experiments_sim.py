"""Replications and sweeps with the real simulator: seeds, warm-up, workers."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from activitykit.experiments import mean_ci, replicate, run_sweep
from activitykit.reports.metrics import key_figures
from activitykit.runner import run_scenario
from activitykit.scenario import loads_scenario

SCENARIO = """
name: tiny
seed: 7
duration: 1800
warmup: 600
fleet:
  groups:
    - name: fleet
      computers: 20
      ping_interval: 60
      handlers:
        ExecuteScriptRequest: {duration: {dist: exponential, mean: 20}}
server:
  job_handlers: 1
  handlers:
    GenerateUsgReportActivity: {duration: {dist: exponential, mean: 20}}
workload:
  arrivals:
    - {name: scripts, type: ExecuteScriptRequest, rate: 0.03}
    - {name: reports, type: GenerateUsgReportActivity, rate: 0.02}
output: {report: false}
"""


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_each_replication_is_the_run_of_its_seed() -> None:
    scenario = loads_scenario(SCENARIO)
    rep = replicate(scenario, 3)
    assert rep.failed == 0 and list(rep.runs["seed"]) == [7, 8, 9]
    for row in rep.runs.to_dict("records"):
        alone = run_scenario(scenario, None, seed=row["seed"]).key_figures
        assert all(_same(row[k], v) for k, v in alone.items()), row["seed"]
    p90 = rep.intervals["client.total.p90"]
    assert p90.n == 3
    want = mean_ci(rep.runs["client.total.p90"], nonnegative=True)  # a key figure: bootstrap
    assert (p90.low, p90.high) == pytest.approx((want.low, want.high))
    assert p90.low < p90.mean < p90.high


def test_key_figures_leave_out_the_warm_up(tmp_path: Path) -> None:
    # (seed 8: under seed 7 the p90 of this small sample happens to be the same value with
    # and without the warm-up)
    scenario = loads_scenario(SCENARIO.replace("seed: 7", "seed: 8"))
    row = replicate(scenario, 1).runs.iloc[0]
    result = run_scenario(scenario, tmp_path / "run", seed=8)
    trace = pd.read_parquet(result.trace_path)
    end = result.summary["end_t"]
    after = key_figures(trace, warmup=600.0, end=end, handlers=1)
    from_zero = key_figures(trace, warmup=0.0, end=end, handlers=1)
    assert all(_same(row[k], v) for k, v in after.items())
    assert row["all.throughput_per_hour"] != from_zero["all.throughput_per_hour"]
    assert row["client.total.p90"] != from_zero["client.total.p90"]


def test_a_sweep_of_job_handlers_moves_the_server_queue(tmp_path: Path) -> None:
    scenario = loads_scenario(SCENARIO.replace("report: false", "report: true"))
    assert scenario.output.report
    res = run_sweep(
        scenario, ["server.job_handlers=1,4"], 3, out_dir=tmp_path, keep_runs=True, report=False
    )
    assert res.failed == 0 and len(res.runs) == 6
    wait = res.points.set_index("server.job_handlers")["server.queue_wait.mean.mean"]
    assert wait[4] <= wait[1]
    # common random numbers: the client side does not depend on the server's handlers
    client = res.points.set_index("server.job_handlers")["client.total.p90.mean"]
    assert client[1] == client[4]
    for rid in res.runs["run_id"]:
        run_dir = tmp_path / "runs" / rid
        assert (run_dir / "summary.json").exists() and (run_dir / "trace.parquet").exists()
        assert not (run_dir / "report.html").exists()  # sweeps skip per-run reports


@pytest.mark.slow
def test_real_sweep_results_do_not_depend_on_workers(tmp_path: Path) -> None:
    scenario = loads_scenario(SCENARIO)
    grid = ["server.job_handlers=1,2", "fleet.groups.0.ping_interval=30,60"]
    one = run_sweep(scenario, grid, 2, workers=1)
    two = run_sweep(scenario, grid, 2, workers=2, out_dir=tmp_path, report=False)
    cols = [c for c in one.runs.columns if c not in ("wall_time", "cpu_time", "worker")]
    pd.testing.assert_frame_equal(one.runs[cols], two.runs[cols])
    pd.testing.assert_frame_equal(one.points, two.points)
