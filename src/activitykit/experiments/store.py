"""Results tables of an experiment and their home on disk.

``runs.parquet`` has one row per run: the swept values (one column per grid key), the
replication index, the seed, ``status`` (``ok``/``failed``), the ``error`` text, the wall
and CPU time of the run (their ratio shows how busy the machine was), the worker, and one
float column per key figure. ``points.parquet`` has one row per grid point: the swept
values, how many runs ran and failed, and for every key figure
``<figure>.mean``, ``<figure>.ci_low``, ``<figure>.ci_high`` and ``<figure>.n``.

``runs.parquet`` keeps every run ever done in the directory; ``points.parquet`` covers the
runs of the latest call (its grid and replications).

``sweep.json`` records what the directory holds (the scenario fingerprint, the grid keys,
the figure names), so a re-run in the same directory can skip finished runs and refuses to
mix results of a different scenario into the table. Tables are rewritten atomically
(write, then rename), so an interrupted sweep leaves a readable table behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from .._atomic import write_atomic, write_text_atomic
from .._files import read_text_bounded
from .._json import reason
from ..errors import InputError
from ..scenario.schema import Scenario
from .stats import figure_ci

__all__ = [
    "BASE_COLUMNS",
    "ResultsDir",
    "figure_columns",
    "fingerprint",
    "points_table",
    "runs_table",
]

#: Columns of runs.parquet before the grid keys and key figures.
BASE_COLUMNS = (
    "run_id",
    "replication",
    "seed",
    "status",
    "error",
    "wall_time",
    "cpu_time",
    "worker",
)
_STAT_SUFFIXES = ("mean", "ci_low", "ci_high", "n")
#: Bytes a sweep.json may have: it holds a name, a hash and the grid keys.
_MAX_MANIFEST = 2**20


def fingerprint(scenario: Scenario) -> str:
    """A hash of everything in the scenario except its seed (runs differ only by seed)."""
    doc = scenario.model_dump(mode="json", exclude={"seed"})
    return hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _storable(value: Any) -> Any:
    """Scalars stay as they are; anything else (a distribution mapping) becomes JSON text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True)


def runs_table(
    rows: Iterable[Mapping[str, Any]], params: Sequence[str], figures: Sequence[str] | None = None
) -> pd.DataFrame:
    """Rows from ``execute`` (or from a stored table) as the runs DataFrame.

    Figure columns are ``figures`` if given, else every figure any run reported, sorted.
    """
    flat: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in rows:
        if "figures" in row:  # fresh from execute
            out = {p: _storable(v) for p, v in row["point"]}
            out.update({c: row[c] for c in BASE_COLUMNS})
            out.update(row["figures"])
            seen.update(row["figures"])
        else:  # already flat (read back from disk)
            out = dict(row)
            seen.update(k for k in row if k not in BASE_COLUMNS and k not in params)
        flat.append(out)
    names = list(figures) if figures is not None else sorted(seen)
    clash = sorted(set(names) & set(params))
    if clash:
        raise InputError(f"grid key {clash[0]!r} has the name of a key figure; cannot store both")
    columns = [*params, *BASE_COLUMNS, *names]
    frame = pd.DataFrame(flat, columns=columns)
    for name in names:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    for col in ("replication", "seed"):
        frame[col] = frame[col].astype("int64")
    frame["wall_time"] = frame["wall_time"].astype(float)
    frame["cpu_time"] = frame["cpu_time"].astype(float)
    for col in ("run_id", "status", "error", "worker"):
        frame[col] = frame[col].fillna("").astype(str)
    for p in params:
        kinds = {type(v) for v in frame[p] if v is not None}
        if len(kinds) > 1 and not kinds <= {int, float}:
            frame[p] = frame[p].map(lambda v: v if v is None else str(v))
    return _sorted(frame, params)


def _sorted(frame: pd.DataFrame, params: Sequence[str]) -> pd.DataFrame:
    keys = [*params, "replication"]
    try:
        return frame.sort_values(keys, kind="stable", ignore_index=True)
    except TypeError:  # values of a column that do not compare: keep the order given
        return frame.reset_index(drop=True)


def points_table(
    runs: pd.DataFrame, params: Sequence[str], figures: Sequence[str], confidence: float = 0.95
) -> pd.DataFrame:
    """One row per grid point: run counts and, per figure, mean and confidence interval."""
    groups = runs.groupby(list(params), sort=False, dropna=False) if params else [((), runs)]
    records = []
    for key, group in groups:
        values = key if isinstance(key, tuple) else (key,)
        rec: dict[str, Any] = dict(zip(params, values, strict=True))
        ok = group[group["status"] == "ok"]
        rec["runs"] = len(group)
        rec["failed"] = int((group["status"] != "ok").sum())
        for name in figures:
            iv = figure_ci(name, ok[name].to_numpy(dtype=float), confidence)
            rec[f"{name}.mean"] = iv.mean
            rec[f"{name}.ci_low"] = iv.low
            rec[f"{name}.ci_high"] = iv.high
            rec[f"{name}.n"] = iv.n
        records.append(rec)
    columns = [*params, "runs", "failed"] + [f"{f}.{s}" for f in figures for s in _STAT_SUFFIXES]
    frame = pd.DataFrame(records, columns=columns)
    for name in figures:
        frame[f"{name}.n"] = frame[f"{name}.n"].astype("int64")
    return frame


def _write_atomic(frame: pd.DataFrame, path: Path, meta: Mapping[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[b"activitykit"] = json.dumps(meta, sort_keys=True).encode()
    table = table.replace_schema_metadata(schema_meta)
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))


class ResultsDir:
    """The directory of one experiment: its manifest, runs table and points table."""

    MANIFEST = "sweep.json"
    RUNS = "runs.parquet"
    POINTS = "points.parquet"

    def __init__(self, path: Path, *, scenario: Scenario, params: Sequence[str]) -> None:
        self.path = Path(path)
        self.params = list(params)
        self.fingerprint = fingerprint(scenario)
        self.scenario_name = scenario.name

    def open(self) -> pd.DataFrame:
        """Create the directory or check it holds this experiment; return the stored runs."""
        if self.path.exists() and not self.path.is_dir():
            raise InputError(
                "exists and is not a directory; a sweep's results go into a directory "
                "(name another --out)",
                source=str(self.path),
            )
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = self.path / self.MANIFEST
        if not manifest.exists():
            self._refuse_foreign()
        else:
            try:  # orjson: nesting beyond 1024 levels is an error, not a recursion
                old = orjson.loads(
                    read_text_bounded(manifest, _MAX_MANIFEST, "a sweep.json", regular_only=True)
                )
            except orjson.JSONDecodeError as exc:
                raise InputError(
                    f"not a sweep manifest ({reason(exc)}); use another --out",
                    source=str(manifest),
                ) from None
            if not isinstance(old, dict):
                raise InputError(
                    "not a sweep manifest (not a JSON object); use another --out",
                    source=str(manifest),
                )
            if old.get("fingerprint") != self.fingerprint:
                raise InputError(
                    f"holds results of a different scenario ({old.get('scenario')!r}, "
                    f"fingerprint {old.get('fingerprint')} != {self.fingerprint}); "
                    "use another --out, or delete the directory to start over",
                    source=str(self.path),
                )
            if list(old.get("params", [])) != self.params:
                raise InputError(
                    f"holds a sweep over {old.get('params')}, not {self.params}; use another "
                    "--out, or the same --grid keys to add values or replications",
                    source=str(self.path),
                )
        # replaced whole: a sweep killed while writing it must not leave a directory that
        # every later sweep refuses as "not a sweep manifest"
        write_text_atomic(
            manifest,
            json.dumps(
                {
                    "scenario": self.scenario_name,
                    "fingerprint": self.fingerprint,
                    "params": self.params,
                },
                indent=2,
            )
            + "\n",
        )
        runs = self.path / self.RUNS
        if not runs.exists():
            return runs_table([], self.params, [])
        frame = self._read_runs(runs)
        missing = [c for c in (*self.params, *BASE_COLUMNS) if c not in frame.columns]
        if missing:
            raise InputError(
                f"lacks columns {missing}; it was not written by this sweep",
                source=str(runs),
            )
        twice = frame["run_id"][frame["run_id"].duplicated()]
        if len(twice):  # a sweep stores each run once: the means would count these twice
            raise InputError(
                f"holds run {twice.iloc[0]!r} more than once ({len(twice)} rows repeat a "
                "run_id): it was changed by something other than a sweep. Restore it from a "
                "copy, keep one row per run_id, or use another --out",
                source=str(runs),
            )
        return frame

    def _refuse_foreign(self) -> None:
        """A directory without ``sweep.json`` must be new or empty: ``sweep.json`` is written
        before any run, so a ``runs.parquet`` without it means the store was changed by
        hand, and a run directory or anything else is not a sweep's to write into."""
        present = sorted(p.name for p in self.path.iterdir())
        if not present:
            return
        if self.RUNS in present:
            raise InputError(
                f"holds {self.RUNS} but no {self.MANIFEST}: the sweep's store is incomplete "
                f"(the manifest is written before any run, so it was removed). Restore "
                f"{self.MANIFEST} from a copy; or move {self.RUNS} away to run the sweep "
                "again from nothing; or use another --out",
                source=str(self.path),
            )
        if "manifest.json" in present:
            what = "a run directory (manifest.json)"
        else:
            what = f"files no sweep wrote ({', '.join(present[:3])}{', ...' * (len(present) > 3)})"
        raise InputError(
            f"holds {what} and no {self.MANIFEST}, so it is not a sweep's directory; a sweep "
            "writes into a new or empty directory, or into its own: use another --out",
            source=str(self.path),
        )

    @staticmethod
    def _read_runs(runs: Path) -> pd.DataFrame:
        """The stored runs table; a damaged one (a copy cut short, a disk that filled up) is
        refused with the way out, never rewritten: its finished runs are the sweep's result."""
        import pyarrow as pa

        try:
            return pd.read_parquet(runs)
        except (pa.ArrowException, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(
                f"cannot be read as a Parquet table ({first}); the runs stored in it are lost "
                "to this sweep. Restore it from a copy, or move it away (the sweep then runs "
                "its runs again), or use another --out",
                source=str(runs),
            ) from None

    def save(self, runs: pd.DataFrame, points: pd.DataFrame | None, figures: Sequence[str]) -> None:
        meta = {"params": self.params, "figures": list(figures), "fingerprint": self.fingerprint}
        _write_atomic(runs, self.path / self.RUNS, meta)
        if points is not None:
            _write_atomic(points, self.path / self.POINTS, meta)


def figure_columns(runs: pd.DataFrame, params: Sequence[str]) -> list[str]:
    """The key-figure columns of a runs table (everything that is not a param or base column)."""
    skip = {*params, *BASE_COLUMNS}
    return [c for c in runs.columns if c not in skip and np.issubdtype(runs[c].dtype, np.number)]
