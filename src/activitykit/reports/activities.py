"""Per-activity facts from a trace, computed column-wise: the activity table (when each
activity entered each state, its last state, its latencies), the server's queue waits and
the job-handlers' busy intervals. ``metrics`` computes the run's statistics from them.

Everything here is vectorised: a 1M-activity trace holds several million records, so each
step is a mask, a sort or a ``np.unique`` over integer codes, never a Python loop per
activity. Activity ids are mapped once to integer codes (their row in the activity table)
and states to their position in ``STATES``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._frame import STATES, TERMINAL_STATES, TraceSource, as_frame, events, state_code

__all__ = ["STATE_COLUMNS", "activity_table", "busy_intervals", "entry_arrays", "queue_waits"]

#: ``t_<state>`` column of each state, in ``STATES`` order ("In Progress" -> t_in_progress).
STATE_COLUMNS: dict[str, str] = {s: "t_" + s.lower().replace(" ", "_") for s in STATES}


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
