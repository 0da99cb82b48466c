"""Benchmark: report a large run (default 1M activities) and compare with reading its trace.

Builds a synthetic, rule-abiding trace (``activitykit.reports.synthetic``) as a Parquet run
directory, then times, in this process:

- baseline: ``pyarrow.parquet.read_table`` + ``to_pandas`` of the trace (the least any
  report must do: get the records into memory);
- ``load_run`` (validated read via ``activitykit.trace.as_frame`` + activity table);
- ``key_figures`` (every figure of KEY_FIGURE_NAMES, from scratch on the loaded trace);
- ``write_report`` (every figure, table and export; the conformance check is timed
  separately with --check, as it is the checker's cost, not the report's).

Prints wall and CPU time of each step and the wall-time ratio to the baseline (on a
shared machine, compare CPU times too: pyarrow reads with several threads). Usage:

    .venv/bin/python benchmarks/bench_report.py [--activities N] [--check] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from activitykit.reports import key_figures, load_run, write_report
from activitykit.reports.synthetic import synthetic_trace
from activitykit.trace import ARROW_SCHEMA, as_frame


def _timed(label: str, fn, baseline: float | None = None):
    """Run ``fn``; print wall and CPU seconds (CPU matters on a shared machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    ratio = f"  ({dt / baseline:5.1f} x baseline)" if baseline else ""
    print(f"{label:<44} {dt:8.2f} s wall {cpu:8.2f} s cpu{ratio}", flush=True)
    return result, dt, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--activities", type=int, default=1_000_000)
    ap.add_argument("--check", action="store_true", help="also time the conformance section")
    ap.add_argument("--keep", metavar="DIR", help="write the run here and keep it")
    args = ap.parse_args()

    run_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_report_"))
    run_dir.mkdir(parents=True, exist_ok=True)
    n = args.activities
    duration = max(3600.0, n * 3.6)  # ~1000 activities created per hour of simulated time
    try:
        frame, _, _ = _timed(
            f"generate synthetic trace ({n} activities)",
            lambda: synthetic_trace(n, duration=duration, group_size=200, groups=20),
        )
        table = pa.Table.from_pandas(frame, schema=ARROW_SCHEMA, preserve_index=False)
        del frame
        pq.write_table(table, run_dir / "trace.parquet")
        print(
            f"trace: {table.num_rows} records, "
            f"{(run_dir / 'trace.parquet').stat().st_size / 1e6:.1f} MB Parquet"
        )
        del table

        _, base, base_cpu = _timed(
            "BASELINE pyarrow read_table + to_pandas",
            lambda: pq.read_table(run_dir / "trace.parquet").to_pandas(),
        )
        _timed(
            "  for reference: kit reader as_frame alone",
            lambda: as_frame(run_dir / "trace.parquet"),
            base,
        )
        run, t_load, c_load = _timed(
            "load_run (as_frame + activity_table)", lambda: load_run(run_dir), base
        )
        figs, t_key, c_key = _timed(
            "key_figures (from the loaded trace)",
            lambda: key_figures(run.trace, warmup=run.warmup, end=run.end),
            base,
        )
        _, t_rep, c_rep = _timed(
            "write_report (no conformance check)",
            lambda: write_report(run, run_dir / "report.html", check=False),
            base,
        )
        total, cpu = t_load + t_key + t_rep, c_load + c_key + c_rep
        print(
            f"{'TOTAL load_run + key_figures + write_report':<44} {total:8.2f} s wall "
            f"{cpu:8.2f} s cpu  ({total / base:5.1f} x baseline wall, "
            f"{cpu / base_cpu:5.1f} x baseline cpu)"
        )
        if args.check:
            from activitykit.check import check

            trace = run_dir / "trace.parquet"
            _timed("conformance check (activitykit.check)", lambda: check(trace), base)
        print(
            f"all.created={figs['all.created']:.0f} all.finished={figs['all.finished']:.0f} "
            f"all.total.p50={figs['all.total.p50']:.1f}s "
            f"all.throughput_per_hour={figs['all.throughput_per_hour']:.1f}"
        )
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
