"""Benchmark: a sweep of 8 runs on 2 dask workers against the same 8 runs one after another.

Baseline: a plain loop calling ``activitykit.runner.run_scenario`` for each run, in this
process. Candidate: ``activitykit.experiments.run_sweep(..., workers=2)``, which starts a
dask LocalCluster of two single-threaded worker processes, ships the runs, collects the
figures and writes the Parquet tables (the cluster's start-up is inside the timing).
Both compute the same runs (grid ``server.job_handlers`` x replications, seeds
``seed + i``); the script checks that their key figures agree exactly, then prints both wall
times and the ratio. Target on a 2-core machine: >= 1.7x.

It runs both ``--rounds`` times (default 3), reversing the order every other round, each
sweep on a cold cluster, and judges the median of the rounds' ratios: the machine is
shared, and a single pair of timings moves by 10-15% with other people's load.

Each round also runs the same runs on two bare processes, started and warmed before the
clock starts (no start-up, no scheduler): the workload ceiling, what the cores give this
simulator at that moment. The sweep's ratio divided by it is what dask costs; the rest of
the distance to 2x is the machine (two memory-hungry runs side by side each run slower).
Before and after, it also prints the speed-up of plain-Python loops in as many processes.

Each run must take several seconds for the fixed costs of dask (start-up, imports in the
workers, shipping results) to be amortised; the default is ``scenarios/baseline.yaml``
stretched to twelve simulated days (``--set duration=1036800``: 3-5 s of CPU per run).

    python benchmarks/bench_sweep.py [--scenario FILE] [--set KEY=VALUE ...] [--workers 2]
                                     [--rounds 3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from activitykit.experiments import GridAxis, RunSpec, SweepResult
    from activitykit.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.7


def _spin(n: int) -> float:
    """A plain-Python CPU loop; returns its wall time."""
    started = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i % 7
    return time.perf_counter() - started


def ceiling(workers: int, n: int = 6_000_000) -> float:
    """The speed-up this machine gives right now to ``workers`` plain-Python processes.

    No scheme of ``workers`` processes can beat it: it shows what the cores (and whoever
    else is using them) allow, so the sweep's ratio can be read against it.
    """
    import multiprocessing

    started = time.perf_counter()
    for _ in range(workers):
        _spin(n)
    alone = time.perf_counter() - started
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_spin, [n] * workers)
    return alone / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "baseline.yaml"))
    ap.add_argument(
        "--set",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="scenario overrides (default: duration=1036800)",
    )
    ap.add_argument("--grid", default="server.job_handlers=1,2,3,4")
    ap.add_argument("--replications", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="sequential-vs-sweep rounds; the verdict is on their median ratio (default: 3)",
    )
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error(f"--rounds ({args.rounds}) must be at least 1")

    from activitykit.experiments import expand, parse_axis, replication_seeds
    from activitykit.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.set or ["duration=1036800"])
    axis = parse_axis(args.grid)
    specs = expand([axis], replication_seeds(scenario.seed, args.replications))
    print(
        f"scenario {scenario.name}: {len(specs)} runs ({axis.key} x {args.replications} seeds), "
        f"duration {scenario.duration:g} s simulated"
    )

    print(
        f"machine ceiling now: plain Python loops in {args.workers} processes: "
        f"{ceiling(args.workers):.2f}x"
    )

    ratios: list[float] = []
    bare_ratios: list[float] = []
    mismatches = 0
    for round_no in range(1, args.rounds + 1):
        # reverse the order every other round, so a drift in the machine's load favours none
        order = ("serial", "sweep", "bare") if round_no % 2 else ("bare", "sweep", "serial")
        times: dict[str, float] = {}
        for which in order:
            if which == "serial":
                times["serial"], serial = _sequential(scenario, specs)
            elif which == "sweep":
                times["sweep"], res = _sweep(scenario, axis, args.replications, args.workers)
            else:
                times["bare"] = _bare_processes(scenario, specs, args.workers)
        if res.failed:
            print(f"FAILED: {res.failed} sweep run(s) failed:\n{res.failures}", file=sys.stderr)
            return 1
        mismatches += _mismatches(serial, res.runs)
        ratios.append(times["serial"] / times["sweep"])
        bare_ratios.append(times["serial"] / times["bare"])
        cpu_runs = float(res.runs["cpu_time"].sum())
        busiest = float(res.runs.groupby("worker")["wall_time"].sum().max())
        print(
            f"round {round_no} ({', '.join(order)}): sequential {times['serial']:6.2f} s; "
            f"sweep {times['sweep']:6.2f} s -> {ratios[-1]:.2f}x; "
            f"bare processes {times['bare']:6.2f} s -> {bare_ratios[-1]:.2f}x\n"
            f"    sweep: workers got {cpu_runs / times['sweep']:.2f} cores; dask overhead "
            f"{times['sweep'] - busiest:.2f} s (sweep wall time minus the busiest worker's time "
            "inside runs)"
        )

    same = "yes" if not mismatches else f"NO ({mismatches} figures differ)"
    print(f"key figures identical between sequential runs and sweep, every round: {same}")
    after = ceiling(args.workers)
    print(f"machine ceiling after: plain Python loops in {args.workers} processes: {after:.2f}x")
    bare = statistics.median(bare_ratios)
    ratio = statistics.median(ratios)
    print(
        f"workload ceiling: the same runs on {args.workers} bare, already started processes: "
        f"{bare:.2f}x median (what the cores give this simulator now; no sweep can beat it)"
    )
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(
        f"speed-up: {ratio:.2f}x median of {len(ratios)} rounds "
        f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x; {ratio / bare:.0%} of the workload "
        f"ceiling; target >= {TARGET}x with 2 workers on 2 cores: {verdict})"
    )
    return 1 if mismatches else 0


def _sequential(
    scenario: Scenario, specs: list[RunSpec]
) -> tuple[float, dict[str, dict[str, float]]]:
    """The baseline: the runs one after another in this process; wall time and figures."""
    from activitykit.experiments import apply_values
    from activitykit.runner import run_scenario

    started = time.perf_counter()
    figures: dict[str, dict[str, float]] = {}
    for spec in specs:
        result = run_scenario(apply_values(scenario, spec.values), None, seed=spec.seed)
        figures[spec.run_id] = result.key_figures
    return time.perf_counter() - started, figures


def _warm() -> None:
    import activitykit.runner  # noqa: F401 - imported before the clock starts


def _ready(_: int) -> None:
    time.sleep(0.5)  # long enough that every process of the pool takes one


def _bare_run(job: tuple[Scenario, int]) -> None:
    from activitykit.runner import run_scenario

    run_scenario(job[0], None, seed=job[1])


def _bare_processes(scenario: Scenario, specs: list[RunSpec], workers: int) -> float:
    """The runs on ``workers`` plain processes, started and warmed before the clock starts.

    No start-up, no scheduler, no tables: what the cores give this workload right now.
    Two runs side by side each take longer than one alone (shared caches, memory, and
    whoever else is on the host), so this is the ceiling for any sweep, dask or not.
    """
    import multiprocessing

    from activitykit.experiments import apply_values

    jobs = [(apply_values(scenario, spec.values), spec.seed) for spec in specs]
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_warm) as pool:
        pool.map(_ready, range(workers), chunksize=1)
        started = time.perf_counter()
        pool.map(_bare_run, jobs, chunksize=1)
        return time.perf_counter() - started


def _sweep(
    scenario: Scenario, axis: GridAxis, replications: int, workers: int
) -> tuple[float, SweepResult]:
    """The candidate: ``run_sweep`` on a fresh local cluster (its start-up timed too)."""
    import multiprocessing.forkserver

    from activitykit.experiments import run_sweep

    # start cold, as `activitykit sweep` does: stop the fork server an earlier round left
    # running (a notebook's second sweep would reuse it and start faster than this)
    stop = getattr(multiprocessing.forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        res = run_sweep(
            scenario,
            [axis],
            replications,
            workers=workers,
            out_dir=Path(tmp) / "sweep",
            report=False,
            progress=False,
        )
        return time.perf_counter() - started, res


def _mismatches(serial: dict[str, dict[str, float]], runs: Any) -> int:
    """How many key figures differ between the sequential runs and the sweep's rows."""
    count = 0
    for row in runs.to_dict("records"):
        for name, want in serial[row["run_id"]].items():
            got = row[name]
            if not (got == want or (math.isnan(got) and math.isnan(want))):
                count += 1
    return count


if __name__ == "__main__":
    sys.exit(main())
