"""Replications: one scenario, ``n`` seeds, every key figure as a mean with a CI.

This is a sweep with an empty grid; it exists as its own function (and as
``activitykit run --replications N``) because "how sure am I of this number?" is the first
question after any single run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..scenario.schema import Scenario
from .execute import RunFn
from .stats import Interval, figure_ci
from .sweep import run_sweep

__all__ = [
    "ReplicationResult",
    "format_intervals",
    "replicate",
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
    head = ("figure", "mean", f"{conf:.0%} CI", "n", "interval")
    rows = [
        (name, _fmt(iv.mean), f"[{_fmt(iv.low)}, {_fmt(iv.high)}]", str(iv.n), iv.method)
        for name, iv in intervals.items()
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
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
    intervals = {f: figure_ci(f, ok[f].to_numpy(dtype=float), confidence) for f in res.figures}
    return ReplicationResult(res.runs, intervals, res.failed, res.out_dir)
