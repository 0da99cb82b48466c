"""Capacity questions over a sweep: which is the cheapest configuration that is good enough?

"Good enough" is an objective on one key figure, e.g. ``client.total.p90 <= 900``. A grid
point meets it *confidently* when the upper end of the figure's confidence interval is
within the limit (the mean alone would pass half of the borderline cases by luck).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

__all__ = ["meets", "smallest_meeting"]


def meets(
    points: pd.DataFrame,
    figure: str,
    limit: float,
    *,
    below: bool = True,
    confident: bool = True,
) -> pd.Series:
    """Per grid point: does ``figure`` stay below (or above, ``below=False``) ``limit``?

    ``confident`` judges by the CI bound on the wrong side (``ci_high`` for an upper limit,
    ``ci_low`` for a lower one); a point without an interval (one run) then never passes.
    """
    col = f"{figure}.mean"
    if col not in points.columns:
        figures = sorted(c[: -len(".mean")] for c in points.columns if c.endswith(".mean"))
        raise KeyError(f"no key figure {figure!r} in the points table; figures: {figures}")
    if confident:
        col = f"{figure}.ci_high" if below else f"{figure}.ci_low"
    values = points[col]
    ok = values <= limit if below else values >= limit
    return ok.fillna(False).astype(bool)


def smallest_meeting(
    points: pd.DataFrame,
    figure: str,
    limit: float,
    cost: str | Callable[[pd.Series], Any],
    *,
    below: bool = True,
    confident: bool = True,
) -> pd.Series | None:
    """The grid point of least ``cost`` that meets the objective, or None if none does.

    ``cost`` is a column name (e.g. ``"server.job_handlers"``) or a function of a points
    row; ties go to the better value of ``figure``.
    """
    good = points[meets(points, figure, limit, below=below, confident=confident)]
    if good.empty:
        return None
    costs = good[cost] if isinstance(cost, str) else good.apply(cost, axis=1)
    ranked = good.assign(_cost=costs.to_numpy(), _fig=good[f"{figure}.mean"].to_numpy())
    ranked = ranked.sort_values(["_cost", "_fig"], ascending=[True, below], kind="stable")
    return ranked.iloc[0].drop(["_cost", "_fig"])
