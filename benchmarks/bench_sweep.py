"""Benchmark: a sweep of 8 runs on 2 dask workers against the same 8 runs one after another.

Baseline: a plain loop calling ``activitykit.runner.run_scenario`` for each run, in this
process. Candidate: ``activitykit.experiments.run_sweep(..., workers=2)``, which starts a
dask LocalCluster of two single-threaded worker processes, ships the runs, collects the
figures and writes the Parquet tables (the cluster's start-up is inside the timing).
Both compute the same runs (grid ``server.job_handlers`` x replications, seeds
``seed + i``); the script checks that their key figures agree exactly, then prints both wall
times and the ratio. Target on a 2-core machine: >= 1.7x.

Before and after, it measures the machine's ceiling: the speed-up of plain-Python loops in
as many processes. On a shared machine (other people's jobs, Linux autogroup scheduling,
virtual CPUs) the ceiling itself can be far below 2, and then so is any sweep's ratio.

Each run must take several seconds for the fixed costs of dask (start-up, imports in the
workers, shipping results) to be amortised; the default is ``scenarios/baseline.yaml``
stretched to eight simulated days (``--set duration=691200``: 2-4 s of CPU per run).

    python benchmarks/bench_sweep.py [--scenario FILE] [--set KEY=VALUE ...] [--workers 2]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

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
        help="scenario overrides (default: duration=691200)",
    )
    ap.add_argument("--grid", default="server.job_handlers=1,2,3,4")
    ap.add_argument("--replications", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    from activitykit.experiments import (
        apply_values,
        expand,
        parse_axis,
        replication_seeds,
        run_sweep,
    )
    from activitykit.runner import run_scenario
    from activitykit.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.set or ["duration=691200"])
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

    # baseline: one after another, in this process
    started, cpu_started = time.perf_counter(), time.process_time()
    serial: dict[str, dict[str, float]] = {}
    for spec in specs:
        variant = apply_values(scenario, spec.values)
        result = run_scenario(variant, None, seed=spec.seed)
        serial[spec.run_id] = result.summary["key_figures"]
    t_serial = time.perf_counter() - started
    cpu_serial = time.process_time() - cpu_started
    print(
        f"sequential, 1 process : {t_serial:7.2f} s  ({t_serial / len(specs):.2f} s per run; "
        f"{cpu_serial:.1f} CPU s)"
    )

    # candidate: the sweep on a local dask cluster (cluster start-up included)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        res = run_sweep(
            scenario,
            [axis],
            args.replications,
            workers=args.workers,
            out_dir=Path(tmp) / "sweep",
            report=False,
            progress=False,
        )
        t_sweep = time.perf_counter() - started
    cpu_runs = float(res.runs["cpu_time"].sum())
    print(
        f"sweep, {args.workers} dask workers : {t_sweep:7.2f} s  "
        f"({cpu_runs:.1f} CPU s in the runs; the CPU the workers got: "
        f"{cpu_runs / t_sweep:.2f} cores)"
    )
    if res.failed:
        print(f"FAILED: {res.failed} sweep run(s) failed:\n{res.failures}", file=sys.stderr)
        return 1

    mismatches = 0
    for row in res.runs.to_dict("records"):
        for name, want in serial[row["run_id"]].items():
            got = row[name]
            if not (got == want or (math.isnan(got) and math.isnan(want))):
                mismatches += 1
    busiest = float(res.runs.groupby("worker")["wall_time"].sum().max())
    print(
        f"dask overhead: {t_sweep - busiest:.2f} s (sweep wall time minus the busiest "
        "worker's time inside runs: start-up, shipping, tables)"
    )
    print(f"key figures identical between the two: {'yes' if not mismatches else 'NO'}")
    print(
        f"machine load: the sequential loop got {cpu_serial / t_serial:.2f} of a core "
        "(other processes share the cores; both figures are needed to read the ratio)"
    )
    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
    if autogroup.exists() and autogroup.read_text().strip() == "1":
        print(
            "note: sched_autogroup is on: the kernel shares CPU fairly between sessions, and "
            "all processes of this one share one session's share; while other sessions keep "
            "the cores busy, two workers get no more CPU than one process"
        )
    ratio = t_serial / t_sweep
    after = ceiling(args.workers)
    print(f"machine ceiling after: plain Python loops in {args.workers} processes: {after:.2f}x")
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(f"speed-up: {ratio:.2f}x (target >= {TARGET}x with 2 workers on 2 cores: {verdict})")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
