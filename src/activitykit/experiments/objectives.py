"""Capacity questions over a sweep: which is the cheapest configuration that is good enough?

"Good enough" is a set of objectives on key figures, e.g. ``server.total.p90 <= 60`` and
``all.throughput_per_hour >= 500``. A grid point meets an objective *confidently* when the
end of the figure's confidence interval on the wrong side is within the limit (the mean
alone would pass half of the borderline cases by luck of the draw).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

__all__ = ["meets", "smallest_meeting"]


def _column(points: pd.DataFrame, figure: str, stat: str) -> pd.Series:
    col = f"{figure}.{stat}"
    if col not in points.columns:
        figures = sorted(c[: -len(".mean")] for c in points.columns if c.endswith(".mean"))
        raise KeyError(f"no key figure {figure!r} in the points table; figures: {figures}")
    return points[col]


def meets(
    points: pd.DataFrame,
    at_most: Mapping[str, float] | None = None,
    *,
    at_least: Mapping[str, float] | None = None,
    confident: bool = True,
) -> pd.Series:
    """Per grid point: are all figures in ``at_most`` <= and in ``at_least`` >= their limits?

    ``confident`` judges by ``ci_high`` for upper limits and ``ci_low`` for lower ones; a
    point without an interval (one run, or every run failed) then never passes.
    """
    ok = pd.Series(True, index=points.index)
    for figure, limit in (at_most or {}).items():
        values = _column(points, figure, "ci_high" if confident else "mean")
        ok &= (values <= limit).fillna(False).astype(bool)
    for figure, limit in (at_least or {}).items():
        values = _column(points, figure, "ci_low" if confident else "mean")
        ok &= (values >= limit).fillna(False).astype(bool)
    return ok


def smallest_meeting(
    points: pd.DataFrame,
    at_most: Mapping[str, float] | None = None,
    *,
    cost: str | Callable[[pd.Series], Any],
    at_least: Mapping[str, float] | None = None,
    confident: bool = True,
) -> pd.Series | None:
    """The grid point of least ``cost`` that meets every objective, or None if none does.

    ``cost`` is a column name (e.g. ``"server.job_handlers"``) or a function of a points row
    returning anything orderable (a tuple ranks by its first item, then the next, ...).
    Ties keep the grid order.
    """
    if not at_most and not at_least:
        raise ValueError("give at least one objective, e.g. at_most={'client.total.p90': 600}")
    good = points[meets(points, at_most, at_least=at_least, confident=confident)]
    if good.empty:
        return None
    costs = list(good[cost]) if isinstance(cost, str) else [cost(r) for _, r in good.iterrows()]
    best = min(range(len(costs)), key=costs.__getitem__)  # first of the cheapest
    row = good.iloc[best]
    # one row of mixed columns: keep ints as ints (a pandas row would make them all floats)
    values = {c: good[c].iloc[best] for c in good.columns}
    return pd.Series(
        {c: v.item() if hasattr(v, "item") else v for c, v in values.items()},
        name=row.name,
        dtype=object,
    )
