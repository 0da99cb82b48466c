"""Little's law, L = lambda * W, measured on a trace's own data.

Two sides computed by two different routes, so that agreement means something:

* ``L`` is the time-average number of activities in the system over a window, from a sweep
  over the record stream (+1 at each ``created``, -1 at an activity's first move into
  Succeeded, Failed or Canceled), integrated as a step function;
* ``lam`` is the number of activities created in the window divided by its length, and
  ``W`` the mean time in system of those of them that left, taken per activity from
  ``latencies``.

On a finite window they differ only by edge effects (activities already inside when the
window opens, or still inside when it closes), which shrink as the window grows relative
to ``W``. A trace whose activities leave twice, leave before they arrive, or are counted
out of order breaks the equality far beyond that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .latency import END_STATES, LatencyInputError, as_frame, latencies

__all__ = ["LittleCheck", "in_system", "littles_law"]


@dataclass(frozen=True, slots=True)
class LittleCheck:
    """Both sides of Little's law over ``[start, end]`` for activities of ``kind``."""

    kind: str | None
    start: float
    end: float
    #: Time-average number in system over the window.
    l: float  # noqa: E741 - the textbook name
    #: Arrival rate in the window (per s).
    lam: float
    #: Mean time in system of the window's arrivals that left (s).
    w: float
    #: Arrivals in the window, and how many of them were still inside at ``end``.
    arrivals: int
    unfinished: int

    @property
    def lam_w(self) -> float:
        return self.lam * self.w

    @property
    def relative_error(self) -> float:
        """``|L - lam W| / L`` (0 when both are 0)."""
        if self.l == 0:
            return 0.0 if self.lam_w == 0 else float("inf")
        return abs(self.l - self.lam_w) / self.l


def in_system(
    records: Iterable[Mapping[str, Any]] | pd.DataFrame, kind: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The step function N(t): times and the count right after each change (stream order).

    +1 at each ``created`` record, -1 at an activity's first transition into an end state;
    the running sum is taken in record order, so a departure logged before its arrival shows
    up as a negative count and is refused.
    """
    df = as_frame(records).reset_index(drop=True)
    if df.empty:
        return np.empty(0), np.empty(0)
    for col in ("activity", "kind", "to"):
        if col not in df.columns:
            df = df.assign(**{col: None})
    born = df[df["event"] == "created"]
    if kind is not None:
        born = born[born["kind"] == kind]
    dead = df[(df["event"] == "transition") & df["to"].isin(END_STATES)]
    dead = dead.drop_duplicates("activity", keep="first")
    dead = dead[dead["activity"].isin(born["activity"])]
    steps = pd.concat(
        [
            pd.DataFrame({"pos": born.index, "t": born["t"], "d": 1}),
            pd.DataFrame({"pos": dead.index, "t": dead["t"], "d": -1}),
        ]
    ).sort_values("pos", kind="stable")
    born_at = pd.Series(born.index, index=born["activity"].to_numpy())
    born_at = born_at[~born_at.index.duplicated()]
    early = dead[dead.index.to_numpy() < dead["activity"].map(born_at).to_numpy()]
    if len(early):
        raise LatencyInputError(
            f"activity {early['activity'].iloc[0]!r} ends at t={early['t'].iloc[0]} before "
            "its created record (docs/trace-format.md rule T1)"
        )
    counts = steps["d"].cumsum().to_numpy(dtype=float)
    return steps["t"].to_numpy(dtype=float), counts


def _time_average(times: np.ndarray, counts: np.ndarray, start: float, end: float) -> float:
    if times.size == 0:
        return 0.0
    # N is right-continuous: counts[i] holds on [times[i], times[i+1]).
    before = np.searchsorted(times, start, side="right") - 1
    level0 = counts[before] if before >= 0 else 0.0
    sel = (times > start) & (times < end)
    t = np.concatenate(([start], times[sel], [end]))
    levels = np.concatenate(([level0], counts[sel]))
    return float(np.sum(levels * np.diff(t)) / (end - start))


def littles_law(
    records: Iterable[Mapping[str, Any]] | pd.DataFrame,
    kind: str | None = None,
    start: float = 0.0,
    end: float | None = None,
) -> LittleCheck:
    """Measure ``L``, ``lam`` and ``W`` over ``[start, end]`` (default end: the last record).

    ``kind`` restricts to ``client`` or ``server`` activities (default: all).
    """
    df = as_frame(records)
    if end is None:
        end = float(df["t"].max()) if len(df) else start
    if not end > start:
        raise LatencyInputError(
            f"Little's law needs a window of positive length: start={start}, end={end}; "
            "pass an end after the warm-up"
        )
    times, counts = in_system(df, kind)
    lat = latencies(df)
    if kind is not None:
        lat = lat[lat["kind"] == kind]
    arrived = lat[(lat["created"] >= start) & (lat["created"] < end)]
    left = arrived[arrived["ended"] <= end]
    return LittleCheck(
        kind=kind,
        start=float(start),
        end=float(end),
        l=_time_average(times, counts, start, end),
        lam=len(arrived) / (end - start),
        w=float(left["total"].mean()) if len(left) else 0.0,
        arrivals=len(arrived),
        unfinished=len(arrived) - len(left),
    )
