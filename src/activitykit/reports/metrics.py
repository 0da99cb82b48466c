"""The statistics and key figures of a run, from its per-activity facts (``activities``).

Key figure names are a contract: the runner writes them to ``summary.json`` and the sweep
aggregates them across replications. ``KEY_FIGURE_NAMES`` lists them in a fixed order (in
``names``, which imports neither numpy nor pandas, re-exported here); the definitions are in
``docs/reports.md``. The per-activity tables (``activity_table``,
``queue_waits``, ``busy_intervals``) live in ``activities`` and are exported here too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._frame import TraceSource, as_frame
from .activities import (
    STATE_COLUMNS,
    activity_table,
    busy_intervals,
    entry_arrays,
    queue_waits,
)
from .names import (
    HEADLINE_FIGURES,
    KEY_FIGURE_NAMES,
    KEY_FIGURES,
    LATENCY_PHASES,
    LOAD_FIGURES,
    PERCENTILES,
    PHASE_STATS,
    SCOPES,
    bound_text,
    figure_unit,
)

__all__ = [
    "HEADLINE_FIGURES",
    "KEY_FIGURES",
    "KEY_FIGURE_NAMES",
    "LATENCY_PHASES",
    "LOAD_FIGURES",
    "PERCENTILES",
    "PHASE_STATS",
    "SCOPES",
    "STATE_COLUMNS",
    "activity_table",
    "bound_text",
    "busy_intervals",
    "entry_arrays",
    "figure_unit",
    "flat_figures",
    "kaplan_meier",
    "key_figures",
    "latency_stats",
    "latency_window",
    "measures",
    "open_ages",
    "phase_stats",
    "queue_waits",
]


def _union_length(handler: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    """Total length of the union of intervals, per handler, summed (overlaps count once)."""
    if len(start) == 0:
        return 0.0
    df = pd.DataFrame({"h": handler, "s": start, "e": end}).sort_values(["h", "s"])
    prev_max = df.groupby("h", sort=False)["e"].cummax()
    prev_max = prev_max.groupby(df["h"], sort=False).shift(1).fillna(-np.inf)
    contrib = df["e"] - np.maximum(df["s"], prev_max)
    return float(contrib.clip(lower=0).sum())


def kaplan_meier(values: np.ndarray, ages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Kaplan-Meier estimate of the distribution of durations of which ``values`` ended
    and ``ages`` were still under way (right-censored): the distinct times and the CDF at
    each, as ``scipy.stats.ecdf(CensoredData(uncensored=values, right=ages)).cdf`` gives
    ``quantiles`` and ``probabilities``, value for value (tests/test_reports_censoring.py).

    The product-limit estimator written out on arrays rather than called from scipy:
    importing ``scipy.stats`` costs about 1.7 s, a sixth of a whole bench-fleet run, for
    these dozen lines; the test holds the two to the same values.
    """
    times = np.concatenate((values, ages))
    ended = np.concatenate((np.ones(len(values), np.int64), np.zeros(len(ages), np.int64)))
    order = np.argsort(times)
    times, ended = times[order], ended[order]
    at_risk = np.arange(times.size, 0, -1)
    cut = np.diff(times, prepend=-np.inf, append=np.inf) > 0
    first, last = cut[:-1], cut[1:]  # first and last of each run of equal times
    n = at_risk[first]
    d = np.diff(np.cumsum(ended)[last], prepend=0)  # ended at each distinct time
    return times[first], 1 - np.cumprod((n - d) / n)


def phase_stats(values: np.ndarray, open_ages: np.ndarray | None = None) -> dict[str, Any]:
    """``PHASE_STATS`` of the durations ``values`` (NaN = did not happen, left out), plus
    ``open`` (how many were still under way at the end) and ``lower_bounds`` (the
    percentiles the data can only bound from below); None where undefined (no value).

    ``open_ages``: how long each still-open phase had lasted at the end (right-censored
    durations). Without any, the percentiles are numpy's (linear interpolation). With some,
    leaving them out would make every percentile too small. The distribution is then the
    Kaplan-Meier estimate (``kaplan_meier``), which lies between
    two bounds the data proves: every open phase ending right at the end (the percentile of
    finished durations and open ages together) and none ever ending. When so many are open
    that even the second bound is infinite (fewer than p% of all covered phases finished),
    no estimate is honest: the percentile is the first bound, a lower bound, named in
    ``lower_bounds``. (Kaplan-Meier assumes an open phase is like the finished ones of its
    age; an overloaded FIFO queue breaks that, the open ones being the newest.)
    ``mean`` and ``max`` are those of the finished phases only.
    """
    values = values[~np.isnan(values)]
    ages = np.empty(0) if open_ages is None else open_ages[~np.isnan(open_ages)]
    out: dict[str, Any] = {"count": len(values), "open": len(ages)}
    bounded: list[str] = []
    if len(values) == 0 and len(ages) == 0:
        return out | dict.fromkeys(PHASE_STATS[1:]) | {"lower_bounds": bounded}
    names = [f"p{p}" for p in PERCENTILES]
    if len(ages) == 0:
        pct = [float(v) for v in np.percentile(values, PERCENTILES)]
    else:
        floor = np.percentile(np.r_[values, ages], PERCENTILES, method="inverted_cdf")
        times, cdf = kaplan_meier(values, ages) if len(values) else (None, None)
        n_all = len(values) + len(ages)
        pct = []
        for i, p in enumerate(PERCENTILES):
            need = math.ceil(p / 100.0 * n_all - 1e-9)  # finished ones that bound it above
            reached = [] if cdf is None else np.flatnonzero(cdf >= p / 100.0 - 1e-12)
            if len(values) >= need and len(reached):
                assert times is not None
                pct.append(float(times[reached[0]]))
            else:
                pct.append(float(floor[i]))
                bounded.append(names[i])
    out["mean"] = float(values.mean()) if len(values) else None
    out.update(zip(names, pct, strict=True))
    out["max"] = float(values.max()) if len(values) else None
    out["lower_bounds"] = bounded
    return out


def latency_window(acts: pd.DataFrame, *, warmup: float, t_end: float) -> dict[str, np.ndarray]:
    """Per phase, which activities its latency statistics cover: created in the window
    ``[warmup, t_end]`` and the phase over by ``t_end``."""
    created_t = acts["created_t"].to_numpy(dtype=float)
    final_t = acts["final_t"].to_numpy(dtype=float)
    in_window = (created_t >= warmup) & (created_t <= t_end)
    phase_end = {
        "to_start": acts[STATE_COLUMNS["In Progress"]].to_numpy(dtype=float),
        "run": final_t,
        "total": final_t,
    }
    return {phase: in_window & (phase_end[phase] <= t_end) for phase in LATENCY_PHASES}


def open_ages(acts: pd.DataFrame, *, warmup: float, t_end: float) -> dict[str, np.ndarray]:
    """Per phase, how long each activity's phase had lasted at ``t_end`` when it was still
    under way then (NaN otherwise), for activities created in ``[warmup, t_end]``: not yet
    In Progress and not final (to_start), In Progress and not final (run), not final
    (total). An activity that ended without starting (Canceled while Queued) is not open."""
    created_t = acts["created_t"].to_numpy(dtype=float)
    started = acts[STATE_COLUMNS["In Progress"]].to_numpy(dtype=float)
    final_t = acts["final_t"].to_numpy(dtype=float)
    in_window = (created_t >= warmup) & (created_t <= t_end)
    open_ = in_window & ~(final_t <= t_end)
    running = open_ & (started <= t_end)
    nan = np.nan
    return {
        "to_start": np.where(open_ & ~running, t_end - created_t, nan),
        "run": np.where(running, t_end - started, nan),
        "total": np.where(open_, t_end - created_t, nan),
    }


def latency_stats(
    acts: pd.DataFrame,
    select: np.ndarray,
    window: dict[str, np.ndarray],
    ages: dict[str, np.ndarray] | None = None,
) -> dict[str, dict[str, Any]]:
    """``phase_stats`` of each phase over the activities ``select`` picks in ``window``, with
    the still-open ones of ``ages`` (``open_ages``) as censored durations."""
    return {
        phase: phase_stats(
            acts[phase].to_numpy(dtype=float)[select & window[phase]],
            None if ages is None else ages[phase][select],
        )
        for phase in LATENCY_PHASES
    }


def key_figures(
    frame_or_records: TraceSource,
    *,
    warmup: float = 0.0,
    end: float | None = None,
    handlers: int | None = None,
    activities: pd.DataFrame | None = None,
) -> dict[str, float]:
    """The key figures of a run as a flat dict, keys in ``KEY_FIGURE_NAMES`` order.

    ``warmup``: activities created before it are left out of latencies and queue waits, and
    the throughput and utilisation windows start there. ``end``: the end of the observation
    window (default: the last ``t`` in the trace); later events are ignored. ``handlers``:
    job-handler count for utilisation (default: distinct handlers seen in ``consume``).
    ``activities``: a precomputed ``activity_table`` of the same trace, to skip recomputing.
    Undefined figures (no activities of that kind, an empty window) are NaN.
    """
    f = as_frame(frame_or_records)
    acts = activity_table(f) if activities is None else activities
    return flat_figures(measures(
        acts, queue_waits(f), busy_intervals(f, acts),
        warmup=warmup, t_end=_end_of(f, end), handlers=handlers,
    ))  # fmt: skip


def _end_of(f: pd.DataFrame, end: float | None) -> float:
    if end is not None:
        return float(end)
    return float(f["t"].max()) if len(f) else 0.0


def flat_figures(measured: dict[str, Any]) -> dict[str, float]:
    """The key figures (``KEY_FIGURE_NAMES`` order) read from ``measures`` or a summary;
    undefined ones are NaN."""
    out: dict[str, float] = {}
    for name, path in KEY_FIGURES.items():
        value: Any = measured
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        out[name] = math.nan if value is None else float(value)
    return out


def measures(
    acts: pd.DataFrame,
    waits: pd.DataFrame,
    busy: pd.DataFrame,
    *,
    warmup: float,
    t_end: float,
    handlers: int | None,
) -> dict[str, Any]:
    """Every measure of the window ``[warmup, t_end]``, nested as in summary.json: latency
    statistics per scope and phase, throughput, queue wait, job-handler utilisation and the
    activities created / finished by ``t_end``. None where undefined."""
    span = t_end - warmup
    created_t = acts["created_t"].to_numpy(dtype=float)
    final_t = acts["final_t"].to_numpy(dtype=float)
    kind = acts["kind"].to_numpy(dtype=object)
    window = latency_window(acts, warmup=warmup, t_end=t_end)
    ages = open_ages(acts, warmup=warmup, t_end=t_end)
    done_in_window = (final_t >= warmup) & (final_t <= t_end)
    scopes = {
        "all": np.ones(len(acts), dtype=bool),
        "client": kind == "client",
        "server": kind == "server",
    }
    out: dict[str, Any] = {
        "latency": {s: latency_stats(acts, mask, window, ages) for s, mask in scopes.items()},
        "throughput": {},
    }
    for scope, mask in scopes.items():
        count = int((mask & done_in_window).sum())
        out["throughput"][scope] = {
            "finished": count,
            "finished_per_hour": count * 3600.0 / span if span > 0 else None,
        }

    created_by_id = pd.Series(created_t, index=acts["id"].to_numpy())
    w_created = waits["activity"].map(created_by_id).to_numpy(dtype=float)
    sel = (w_created >= warmup) & (waits["consume_t"].to_numpy(dtype=float) <= t_end)
    w = waits["wait"].to_numpy(dtype=float)[sel]
    out["queue_wait"] = {"count": len(w), "mean": float(w.mean()) if len(w) else None}

    n_handlers = handlers if handlers is not None else busy["handler"].nunique()
    utilisation = None
    if n_handlers and span > 0:
        s = np.clip(busy["start"].to_numpy(dtype=float), warmup, t_end)
        e = np.clip(np.nan_to_num(busy["end"].to_numpy(dtype=float), nan=t_end), warmup, t_end)
        used = _union_length(busy["handler"].to_numpy(dtype=object), s, e)
        utilisation = used / (n_handlers * span)
    out["job_handlers"] = {"count": int(n_handlers), "utilisation": utilisation}

    existed = created_t <= t_end
    finished = int((existed & (final_t <= t_end)).sum())
    out["activities"] = {"total": int(existed.sum()), "finished": finished}
    out["unfinished"] = {"count": int(existed.sum()) - finished}
    return out
