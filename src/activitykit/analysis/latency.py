"""One row per activity with the moments of its life, extracted from docs/trace-format.md records.

This is the measuring tape of the fidelity tests: it reads only the trace (what any
implementation could write), never the simulator's internals. An activity *leaves the
system* when it first enters Succeeded, Failed or Canceled; a later Canceled -> Succeeded
under the result-wins profile does not bring it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = ["END_STATES", "LatencyInputError", "as_frame", "isolated", "latencies"]

#: States in which an activity counts as gone from the system.
END_STATES: frozenset[str] = frozenset({"Succeeded", "Failed", "Canceled"})

_COLUMNS = [
    "activity",
    "kind",
    "type",
    "computer",
    "start_state",
    "created",
    "enqueued",
    "consumed",
    "delivered",
    "in_progress",
    "ended",
    "end_state",
    "wait",
    "run",
    "total",
    "queue_wait",
]


class LatencyInputError(ValueError):
    """Records that cannot be read as a trace (missing fields, activity without created)."""


def as_frame(records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Records (dicts, e.g. ``MemoryTraceWriter.records``) or a DataFrame, as a DataFrame."""
    df = records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(records)
    missing = {"t", "event"} - set(df.columns)
    if len(df) and missing:
        raise LatencyInputError(
            f"trace records lack the required field(s) {sorted(missing)} (trace format: every "
            "record has 't' and 'event')"
        )
    return df


def _first(df: pd.DataFrame, mask: pd.Series) -> pd.Series:
    sel = df.loc[mask, ["activity", "t"]]
    return sel.groupby("activity", sort=False)["t"].min()


def latencies(records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Per-activity timings, indexed by activity id, in order of creation.

    Columns: ``kind``, ``type``, ``computer``, ``start_state``, the absolute times
    ``created``, ``enqueued`` / ``consumed`` (first, server), ``delivered`` (first, client),
    ``in_progress`` (first move to In Progress), ``ended`` (first move to an end state) and
    ``end_state``; and the durations ``wait = in_progress - created``,
    ``run = ended - in_progress``, ``total = ended - created``,
    ``queue_wait = consumed - enqueued``. Moments that did not happen are NaN.
    """
    df = as_frame(records)
    if df.empty:
        return pd.DataFrame(columns=_COLUMNS[1:], index=pd.Index([], name="activity"))
    for col in ("activity", "kind", "type", "computer", "state", "to"):
        if col not in df.columns:
            df = df.assign(**{col: None})
    ev = df["event"]
    created = df.loc[ev == "created"]
    dup = created["activity"].duplicated()
    if dup.any():
        raise LatencyInputError(
            f"activity {created.loc[dup, 'activity'].iloc[0]!r} has more than one created "
            "record (docs/trace-format.md rule T1)"
        )
    out = pd.DataFrame(
        {
            "kind": created["kind"].to_numpy(),
            "type": created["type"].to_numpy(),
            "computer": created["computer"].to_numpy(),
            "start_state": created["state"].to_numpy(),
            "created": created["t"].to_numpy(dtype=float),
        },
        index=pd.Index(created["activity"].to_numpy(), name="activity"),
    )
    known = set(out.index)
    stray = df.loc[df["activity"].notna() & (ev != "created"), "activity"]
    unknown = stray[~stray.isin(known)]
    if len(unknown):
        raise LatencyInputError(
            f"activity {unknown.iloc[0]!r} has records but no created record (trace rule T1)"
        )
    is_tr = ev == "transition"
    out["enqueued"] = _first(df, ev == "enqueue")
    out["consumed"] = _first(df, ev == "consume")
    out["delivered"] = _first(df, ev == "deliver")
    out["in_progress"] = _first(df, is_tr & (df["to"] == "In Progress"))
    ends = df.loc[is_tr & df["to"].isin(END_STATES), ["activity", "t", "to"]]
    ends = ends.drop_duplicates("activity", keep="first").set_index("activity")
    out["ended"] = ends["t"]
    out["end_state"] = ends["to"]
    for col in ("enqueued", "consumed", "delivered", "in_progress", "ended"):
        out[col] = out[col].astype(float)
    out["wait"] = out["in_progress"] - out["created"]
    out["run"] = out["ended"] - out["in_progress"]
    out["total"] = out["ended"] - out["created"]
    out["queue_wait"] = out["consumed"] - out["enqueued"]
    bad = out[(out[["wait", "run", "queue_wait"]] < 0).any(axis=1)]
    if len(bad):
        raise LatencyInputError(
            f"activity {bad.index[0]!r} goes back in time: {bad.iloc[0].to_dict()} "
            "(docs/trace-format.md: records are ordered by t)"
        )
    return out


def isolated(lat: pd.DataFrame, window: float) -> pd.DataFrame:
    """Client activities alone on their computer: no other one created within +-``window`` s.

    The idle-computer derivation (``client_latency``) assumes nothing else is going on at
    the computer. Selecting on creation times only, which do not depend on how the activity
    fared, keeps the selection free of bias toward short or long latencies.
    """
    if not window >= 0:
        raise LatencyInputError(f"window={window!r} must be >= 0 seconds")
    c = lat[lat["kind"] == "client"].sort_values(["computer", "created"], kind="stable")
    by = c.groupby("computer", sort=False)["created"]
    alone_before = by.diff().fillna(float("inf")) > window
    alone_after = (-by.diff(-1)).fillna(float("inf")) > window
    return c[alone_before & alone_after]
