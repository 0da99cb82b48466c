"""Time series behind the report's figures, as DataFrames indexed by time (seconds).

Two kinds of series, chosen so every number has a plain meaning:

- *rates* (throughput, exchange load): events counted in bins ``[k*step, (k+1)*step)``,
  scaled to "per minute" so plots stay comparable whatever the bin width;
- *levels* (state occupancy, queue depth): how many items are in a condition at the
  instant ``k*step`` (an item counts over ``[enter, leave)``); for job-handler utilisation
  and queue depth also the exact time-average over each bin, for queue depth its maximum
  in the bin and the exact step function itself (``queue_depth_steps``), since a queue can
  fill and drain between two bin instants.

All are computed with sorted arrays and ``searchsorted``; none loops over activities.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._frame import STATES, TraceSource, as_frame, events
from .metrics import entry_arrays, queue_waits

__all__ = [
    "bin_width",
    "bulk_progress",
    "exchange_series",
    "level_at",
    "mean_level",
    "occupancy_series",
    "queue_depth_steps",
    "queue_series",
    "state_entries",
    "throughput_series",
    "utilisation_series",
]

_NICE_STEPS = (60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)


def bin_width(span: float, max_bins: int = 720) -> float:
    """One minute, or the smallest nice width giving at most ``max_bins`` bins over ``span``."""
    for step in _NICE_STEPS:
        if span / step <= max_bins:
            return step
    return math.ceil(span / max_bins / 86400.0) * 86400.0


def _grid(t_end: float, step: float) -> np.ndarray:
    return np.arange(0.0, max(t_end, 0.0) + step, step)


def level_at(starts: np.ndarray, ends: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Number of intervals ``[start, end)`` containing each point of ``at`` (NaN end = open)."""
    s = np.sort(starts)
    e = np.sort(np.where(np.isnan(ends), np.inf, ends))
    return np.searchsorted(s, at, side="right") - np.searchsorted(e, at, side="right")


def _integral(sorted_x: np.ndarray, at: np.ndarray) -> np.ndarray:
    # sum over x_i <= a of (a - x_i), for each a in `at`
    k = np.searchsorted(sorted_x, at, side="right")
    cum = np.r_[0.0, np.cumsum(sorted_x)]
    return k * at - cum[k]


def mean_level(starts: np.ndarray, ends: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Exact time-average of the number of open intervals over each ``[edges[i], edges[i+1])``."""
    t_max = edges[-1]
    s = np.sort(starts)
    e = np.sort(np.where(np.isnan(ends), t_max, np.minimum(ends, t_max)))
    area = _integral(s, edges) - _integral(e, edges)
    return np.diff(area) / np.diff(edges)


def throughput_series(
    activities: pd.DataFrame, *, by: str = "kind", step: float = 60.0, t_end: float | None = None
) -> pd.DataFrame:
    """Activities reaching a final state per minute, one column per value of ``by``.

    Index: bin start (s). A bin of width ``step`` holding n finishes shows ``n * 60 / step``.
    """
    fin = activities.loc[activities["finished"], ["final_t", by]]
    end = float(t_end if t_end is not None else (fin["final_t"].max() if len(fin) else 0.0))
    grid = _grid(end, step)
    bins = np.floor(fin["final_t"].to_numpy(dtype=float) / step).astype(np.int64)
    counts = (
        pd.DataFrame({"bin": bins, by: fin[by].fillna("(none)").astype(str).to_numpy()})
        .groupby(["bin", by])
        .size()
        .unstack(fill_value=0)
    )
    counts = counts.reindex(range(len(grid)), fill_value=0).sort_index(axis=1)
    counts.index = pd.Index(grid[: len(counts)], name="t")
    counts.columns.name = by
    return counts * (60.0 / step)


def state_entries(frame: TraceSource, ids: pd.Index) -> pd.DataFrame:
    """Every state an activity was in, as intervals: ``activity`` (row code), ``state``
    (code in ``STATES``), ``start``, ``end`` (NaN while still in it at trace end)."""
    act, st, t = entry_arrays(frame, ids)
    keep = act >= 0
    act, st, t = act[keep], st[keep], t[keep]
    order = np.argsort(act, kind="stable")  # file order within each activity
    act, st, t = act[order], st[order], t[order]
    nxt_same = np.r_[act[1:] == act[:-1], False][: len(act)]
    end = np.where(nxt_same, np.r_[t[1:], np.nan][: len(act)], np.nan)
    return pd.DataFrame({"activity": act, "state": st, "start": t, "end": end})


def occupancy_series(entries: pd.DataFrame, *, step: float = 60.0, t_end: float) -> pd.DataFrame:
    """How many activities are in each state at the instants ``0, step, 2*step, ...``.

    Final states accumulate (an activity stays in its final state to the end of the trace).
    """
    grid = _grid(t_end, step)
    data = {}
    st = entries["state"].to_numpy()
    for code, name in enumerate(STATES):
        sel = st == code
        data[name] = level_at(
            entries["start"].to_numpy()[sel], entries["end"].to_numpy()[sel], grid
        )
    return pd.DataFrame(data, index=pd.Index(grid, name="t"))


def _queue_waits(waits: pd.DataFrame | TraceSource) -> pd.DataFrame:
    if isinstance(waits, pd.DataFrame) and "enqueue_t" in waits.columns:
        return waits
    return queue_waits(waits)


def queue_depth_steps(waits: pd.DataFrame | TraceSource) -> pd.DataFrame:
    """Queue depth as an exact step function: ``t`` (every instant it changes, after a
    leading 0 at ``t=0``) and ``depth`` (the level over ``[t, next t)``).

    An activity is queued over ``[first enqueue, first consume)``, so one consumed the
    instant it was enqueued adds nothing: the level is what a job-handler saw waiting.
    ``waits``: a ``queue_waits`` table, or a trace to compute it from.
    """
    w = _queue_waits(waits)
    enq = w["enqueue_t"].to_numpy(dtype=float)
    con = w["consume_t"].to_numpy(dtype=float)
    con = con[~np.isnan(con)]
    t = np.r_[enq, con]
    delta = np.r_[np.ones(len(enq), np.int64), -np.ones(len(con), np.int64)]
    times, inverse = np.unique(t, return_inverse=True)
    net = np.bincount(inverse, weights=delta, minlength=len(times)).astype(np.int64)
    keep = net != 0
    times, depth = times[keep], np.cumsum(net[keep])
    if not len(times) or times[0] > 0:
        times, depth = np.r_[0.0, times], np.r_[0, depth]
    return pd.DataFrame({"t": times, "depth": depth.astype(np.int64)})


def queue_series(
    waits: pd.DataFrame | TraceSource, *, step: float = 60.0, t_end: float
) -> pd.DataFrame:
    """Queue depth per bin ``[k*step, (k+1)*step)`` (clipped to ``t_end``), exactly:

    ``queue_depth`` (at the bin's start instant), ``queue_depth_max`` (the highest level
    anywhere in the bin), ``queue_depth_mean`` (time-average over the bin) and ``enqueued``
    (server activities first enqueued in it). Levels are those of ``queue_depth_steps``, so
    a short burst between two bin instants still shows in the max and the mean.
    ``waits``: a ``queue_waits`` table, or a trace to compute it from."""
    w = _queue_waits(waits)
    grid = _grid(t_end, step)
    enq = w["enqueue_t"].to_numpy(dtype=float)
    con = w["consume_t"].to_numpy(dtype=float)
    depth = level_at(enq, con, grid)
    steps = queue_depth_steps(w)
    peak = depth.copy()
    st, sd = steps["t"].to_numpy(), steps["depth"].to_numpy()
    inside = st <= max(t_end, 0.0)
    k = np.minimum(np.floor(st[inside] / step).astype(np.int64), len(grid) - 1)
    np.maximum.at(peak, k, sd[inside])
    edges = np.minimum(np.r_[grid, grid[-1] + step], max(t_end, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = mean_level(enq, con, edges) if edges[-1] > 0 else np.zeros(len(grid))
    # A bin of no width is its instant; clip the rounding dust of the area differences.
    mean = np.maximum(np.where(np.diff(edges) > 0, mean, depth), 0.0)
    bins = np.floor(enq / step).astype(np.int64)
    enqueued = np.bincount(bins[(bins >= 0) & (bins < len(grid))], minlength=len(grid))
    return pd.DataFrame(
        {
            "queue_depth": depth,
            "queue_depth_max": peak,
            "queue_depth_mean": mean,
            "enqueued": enqueued[: len(grid)],
        },
        index=pd.Index(grid, name="t"),
    )


def utilisation_series(
    busy: pd.DataFrame, *, handlers: int, step: float = 60.0, t_end: float
) -> pd.DataFrame:
    """Busy job-handlers averaged over each bin, and that as a share of ``handlers``.

    Overlapping busy intervals of one handler (prefetch > 1) are merged first, so a handler
    counts at most once at any instant.
    """
    edges = _grid(t_end, step)
    if len(edges) < 2:
        edges = np.array([0.0, step])
    merged = _merge_per_handler(busy, t_end)  # still busy at the end: busy until t_end
    mean = mean_level(merged["start"].to_numpy(), merged["end"].to_numpy(), edges)
    share = mean / handlers if handlers else np.full(len(mean), np.nan)
    return pd.DataFrame(
        {"busy_handlers": mean, "utilisation": share}, index=pd.Index(edges[:-1], name="t")
    )


def _merge_per_handler(busy: pd.DataFrame, t_max: float) -> pd.DataFrame:
    if busy.empty:
        return pd.DataFrame({"start": np.array([], float), "end": np.array([], float)})
    df = busy.assign(end=busy["end"].fillna(t_max)).sort_values(["handler", "start"])
    h = df["handler"]
    prev_max = df.groupby(h, sort=False)["end"].cummax().groupby(h, sort=False).shift(1)
    new_seg = prev_max.isna() | (df["start"] > prev_max)
    seg = new_seg.cumsum()
    out = df.groupby(seg).agg(start=("start", "min"), end=("end", "max"))
    return out.reset_index(drop=True)


def exchange_series(frame: TraceSource, *, step: float = 60.0, t_end: float) -> pd.DataFrame:
    """Server load from the fleet per minute: regular and urgent exchanges, deliveries, results."""
    f = as_frame(frame)
    grid = _grid(t_end, step)
    event = events(f)
    urgent = f["urgent"].fillna(False).astype(bool).to_numpy()
    cols = {
        "exchanges": (event == "exchange") & ~urgent,
        "urgent_exchanges": (event == "exchange") & urgent,
        "deliveries": event == "deliver",
        "results": event == "result",
    }
    t = f["t"].to_numpy(dtype=float)
    data = {}
    for name, mask in cols.items():
        bins = np.floor(t[mask] / step).astype(np.int64)
        data[name] = np.bincount(bins, minlength=len(grid))[: len(grid)] * (60.0 / step)
    return pd.DataFrame(data, index=pd.Index(grid, name="t"))


def bulk_progress(
    frame: TraceSource, activities: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Progress of every activity or group that others wait on, and those waiters' thresholds.

    Returns ``(progress, thresholds)``: ``progress`` has ``parent``, ``t``, ``value`` (one row
    per ``progress`` record of a watched parent, plus a 0 at the group's declaration);
    ``thresholds`` has ``activity``, ``parent``, ``threshold``, ``outcome`` and the time of
    it: ``released_t`` (the waiter went on to Queued or In Progress), ``canceled_t`` (it
    was Canceled while still waiting: never released). ``outcome`` is ``released``,
    ``canceled`` or ``waiting`` (neither by the end of the trace).
    """
    f = as_frame(frame)
    waiters = activities.loc[activities["progress_of"].notna()]
    released, canceled = _left_waiting(waiters)
    outcome = np.where(
        ~np.isnan(released), "released", np.where(~np.isnan(canceled), "canceled", "waiting")
    )
    thresholds = pd.DataFrame(
        {
            "activity": waiters["id"].to_numpy(dtype=object),
            "parent": waiters["progress_of"].to_numpy(dtype=object),
            "threshold": waiters["threshold"].to_numpy(dtype=float),
            "outcome": outcome.astype(object),
            "released_t": released,
            "canceled_t": canceled,
        }
    )
    event = events(f)
    groups = f.loc[event == "group", ["activity", "t"]]
    watched = set(thresholds["parent"]) | set(groups["activity"])
    prog = f.loc[(event == "progress") & f["activity"].isin(watched), ["activity", "t", "value"]]
    start = pd.DataFrame({"activity": groups["activity"], "t": groups["t"], "value": 0.0})
    progress = pd.concat([start, prog], ignore_index=True).rename(columns={"activity": "parent"})
    progress["value"] = progress["value"].astype(float)
    progress = progress.sort_values(["parent", "t"], kind="stable").reset_index(drop=True)
    return progress, thresholds


def _left_waiting(waiters: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(released_t, canceled_t)`` per waiter: the first Queued/In Progress after it entered
    Waiting, and its Canceled when that came first (a cancel ends the wait, it releases
    nothing). NaN where it did not happen."""
    t_wait = waiters["t_waiting"].to_numpy(dtype=float)[:, None]
    go = waiters[["t_queued", "t_in_progress"]].to_numpy(dtype=float)
    go = np.where(go >= t_wait, go, np.nan)
    released = np.full(len(waiters), np.nan)
    ok = ~np.all(np.isnan(go), axis=1)
    released[ok] = np.nanmin(go[ok], axis=1)
    t_cancel = waiters["t_canceled"].to_numpy(dtype=float)
    first = (t_cancel >= t_wait[:, 0]) & ~(released <= t_cancel)
    canceled = np.where(first, t_cancel, np.nan)
    released = np.where(first, np.nan, released)
    return released, canceled
