"""Parameter sweeps: a grid of scenario variants times replications, on dask.

``run_sweep`` validates every grid point before any run starts (a typo in a key or an
out-of-range value is bad input, not a hundred failed runs), skips runs already stored in
``out_dir``, runs the rest serially or on dask.distributed with a progress bar, saves the
tables as runs finish, and writes the comparison report at the end.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._dirlock import dir_lock
from ..errors import InputError
from ..scenario.schema import Scenario
from .execute import RunFn, Task, run_dask, run_serial
from .grid import GridAxis, RunSpec, apply_values, expand, parse_axis, replication_seeds
from .stats import Interval, figure_ci
from .store import ResultsDir, figure_columns, points_table, runs_table

__all__ = ["GridLike", "SweepResult", "normalise_grid", "run_sweep"]

#: A grid as axes, as ``--grid`` texts, or as a mapping ``key -> values``.
GridLike = Sequence[GridAxis] | Sequence[str] | Mapping[str, Sequence[Any]]

#: Tables are saved at most this often while runs finish (s); always at the end.
_SAVE_EVERY = 2.0
#: Local worker processes at most: a typo (``--workers 10000``) would otherwise fork until
#: the machine runs out of memory before the first run starts.
MAX_LOCAL_WORKERS = 256


@dataclass
class SweepResult:
    """The tables of a sweep and what happened in this call."""

    runs: pd.DataFrame
    points: pd.DataFrame
    params: list[str]
    figures: list[str]
    ran: int
    skipped: int
    failed: int
    out_dir: Path | None = None
    report: Path | None = None
    confidence: float = 0.95
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)

    def interval(self, figure: str, **point: Any) -> Interval:
        """The confidence interval of ``figure`` at one grid point (``key=value`` per param).

        Dotted grid keys cannot be keyword names: pass ``**{"server.job_handlers": 2}``.
        """
        if figure not in self.figures:
            raise KeyError(f"no key figure {figure!r}; figures: {', '.join(self.figures)}")
        if set(point) != set(self.params):
            raise KeyError(f"give a value for each of {self.params}, got {sorted(point)}")
        sel = self.runs["status"] == "ok"
        for key, value in point.items():
            sel &= self.runs[key] == value
        return figure_ci(figure, self.runs.loc[sel, figure].to_numpy(dtype=float), self.confidence)


def normalise_grid(grid: GridLike | None) -> list[GridAxis]:
    """Accept axes, ``"key=v1,v2"`` texts or a ``{key: values}`` mapping."""
    if not grid:
        return []
    if isinstance(grid, Mapping):
        axes = []
        for key, values in grid.items():
            vals = tuple(values) if isinstance(values, list | tuple) else (values,)
            if not vals:
                raise InputError(f"grid key {key!r} has no values")
            axes.append(GridAxis(str(key), vals))
        return axes
    return [a if isinstance(a, GridAxis) else parse_axis(str(a)) for a in grid]


def _key(spec: RunSpec) -> str:
    return json.dumps(spec.point, sort_keys=True, default=str)


def _progress_bar(total: int, enabled: bool | None, desc: str) -> Any:
    from tqdm import tqdm  # plain text: tqdm.auto wants ipywidgets in notebooks

    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, disable=not show, unit="run", desc=desc, file=sys.stderr)


def run_sweep(
    scenario: Scenario,
    grid: GridLike | None,
    replications: int = 1,
    *,
    out_dir: Path | str | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    run_fn: RunFn | None = None,
    keep_runs: bool = False,
    progress: bool | None = None,
    report: bool = True,
    confidence: float = 0.95,
) -> SweepResult:
    """Run every grid point ``replications`` times (seeds ``scenario.seed + i``).

    ``workers == 1`` without ``scheduler`` runs in this process; otherwise runs go to a
    dask LocalCluster of ``workers`` processes, or to the scheduler at ``scheduler``.
    With ``out_dir``, tables (and with ``keep_runs``, each run's files under
    ``runs/<run_id>/``) are stored there and a re-run skips runs already done; failed runs
    are tried again. ``run_fn`` replaces the simulator (see ``execute.RunFn``).
    """
    if workers < 1:
        raise InputError(f"--workers ({workers}) must be at least 1")
    if scheduler is None and workers > MAX_LOCAL_WORKERS:
        raise InputError(
            f"--workers ({workers}) must be at most {MAX_LOCAL_WORKERS} local processes "
            "(each is a process with its own simulator); a larger pool needs --scheduler"
        )
    if keep_runs and out_dir is None:
        raise InputError("keeping each run's files needs an output directory (--out)")
    axes = normalise_grid(grid)
    params = [a.key for a in axes]
    specs = expand(axes, replication_seeds(scenario.seed, replications))
    variants: dict[str, Scenario] = {}  # grid values may be mappings: key by their JSON
    for spec in specs:
        if _key(spec) not in variants:
            variants[_key(spec)] = apply_values(scenario, spec.values)

    # one sweep at a time per directory: two would each rewrite runs.parquet without the
    # other's rows
    guard = contextlib.ExitStack()
    if out_dir:
        guard.enter_context(dir_lock(Path(out_dir), "sweep"))
    with guard:
        store = ResultsDir(Path(out_dir), scenario=scenario, params=params) if out_dir else None
        stored = store.open() if store else runs_table([], params, [])
        done = set(stored.loc[stored["status"] == "ok", "run_id"])
        wanted = {s.run_id for s in specs}
        kept = stored[stored["run_id"].isin(done) | ~stored["run_id"].isin(wanted)]
        todo = [s for s in specs if s.run_id not in done]
        tasks = [
            Task(
                spec,
                variants[_key(spec)],
                # absolute: workers may run elsewhere (a fork server keeps the cwd it started in)
                (store.path.resolve() / "runs" / spec.run_id) if (store and keep_runs) else None,
            )
            for spec in todo
        ]

        rows: list[dict[str, Any]] = []
        figures: list[str] = figure_columns(kept, params)

        def tables() -> tuple[pd.DataFrame, list[str]]:
            for row in rows:
                figures.extend(f for f in row["figures"] if f not in figures)
            new = runs_table(rows, params, figures)
            both = [f for f in (kept, new) if len(f)]
            merged = pd.concat(both, ignore_index=True) if both else new
            return runs_table(merged.to_dict("records"), params, figures), figures

        if workers == 1 and scheduler is None:
            stream: Iterator[dict[str, Any]] = run_serial(tasks, run_fn)
        else:
            stream = run_dask(tasks, run_fn, workers=workers, scheduler=scheduler)
        bar = _progress_bar(len(tasks), progress, scenario.name)
        last_save = time.monotonic()
        try:
            for row in stream:
                rows.append(row)
                bar.update(1)
                if row["status"] != "ok" and not bar.disable:  # else the caller lists failures
                    bar.write(f"run {row['run_id']} failed: {row['error'].splitlines()[0]}")
                if store and time.monotonic() - last_save > _SAVE_EVERY:
                    runs, names = tables()
                    store.save(runs, None, names)
                    last_save = time.monotonic()
        finally:
            bar.close()
            if store and rows:  # keep what finished, even when interrupted
                runs, names = tables()
                store.save(runs, None, names)

        stored_runs, names = tables()
        # the answer covers the runs asked for; runs.parquet keeps every run done in out_dir
        runs = stored_runs[stored_runs["run_id"].isin(wanted)].reset_index(drop=True)
        points = points_table(runs, params, names, confidence)
        report_path = None
        if store:
            store.save(stored_runs, points, names)
            if report:
                from .report import write_comparison

                report_path = write_comparison(
                    store.path, runs, points, params, names, confidence, scenario.headline
                )
        failures = runs.loc[runs["status"] != "ok", [*params, "run_id", "seed", "error"]]
        return SweepResult(
            runs=runs,
            points=points,
            params=params,
            figures=names,
            ran=len(rows),
            skipped=len(specs) - len(todo),
            failed=int((runs["status"] != "ok").sum()),
            out_dir=store.path if store else None,
            report=report_path,
            confidence=confidence,
            failures=failures.reset_index(drop=True),
        )
