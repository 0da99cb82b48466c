"""Load a run directory or a bare trace into a ``RunData``: everything a report shows.

Extract, then render: this module reads files and computes tables; ``figures`` and ``html``
only ever see a ``RunData``. Expensive parts (the networkx graph, the time series) are
computed on first use and cached, so a notebook user pays only for what they look at.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ..errors import InputError
from . import graph as _graph
from . import series as _series
from ._frame import as_frame
from .metrics import (
    LATENCY_PHASES,
    activity_table,
    bound_text,
    busy_intervals,
    flat_figures,
    latency_stats,
    latency_window,
    measures,
    open_ages,
    queue_waits,
)

__all__ = ["TRACE_NAMES", "RunData", "as_run", "load_run", "read_scenario", "run_data"]

#: Trace file names looked for in a run directory, in this order.
TRACE_NAMES: tuple[str, ...] = (
    "trace.parquet",
    "trace.jsonl",
    "trace.jsonl.gz",
    "trace.csv",
)


@dataclass(eq=False, repr=False)
class RunData:
    """One run, ready to report.

    ``trace``: the records DataFrame (one column per ``FIELDS`` entry); ``activities``: the
    ``activity_table``; ``summary``: ``summary.json`` of a run directory (``{}`` for a bare
    trace); ``scenario``: the effective scenario as a dict, or None. From the scenario, when
    there is one: ``warmup``; ``end`` (``end_t`` of summary.json, else the scenario's
    duration, or the last record's ``t`` if later);
    ``handlers`` (job-handler count); ``stuck_after`` (s); ``profile``. The first three
    drive the key figures; without a scenario they default as in ``key_figures``.
    ``load_run`` makes one from files, ``run_data`` from a run still in memory.
    """

    path: Path
    trace: pd.DataFrame
    activities: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    scenario: dict[str, Any] | None = None
    warmup: float = 0.0
    end: float | None = None
    handlers: int | None = None
    stuck_after: float = 3600.0
    profile: str = "result-wins"
    trace_path: Path | None = None
    #: The checker that already judged every record of this trace and found no violation
    #: (a simulation's online check), or None: the report then checks the trace itself.
    checked: str | None = None
    _throughput: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:  # the default would print whole DataFrames
        return (
            f"RunData({str(self.path)!r}: {len(self.activities)} activities, "
            f"{len(self.trace)} records, t_end={self.t_end:g}, warmup={self.warmup:g})"
        )

    @property
    def name(self) -> str:
        return self.path.name if self.path.is_dir() else self.path.stem.split(".")[0]

    @property
    def t_end(self) -> float:
        """End of the observed time: ``end`` if known, else the last record's ``t``."""
        if self.end is not None:
            return float(self.end)
        return float(self.trace["t"].max()) if len(self.trace) else 0.0

    @cached_property
    def step(self) -> float:
        """Bin width of every time series (60 s unless the run is long)."""
        return _series.bin_width(self.t_end)

    @cached_property
    def key_figures(self) -> dict[str, float]:
        """``key_figures`` of the run, with the scenario's warm-up, end and handler count."""
        return flat_figures(self.measures)

    @cached_property
    def measures(self) -> dict[str, Any]:
        """``metrics.measures`` of the run (the numbers summary.json holds), with the
        scenario's warm-up, end and handler count."""
        return measures(
            self.activities,
            self.queue_waits,
            self.busy,
            warmup=self.warmup,
            t_end=self.t_end,
            handlers=self.handlers,
        )

    @cached_property
    def queue_waits(self) -> pd.DataFrame:
        """Per server activity: first enqueue, first consume, wait (``metrics.queue_waits``)."""
        return queue_waits(self.trace)

    @cached_property
    def busy(self) -> pd.DataFrame:
        """Job-handler busy intervals (``metrics.busy_intervals``)."""
        return busy_intervals(self.trace, self.activities)

    @cached_property
    def type_summary(self) -> nx.DiGraph:
        """The dependency graph summarised by activity type (``graph.summary_graph``)."""
        return _graph.summary_graph(self.activities, by="type", groups=self.groups)

    @cached_property
    def groups(self) -> pd.DataFrame:
        """The kit's ``group`` records (bulk-operation parents)."""
        g = self.trace.loc[self.trace["event"] == "group", ["activity", "type", "t", "children"]]
        return g.drop_duplicates("activity").reset_index(drop=True)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The full dependency graph (one node per activity and group)."""
        return _graph.build_graph(self.activities, self.groups)

    @cached_property
    def has_edges(self) -> bool:
        """Whether the dependency graph has an edge (``graph.has_edges``)."""
        return _graph.has_edges(self.activities)

    @cached_property
    def critical_path(self) -> list[str]:
        """Critical path (see ``activitykit.reports.graph``), computed on arrays: no networkx
        graph is built, so it stays cheap for a 1M-activity run."""
        if not self.has_edges:  # (a path needs an edge)
            return []
        acts, groups = self.activities, self.groups
        extra = groups.loc[~groups["activity"].isin(acts["id"])]
        ids = pd.Index(np.r_[acts["id"].to_numpy(dtype=object), extra["activity"].to_numpy()])
        created = np.r_[acts["created_t"].to_numpy(dtype=float), extra["t"].to_numpy(dtype=float)]
        final = np.r_[acts["final_t"].to_numpy(dtype=float), np.full(len(extra), np.nan)]
        endable = np.r_[acts["finished"].to_numpy(dtype=bool), np.zeros(len(extra), bool)]
        edges = _graph.edge_frame(acts)
        src = ids.get_indexer(edges["source"].to_numpy(dtype=object))
        dst = ids.get_indexer(edges["target"].to_numpy(dtype=object))
        known = (src >= 0) & (dst >= 0)
        path = _graph.critical_path_codes(created, final, endable, src[known], dst[known])
        return [str(ids[i]) for i in path]

    def critical_path_table(self) -> pd.DataFrame:
        """The critical path, one row per node: ``node``, ``kind``, ``type``, ``state``,
        ``created_t``, ``final_t`` (a group: declared at ``created_t``, ``final_t`` empty)."""
        acts = self.activities.drop_duplicates("id").set_index("id")
        groups = self.groups.set_index("activity")
        rows = []
        for n in self.critical_path:
            if n in acts.index:
                a = acts.loc[n]
                rows.append((n, a["kind"], a["type"], a["state"], a["created_t"], a["final_t"]))
            else:
                gr = groups.loc[n]
                rows.append((n, "group", gr["type"], "group", gr["t"], math.nan))
        cols = ["node", "kind", "type", "state", "created_t", "final_t"]
        return pd.DataFrame(rows, columns=cols)

    @cached_property
    def entries(self) -> pd.DataFrame:
        return _series.state_entries(self.trace, pd.Index(self.activities["id"]))

    @cached_property
    def occupancy(self) -> pd.DataFrame:
        return _series.occupancy_series(self.entries, step=self.step, t_end=self.t_end)

    def throughput(self, by: str = "kind") -> pd.DataFrame:
        """Activities finished per minute, one column per value of ``by`` (cached)."""
        if by not in self._throughput:
            self._throughput[by] = _series.throughput_series(
                self.activities, by=by, step=self.step, t_end=self.t_end
            )
        return self._throughput[by]

    @cached_property
    def queue(self) -> pd.DataFrame:
        """Queue depth and job-handler utilisation over time, one row per bin."""
        depth = _series.queue_series(self.queue_waits, step=self.step, t_end=self.t_end)
        busy = self.busy
        n = self.handlers if self.handlers is not None else busy["handler"].nunique()
        util = _series.utilisation_series(busy, handlers=n, step=self.step, t_end=self.t_end)
        return depth.join(util, how="left")

    @cached_property
    def exchanges(self) -> pd.DataFrame:
        return _series.exchange_series(self.trace, step=self.step, t_end=self.t_end)

    @cached_property
    def bulk(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(progress, thresholds)`` of watched parents (see ``series.bulk_progress``)."""
        return _series.bulk_progress(self.trace, self.activities)

    def latency_table(self, by: str = "kind") -> pd.DataFrame:
        """Per value of ``by`` and phase: how many activities the statistics cover
        (``count``), how many were still open at the end (``open``), p50/p90/p99 (s; text,
        ">= x" where only a lower bound is known, see ``metrics.phase_stats``) and the mean
        of the finished ones. Activities created after warm-up, as the key figures."""
        acts = self.activities
        window = latency_window(acts, warmup=self.warmup, t_end=self.t_end)
        ages = open_ages(acts, warmup=self.warmup, t_end=self.t_end)
        keys = acts[by].fillna("(none)").astype(str).to_numpy(dtype=object)
        rows = []
        for value in sorted(set(keys)):
            stats = latency_stats(acts, keys == value, window, ages)
            for phase in LATENCY_PHASES:
                st = stats[phase]
                if not st["count"] and not st["open"]:
                    continue
                row = {by: value, "phase": phase, "count": st["count"], "open": st["open"]}
                for p in ("p50", "p90", "p99"):
                    row[p] = bound_text(st, p)
                row["mean"] = st["mean"]
                rows.append(row)
        cols = [by, "phase", "count", "open", "p50", "p90", "p99", "mean"]
        return pd.DataFrame(rows, columns=cols)

    @cached_property
    def unfinished(self) -> pd.DataFrame:
        """Activities not in a final state at the end, oldest first: ``age`` (since created),
        ``in_state`` (since entering their last state) and ``stuck`` (In Progress for at
        least ``stuck_after`` seconds)."""
        acts = self.activities.loc[~self.activities["finished"]]
        out = acts[["id", "kind", "type", "computer", "state", "created_t", "state_t"]].copy()
        out["age"] = self.t_end - out["created_t"]
        out["in_state"] = self.t_end - out["state_t"]
        out["stuck"] = (out["state"] == "In Progress") & (out["in_state"] >= self.stuck_after)
        return out.sort_values(["created_t", "id"]).reset_index(drop=True)


def _find_trace(run_dir: Path) -> Path:
    for name in TRACE_NAMES:
        if (run_dir / name).is_file():
            return run_dir / name
    raise InputError(
        f"no trace in this run directory (looked for {', '.join(TRACE_NAMES)}); "
        "pass a run directory written by 'activitykit run' or a trace file",
        source=str(run_dir),
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", source=str(path), line=exc.lineno) from None
    if not isinstance(data, dict):
        raise InputError("summary must be a JSON object", source=str(path))
    return data


def read_scenario(path: Path) -> dict[str, Any]:
    """The effective scenario of a run directory as a dict (``InputError`` if unreadable)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML ({exc})", source=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("the effective scenario must be a YAML mapping", source=str(path))
    return data


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _window_end(summary: dict[str, Any], duration: float | None, t_last: float) -> float | None:
    # The runner's own end of simulation (summary.json "end_t") keeps the report's key
    # figures identical to the summary's; else the scenario's duration (or the last record).
    end_t = _number(summary.get("end_t"))
    if end_t is not None:
        return end_t
    return max(duration, t_last) if duration is not None else None


def as_run(source: RunData | str | PathLike[str]) -> RunData:
    """``source`` if it is a ``RunData``, else ``load_run(source)``."""
    return source if isinstance(source, RunData) else load_run(source)


def load_run(path: str | PathLike[str]) -> RunData:
    """Load a run directory (``trace.*``, ``summary.json``, ``scenario.effective.yaml``) or a
    single trace file (docs/trace-format.md). Raises ``InputError`` for a missing or
    unreadable source."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such run directory or trace file", source=str(p))
    summary: dict[str, Any] = {}
    scenario: dict[str, Any] | None = None
    if p.is_dir():
        trace_path = _find_trace(p)
        if (p / "summary.json").is_file():
            summary = _read_json(p / "summary.json")
        if (p / "scenario.effective.yaml").is_file():
            scenario = read_scenario(p / "scenario.effective.yaml")
    else:
        trace_path = p
    return run_data(p, as_frame(trace_path), summary, scenario, trace_path=trace_path)


def run_data(
    path: Path,
    frame: pd.DataFrame,
    summary: dict[str, Any],
    scenario: dict[str, Any] | None,
    *,
    trace_path: Path | None = None,
    activities: pd.DataFrame | None = None,
    measured: dict[str, Any] | None = None,
    checked: str | None = None,
) -> RunData:
    """A ``RunData`` of a run still in memory: its records (``frame``, every record, as
    ``as_frame`` gives them), its summary (as summary.json holds it) and effective scenario
    (as a dict). A runner that has just summarised the run passes the ``activity_table`` and
    the ``metrics.measures`` it computed, so that the report does not compute them again;
    ``checked``: see ``RunData.checked``."""
    t_last = float(frame["t"].max()) if len(frame) else 0.0
    warmup = _number((scenario or {}).get("warmup")) or 0.0
    duration = _number((scenario or {}).get("duration"))
    sc = scenario or {}
    server = sc.get("server") if isinstance(sc.get("server"), dict) else {}
    output = sc.get("output") if isinstance(sc.get("output"), dict) else {}
    model = sc.get("model") if isinstance(sc.get("model"), dict) else {}
    handlers = server.get("job_handlers")
    stuck_after = _number(output.get("stuck_after"))
    profile = model.get("profile")
    run = RunData(
        path=path,
        trace=frame,
        activities=activity_table(frame) if activities is None else activities,
        summary=summary,
        scenario=scenario,
        warmup=warmup,
        end=_window_end(summary, duration, t_last),
        handlers=int(handlers) if isinstance(handlers, int) else None,
        stuck_after=stuck_after if stuck_after is not None else 3600.0,
        profile=profile if isinstance(profile, str) else "result-wins",
        trace_path=trace_path,
        checked=checked,
    )
    if measured is not None:  # the cached property's value, from the same activities
        run.__dict__["measures"] = measured
    return run
