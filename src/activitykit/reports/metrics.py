"""Per-activity facts and the key figures of a run, computed column-wise from a trace.

Everything here is vectorised: a 1M-activity trace holds several million records, so each
step is a mask, a sort or a ``np.unique`` over integer codes, never a Python loop per
activity. Activity ids are mapped once to integer codes (their row in the activity table)
and states to their position in ``STATES``.

Key figure names are a contract: the runner writes them to ``summary.json`` and the sweep
aggregates them across replications. ``KEY_FIGURE_NAMES`` lists them in a fixed order; the
definitions are in ``docs/reports.md``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._frame import STATES, TERMINAL_STATES, TraceSource, as_frame, events, state_code

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
    "key_figures",
    "latency_stats",
    "latency_window",
    "measures",
    "open_ages",
    "phase_stats",
    "queue_waits",
]

#: ``t_<state>`` column of each state, in ``STATES`` order ("In Progress" -> t_in_progress).
STATE_COLUMNS: dict[str, str] = {s: "t_" + s.lower().replace(" ", "_") for s in STATES}
#: The three latency phases: created -> first In Progress, first In Progress -> final, both.
LATENCY_PHASES: tuple[str, ...] = ("to_start", "run", "total")
#: Percentiles of each phase (linear interpolation, numpy's default).
PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)
#: The statistics of a latency phase, in ``phase_stats`` order.
PHASE_STATS: tuple[str, ...] = ("count", "mean", *(f"p{p}" for p in PERCENTILES), "max")
SCOPES: tuple[str, ...] = ("all", "client", "server")
#: The latency statistics among the key figures (the summary has every ``PHASE_STATS``).
_FIGURE_STATS = ("p50", "p90", "p99", "mean")

#: Each key figure's place in ``measures`` (and so in summary.json): the figures are a
#: flat view of the measures, never computed on their own.
KEY_FIGURES: dict[str, tuple[str, ...]] = {
    **{
        f"{s}.{ph}.{st}": ("latency", s, ph, st)
        for s in SCOPES
        for ph in LATENCY_PHASES
        for st in _FIGURE_STATS
    },
    **{f"{s}.throughput_per_hour": ("throughput", s, "finished_per_hour") for s in SCOPES},
    "server.queue_wait.mean": ("queue_wait", "mean"),
    "server.job_handler_utilisation": ("job_handlers", "utilisation"),
    "all.created": ("activities", "total"),
    "all.finished": ("activities", "finished"),
    "all.unfinished": ("unfinished", "count"),
}
KEY_FIGURE_NAMES: tuple[str, ...] = tuple(KEY_FIGURES)
#: The load figures: from the simulator's counters (summary.json ``load``), so they exist in
#: a run's summary but not in ``key_figures`` of a bare trace, which has no counters.
LOAD_FIGURES: dict[str, tuple[str, ...]] = {
    "load.exchanges_per_minute": ("load", "exchanges_per_minute", "total"),
    "load.urgent_exchanges_per_minute": ("load", "exchanges_per_minute", "urgent"),
    "load.regular_exchanges_per_minute": ("load", "exchanges_per_minute", "regular"),
    "load.pings_per_minute": ("load", "pings_per_minute"),
    "server.message_system_requests_per_s": ("load", "server", "message_system_requests_per_s"),
    "server.pings_per_s": ("load", "server", "pings_per_s"),
}
#: What a scenario's ``headline`` and ``objectives`` may name: a key figure or a load figure,
#: each read from summary.json at this path.
HEADLINE_FIGURES: dict[str, tuple[str, ...]] = {**KEY_FIGURES, **LOAD_FIGURES}


def figure_unit(name: str) -> str:
    """The unit a headline figure is shown in ("s", "/h", "%", "/min", "/s", "")."""
    last = name.rsplit(".", 1)[-1]
    if name.endswith("utilisation"):
        return "%"
    if name.endswith("_per_hour"):
        return "/h"
    if name.endswith("_per_minute"):
        return "/min"
    if name.endswith("_per_s"):
        return "/s"
    if last in ("mean", "max", *(f"p{p}" for p in PERCENTILES)):
        return "s"
    return ""


_TERMINAL_CODES = np.array([STATES.index(s) for s in sorted(TERMINAL_STATES)])
_IN_PROGRESS = STATES.index("In Progress")
_CREATED_COLUMNS = (
    "kind",
    "type",
    "computer",
    "group",
    "parent",
    "deliver_after",
    "depends_on",
    "progress_of",
    "threshold",
)


def _first_index(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct codes (>= 0) and the position of each one's first occurrence."""
    keep = np.flatnonzero(codes >= 0)
    uniq, first = np.unique(codes[keep], return_index=True)
    return uniq, keep[first]


def _last_index(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct codes (>= 0) and the position of each one's last occurrence."""
    rev = codes[::-1]
    uniq, first_rev = _first_index(rev)
    return uniq, len(codes) - 1 - first_rev


def entry_arrays(frame: TraceSource, ids: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every state entry in file order: the ``created`` record's state, then each
    ``transition``'s ``to``. Returns ``(activity code, state code, t)``; an activity code
    is the position of the id in ``ids`` (-1 if not there), a state code its position in
    ``STATES`` (-1 if unknown)."""
    f = as_frame(frame)
    event = events(f)
    is_created = event == "created"
    rows = np.flatnonzero(is_created | (event == "transition"))
    created_row = is_created[rows]
    st = np.where(
        created_row,
        state_code(f["state"].iloc[rows]),
        state_code(f["to"].iloc[rows]),
    )
    act = ids.get_indexer(f["activity"].to_numpy(dtype=object)[rows]).astype(np.int64)
    return act, st, f["t"].to_numpy(dtype=float)[rows]


def activity_table(frame: TraceSource) -> pd.DataFrame:
    """One row per activity (per ``created`` record), in creation order.

    Columns: ``id``, ``kind``, ``type``, ``computer``, ``group`` (its fleet group), ``parent``,
    ``created_t``,
    ``start_state``, ``deliver_after``, ``depends_on``, ``progress_of``, ``threshold``, the
    time the activity FIRST entered each state (``t_queued`` ... ``t_canceled``, NaN if never),
    ``state`` (its last state), ``state_t`` (when it entered it), ``finished`` (last state
    is Succeeded, Failed or Canceled),
    ``final_t`` (when it entered that last state; NaN if unfinished), and the latencies
    ``to_start`` (created -> first In Progress), ``run`` (first In Progress -> final_t) and
    ``total`` (created -> final_t), NaN where a phase did not happen.

    A second ``created`` record for an id is ignored here (the checker reports it, rule T1),
    as are records of ids never created.
    """
    f = as_frame(frame)
    event = events(f)
    is_created = event == "created"
    created = f.loc[is_created].drop_duplicates("activity", keep="first")
    ids = pd.Index(created["activity"].to_numpy(dtype=object))
    n = len(ids)
    # Plain object columns: pandas would otherwise convert each to Arrow strings (slow, and
    # slower again on every later .to_numpy()).
    cols: dict[str, Any] = {"id": pd.Series(ids.to_numpy(), dtype=object)}
    for col in _CREATED_COLUMNS[:5]:
        cols[col] = pd.Series(created[col].to_numpy(dtype=object), dtype=object)
    cols["created_t"] = created["t"].to_numpy(dtype=float)
    cols["start_state"] = pd.Series(created["state"].to_numpy(dtype=object), dtype=object)
    for col in _CREATED_COLUMNS[5:]:
        if col in ("deliver_after", "threshold"):
            cols[col] = created[col].to_numpy(dtype=float, na_value=np.nan)
        else:
            cols[col] = pd.Series(created[col].to_numpy(dtype=object), dtype=object)
    table = pd.DataFrame(cols)

    act, st, t = entry_arrays(f, ids)
    valid = (act >= 0) & (st >= 0)
    act, st, t = act[valid], st[valid], t[valid]

    first = np.full((n, len(STATES)), np.nan)
    key = act * len(STATES) + st
    uniq, pos = _first_index(key)
    first[uniq // len(STATES), uniq % len(STATES)] = t[pos]
    for i, s in enumerate(STATES):
        table[STATE_COLUMNS[s]] = first[:, i]

    last_state = np.full(n, -1, dtype=np.int64)
    last_t = np.full(n, np.nan)
    uniq, pos = _last_index(act)
    last_state[uniq] = st[pos]
    last_t[uniq] = t[pos]
    names = np.array([*STATES, None], dtype=object)
    # -1 -> None: created in an unknown state
    table["state"] = pd.Series(names[last_state], dtype=object)
    finished = np.isin(last_state, _TERMINAL_CODES)
    table["state_t"] = last_t
    table["finished"] = finished
    final_t = np.where(finished, last_t, np.nan)
    table["final_t"] = final_t
    t_run = first[:, _IN_PROGRESS]
    created_t = table["created_t"].to_numpy()
    table["to_start"] = t_run - created_t
    table["run"] = final_t - t_run
    table["total"] = final_t - created_t
    return table


def queue_waits(frame: TraceSource) -> pd.DataFrame:
    """Per server activity, in order of first ``enqueue``: ``activity``, ``enqueue_t`` (its
    first enqueue), ``consume_t`` (its first consume, NaN if none) and ``wait``."""
    f = as_frame(frame)
    event = events(f)
    enq = np.flatnonzero(event == "enqueue")
    con = np.flatnonzero(event == "consume")
    activity = f["activity"].to_numpy(dtype=object)
    t = f["t"].to_numpy(dtype=float)
    codes, uniques = pd.factorize(np.r_[activity[enq], activity[con]])
    e_codes, c_codes = codes[: len(enq)], codes[len(enq) :]
    e_uniq, e_first = np.unique(e_codes, return_index=True)
    consume_t = np.full(len(uniques), np.nan)
    c_uniq, c_first = np.unique(c_codes, return_index=True)
    consume_t[c_uniq] = t[con][c_first]
    order = np.argsort(e_first, kind="stable")  # factorize order is first-seen order anyway
    e_uniq, e_first = e_uniq[order], e_first[order]
    enqueue_t = t[enq][e_first]
    out = pd.DataFrame(
        {
            "activity": pd.Series(np.asarray(uniques, dtype=object)[e_uniq], dtype=object),
            "enqueue_t": enqueue_t,
            "consume_t": consume_t[e_uniq],
        }
    )
    out["wait"] = out["consume_t"] - out["enqueue_t"]
    return out


def busy_intervals(frame: TraceSource, activities: pd.DataFrame | None = None) -> pd.DataFrame:
    """When each job-handler was busy: one row per ``consume`` (``handler``, ``start``, ``end``).

    A handler is busy with a message from its ``consume`` until the first of: the next
    ``consume`` or ``ack`` of the same activity, the activity entering a final state, or a
    ``handler_crash`` fault of that handler. ``end`` is NaN while still busy at trace end.
    """
    f = as_frame(frame)
    acts = activity_table(f) if activities is None else activities
    event = events(f)
    cons = f.loc[event == "consume", ["activity", "handler", "t"]]
    if cons.empty:
        return pd.DataFrame({"handler": [], "start": [], "end": []}).astype(
            {"handler": object, "start": float, "end": float}
        )
    # Candidate ends by activity: later consume/ack rows and the final transition, sorted
    # by (activity code, t, file position) with integer keys only.
    ids = pd.Index(acts["id"].to_numpy(dtype=object))
    n = len(ids)
    rows = np.flatnonzero((event == "consume") | (event == "ack"))
    code = ids.get_indexer(f["activity"].to_numpy(dtype=object)[rows]).astype(np.int64)
    code = np.where(code < 0, n + np.arange(len(rows)), code)  # uncreated: its own group
    fin = np.flatnonzero(acts["finished"].to_numpy(dtype=bool))
    key_code = np.r_[code, fin]
    key_t = np.r_[f["t"].to_numpy(dtype=float)[rows], acts["final_t"].to_numpy(dtype=float)[fin]]
    key_pos = np.r_[rows, np.full(len(fin), np.iinfo(np.int64).max)]  # finals after same-t
    is_cons = np.r_[(event == "consume")[rows], np.zeros(len(fin), dtype=bool)]
    order = np.lexsort((key_pos, key_t, key_code))
    key_code, key_t, key_pos, is_cons = (
        key_code[order],
        key_t[order],
        key_pos[order],
        is_cons[order],
    )
    same_next = np.r_[key_code[1:] == key_code[:-1], False]
    next_t = np.where(same_next, np.r_[key_t[1:], np.nan], np.nan)
    cons_pos, cons_end = key_pos[is_cons], next_t[is_cons]
    back = np.argsort(cons_pos, kind="stable")  # back to file order = order of `cons`
    out = pd.DataFrame(
        {
            "handler": cons["handler"].astype(str).to_numpy(dtype=object),
            "start": cons["t"].to_numpy(dtype=float),
            "end": cons_end[back],
        }
    )
    crash = f.loc[(event == "fault") & (f["fault"] == "handler_crash"), ["handler", "t"]]
    if not crash.empty:
        crash = pd.DataFrame({"handler": crash["handler"].astype(str), "crash_t": crash["t"]})
        out = out.assign(pos=np.arange(len(out))).sort_values("start", kind="stable")
        out = pd.merge_asof(
            out,
            crash.sort_values("crash_t"),
            left_on="start",
            right_on="crash_t",
            by="handler",
            direction="forward",
            allow_exact_matches=False,
        )
        out["end"] = np.fmin(out["end"], out["crash_t"])
        out = out.drop(columns=["crash_t"]).sort_values("pos", kind="stable")
        out = out.drop(columns="pos")
    return out.reset_index(drop=True)


def _union_length(handler: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    """Total length of the union of intervals, per handler, summed (overlaps count once)."""
    if len(start) == 0:
        return 0.0
    df = pd.DataFrame({"h": handler, "s": start, "e": end}).sort_values(["h", "s"])
    prev_max = df.groupby("h", sort=False)["e"].cummax()
    prev_max = prev_max.groupby(df["h"], sort=False).shift(1).fillna(-np.inf)
    contrib = df["e"] - np.maximum(df["s"], prev_max)
    return float(contrib.clip(lower=0).sum())


def phase_stats(values: np.ndarray, open_ages: np.ndarray | None = None) -> dict[str, Any]:
    """``PHASE_STATS`` of the durations ``values`` (NaN = did not happen, left out), plus
    ``open`` (how many were still under way at the end) and ``lower_bounds`` (the
    percentiles the data can only bound from below); None where undefined (no value).

    ``open_ages``: how long each still-open phase had lasted at the end (right-censored
    durations). Without any, the percentiles are numpy's (linear interpolation). With some,
    leaving them out would make every percentile too small. The distribution is then the
    Kaplan-Meier estimate (``scipy.stats.ecdf`` on ``CensoredData``), which lies between
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
        from scipy import stats

        floor = np.percentile(np.r_[values, ages], PERCENTILES, method="inverted_cdf")
        km = None
        if len(values):
            km = stats.ecdf(stats.CensoredData(uncensored=values, right=ages)).cdf
        n_all = len(values) + len(ages)
        pct = []
        for i, p in enumerate(PERCENTILES):
            need = math.ceil(p / 100.0 * n_all - 1e-9)  # finished ones that bound it above
            reached = [] if km is None else np.flatnonzero(km.probabilities >= p / 100.0 - 1e-12)
            if len(values) >= need and len(reached):
                pct.append(float(km.quantiles[reached[0]]))
            else:
                pct.append(float(floor[i]))
                bounded.append(names[i])
    out["mean"] = float(values.mean()) if len(values) else None
    out.update(zip(names, pct, strict=True))
    out["max"] = float(values.max()) if len(values) else None
    out["lower_bounds"] = bounded
    return out


def bound_text(stats: dict[str, Any], name: str) -> str:
    """A statistic of ``phase_stats`` as text in seconds, ">= x" when only a lower bound."""
    value = stats.get(name)
    if value is None:
        return ""
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"
    return (">= " if name in stats.get("lower_bounds", ()) else "") + text


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
