"""Replications: one scenario, ``n`` seeds, every key figure as a mean with a CI.

This is a sweep with an empty grid; it exists as its own function (and as
``activitykit run --replications N``) because "how sure am I of this number?" is the first
question after any single run.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..scenario.schema import Scenario
from .execute import RunFn
from .stats import Interval, mean_ci
from .sweep import run_sweep

__all__ = [
    "ReplicationResult",
    "add_replication_args",
    "format_intervals",
    "replicate",
    "run_replications_from_args",
]


@dataclass
class ReplicationResult:
    """Per-run figures and, per figure, the mean and confidence interval over runs."""

    runs: pd.DataFrame
    intervals: dict[str, Interval]
    failed: int
    out_dir: Path | None = None

    @property
    def ok(self) -> int:
        return int((self.runs["status"] == "ok").sum())

    def table(self) -> pd.DataFrame:
        """One row per key figure: n, mean, std, ci_low, ci_high, half_width."""
        return pd.DataFrame(
            [
                {
                    "figure": name,
                    "n": iv.n,
                    "mean": iv.mean,
                    "std": iv.std,
                    "ci_low": iv.low,
                    "ci_high": iv.high,
                    "half_width": iv.half_width,
                }
                for name, iv in self.intervals.items()
            ],
            columns=["figure", "n", "mean", "std", "ci_low", "ci_high", "half_width"],
        )

    def __str__(self) -> str:
        return format_intervals(self.intervals)


def _fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.4g}"


def format_intervals(intervals: dict[str, Interval]) -> str:
    """A plain-text table: figure, mean, CI, n."""
    if not intervals:
        return "(no key figures)\n"
    conf = next(iter(intervals.values())).confidence
    head = ("figure", "mean", f"{conf:.0%} CI", "n")
    rows = [
        (name, _fmt(iv.mean), f"[{_fmt(iv.low)}, {_fmt(iv.high)}]", str(iv.n))
        for name, iv in intervals.items()
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [head, *rows]
    ]
    return "\n".join(lines) + "\n"


def replicate(
    scenario: Scenario,
    n: int,
    *,
    out_dir: Path | str | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    run_fn: RunFn | None = None,
    keep_runs: bool = False,
    progress: bool | None = None,
    confidence: float = 0.95,
) -> ReplicationResult:
    """Run ``scenario`` with seeds ``scenario.seed + 0 .. n-1``; intervals per key figure.

    Key figures exclude the scenario's warm-up. With ``out_dir`` the runs table is stored
    there (``runs.parquet``, ``points.parquet``) and a re-run skips finished replications.
    """
    res = run_sweep(
        scenario,
        None,
        n,
        out_dir=out_dir,
        workers=workers,
        scheduler=scheduler,
        run_fn=run_fn,
        keep_runs=keep_runs,
        progress=progress,
        report=False,
        confidence=confidence,
    )
    ok = res.runs[res.runs["status"] == "ok"]
    intervals = {f: mean_ci(ok[f].to_numpy(dtype=float), confidence) for f in res.figures}
    return ReplicationResult(res.runs, intervals, res.failed, res.out_dir)


def add_replication_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--replications N``, ``--workers K`` and ``--scheduler ADDRESS`` to ``parser``."""
    parser.add_argument(
        "--replications",
        type=int,
        metavar="N",
        default=None,
        help="run N seeds (seed, seed+1, ...) and report each key figure as mean and 95%% CI",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="K",
        default=1,
        help="with --replications: run on a local dask cluster of K processes (default 1)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="with --replications: run on the dask scheduler at ADDRESS instead",
    )


def run_replications_from_args(args: argparse.Namespace, scenario: Scenario) -> int:
    """The ``--replications`` branch of ``activitykit run``; returns the exit code.

    Uses ``args.seed`` (if set) as the first seed and ``args.out`` as the directory
    (default ``runs/<scenario>-x<N>``); each replication's run files go under its
    ``runs/<run_id>/``. Exit 0 when all runs succeeded, 1 when any failed.
    """
    from ..errors import InputError

    n = args.replications
    if n is None or n < 1:
        raise InputError(f"--replications ({n}) must be at least 1")
    seed = getattr(args, "seed", None)
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": int(seed)})
    out = getattr(args, "out", None)
    out_dir = Path(out) if out else Path("runs") / f"{scenario.name}-x{n}"
    quiet = bool(getattr(args, "quiet", False))
    res = replicate(
        scenario,
        n,
        out_dir=out_dir,
        workers=getattr(args, "workers", 1) or 1,
        scheduler=getattr(args, "scheduler", None),
        keep_runs=True,
        progress=None if not quiet else False,
    )
    if not quiet:
        print(
            f"{scenario.name}: {res.ok} of {len(res.runs)} replication(s) ok; "
            f"key figures after warm-up {scenario.warmup:g} s:"
        )
        sys.stdout.write(str(res))
        print(f"results in {out_dir}")
    for err in res.runs.loc[res.runs["status"] != "ok", "error"]:
        print(f"failed run: {err.splitlines()[0]}", file=sys.stderr)
    return 1 if res.failed else 0
