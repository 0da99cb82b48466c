"""Benchmark: the optimised simulator against the direct SimPy baseline, in one process run.

The benchmark fleet of issue 4 (item 5): 20,000 computers for 6 simulated hours, client
ExecuteScriptRequest arriving Poisson 2/s lasting exp(mean 20 s) with 5% failures, server
GenerateUsgReportActivity Poisson 0.5/s lasting exp(mean 5 s), 4 job-handlers, default
intervals (900/60/30 s). Both models trace to JSON Lines in a temporary directory and feed
every record to the online checker, placed alike: the simulator's ``check=True`` puts it in a
checker process on another core for a run this size when the machine has a second CPU
(``activitykit.check.CheckerProcess``), and the baseline then checks the same way, so the
ratio compares the models, not the checkers (``--check inline`` keeps both in-process).
Prints both wall times, the ratio, where the records were checked, and the work counts so the
two runs can be compared (same activity rates; their numbers differ only by randomness).
CPU times include the checker process's, when there is one.

Run: ``python benchmarks/bench_fleet.py [--computers N] [--hours H] [--seed S] [--check M]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from activitykit.scenario import Scenario, load_scenario
from activitykit.sim import simulate
from activitykit.trace import JsonlTraceWriter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def fleet_scenario(computers: int, hours: float, seed: int) -> Scenario:
    """``scenarios/bench-fleet.yaml`` (what ``run_baseline`` hard-codes), resized.

    Loaded from the bundled file, not re-spelled here, so the benchmark and the scenario users
    run can never drift apart.
    """
    return load_scenario(
        ROOT / "scenarios" / "bench-fleet.yaml",
        [f"fleet.groups.0.computers={computers}", f"duration={hours * 3600.0}", f"seed={seed}"],
    )


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (a checker process)."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def run_optimised(
    computers: int, hours: float, seed: int, check: bool | str = True
) -> dict[str, Any]:
    sc = fleet_scenario(computers, hours, seed)
    with tempfile.TemporaryDirectory(prefix="ak-bench-") as tmp:
        w = JsonlTraceWriter(Path(tmp) / "trace.jsonl")
        t0, c0 = time.perf_counter(), cpu_seconds()
        try:
            r = simulate(sc, writer=w, check=check)
        finally:
            w.close()
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {"wall_seconds": wall, "cpu_seconds": cpu, "result": r}


def _load_baseline():
    path = HERE / "baseline_direct_simpy.py"
    spec = importlib.util.spec_from_file_location("baseline_direct_simpy", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the baseline from {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--computers", type=int, default=20_000)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-baseline", action="store_true", help="time the simulator only")
    ap.add_argument(
        "--check",
        choices=["auto", "inline", "parallel"],
        default="auto",
        help="where both models check their records (default: as simulate(check=True) chooses)",
    )
    args = ap.parse_args(argv)

    opt = run_optimised(args.computers, args.hours, args.seed, args.check)
    r = opt["result"]
    c = r.counters
    print(
        f"optimised: {opt['wall_seconds']:.2f} s wall ({opt['cpu_seconds']:.2f} s CPU), "
        f"{r.records} records, {r.events} events, "
        f"{c['created']} activities, {c['exchanges']} exchanges "
        f"({c['exchanges_traced']} traced), {c['pings']} pings "
        f"({c['pings_simulated']} simulated), checked with {r.checked_with}"
    )
    if args.skip_baseline:
        return 0
    base = _load_baseline()
    placed = "parallel" if r.checked_with == "activitykit.check.CheckerProcess" else "inline"
    t0, c0 = time.perf_counter(), cpu_seconds()
    b = base.run_baseline(args.computers, args.hours, args.seed, online_checker=placed)
    bwall, bcpu = time.perf_counter() - t0, cpu_seconds() - c0
    shown = {k: v for k, v in b.items() if isinstance(v, int | float)}
    print(
        f"baseline:  {bwall:.2f} s wall ({bcpu:.2f} s CPU), checked with {b['checked_with']}, "
        f"{shown}"
    )
    # The machine is shared: CPU time is the steadier figure, wall time the one asked for.
    print(
        f"ratio (baseline / optimised): {bwall / opt['wall_seconds']:.1f}x wall, "
        f"{bcpu / opt['cpu_seconds']:.1f}x CPU"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
