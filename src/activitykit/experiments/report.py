"""The comparison report of a sweep: the scenario's question answered over the grid.

First the answer to each of the scenario's objectives in words ("the smallest
server.job_handlers with server.to_start.p90 <= 300 s is 4"), then, per swept parameter,
one labelled chart per headline figure: the mean over replications with its confidence
interval as error bars, the objective's limit as a line, one line per combination of the
other parameters. ``report.html`` embeds the PNGs (it opens without network or the PNG
files) above the scrollable table of every figure at every grid point and the failed runs.
``figure_vs_param`` draws one figure against one parameter and ``panel_vs_param`` all of
them as small multiples, for notebooks.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..scenario.schema import Headline, Objective

__all__ = ["answer", "figure_vs_param", "panel_vs_param", "write_comparison"]

#: Charts drawn when the scenario names no headline figures.
_DEFAULT_CHARTS = 4


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _is_numeric(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


def _draw(
    ax: Any,
    points: pd.DataFrame,
    figure: str,
    param: str,
    params: Sequence[str],
    *,
    legend: bool,
) -> None:
    """Mean and CI error bars of ``figure`` against ``param``: one line per combination of
    the other parameters."""
    others = [p for p in params if p != param]
    groups = points.groupby(others, sort=False, dropna=False) if others else [((), points)]
    numeric = _is_numeric(points[param])
    categories = list(dict.fromkeys(points[param].tolist()))
    markers = itertools.cycle("osD^v<>")
    for key, group in groups:
        if numeric:
            g = group.sort_values(param)
            x = g[param].to_numpy(dtype=float)
        else:
            g = group
            x = np.array([categories.index(v) for v in g[param]], dtype=float)
        mean = g[f"{figure}.mean"].to_numpy(dtype=float)
        low = g[f"{figure}.ci_low"].to_numpy(dtype=float)
        high = g[f"{figure}.ci_high"].to_numpy(dtype=float)
        err = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])
        values = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{p}={v}" for p, v in zip(others, values, strict=True)) or None
        ax.errorbar(x, mean, yerr=err, marker=next(markers), markersize=4, capsize=3, label=label)
    if not numeric:
        ax.set_xticks(range(len(categories)), [str(c) for c in categories])
    elif len(categories) <= 12:  # label the grid values themselves, not 1.25, 1.5, ...
        ax.set_xticks(sorted(float(c) for c in categories), [f"{c:g}" for c in sorted(categories)])
    ax.set_title(figure, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    if legend and others:
        ax.legend(fontsize=6)


def figure_vs_param(
    points: pd.DataFrame,
    figure: str,
    param: str,
    params: Sequence[str],
    confidence: float = 0.95,
) -> Any:
    """A matplotlib Figure of ``figure`` (mean and CI error bars) against ``param``."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    _draw(ax, points, figure, param, params, legend=True)
    ax.set_xlabel(param)
    ax.set_ylabel(figure)
    ax.set_title(f"{figure}: mean and {confidence:.0%} CI", fontsize=9)
    return fig


def panel_vs_param(
    points: pd.DataFrame,
    figures: Sequence[str],
    param: str,
    params: Sequence[str],
    confidence: float = 0.95,
    columns: int = 4,
) -> Any:
    """Every figure against ``param`` as small multiples (one matplotlib Figure).

    One image per parameter rather than one per (figure, parameter): rendering dominates the
    cost of a report, and dozens of separate PNGs cost several times more than one panel.
    """
    from matplotlib.figure import Figure

    shown = [f for f in figures if not points[f"{f}.mean"].isna().all()]
    rows = max(1, -(-len(shown) // columns))
    fig = Figure(figsize=(4.0 * columns, 2.7 * rows + 0.6))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for i, (ax, figure) in enumerate(zip(axes, shown, strict=False)):
        _draw(ax, points, figure, param, params, legend=i == 0)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    height = fig.get_figheight()
    fig.suptitle(
        f"Key figures against {param}: mean and {confidence:.0%} CI over replications",
        y=1 - 0.12 / height,
    )
    fig.subplots_adjust(
        left=0.05, right=0.98, bottom=0.3 / height, top=1 - 0.75 / height, hspace=0.5, wspace=0.25
    )
    return fig


def _points_html(points: pd.DataFrame, params: Sequence[str], figures: Sequence[str]) -> str:
    shown = points[[*params, "runs", "failed"]].copy()
    for f in figures:
        m, lo, hi = (points[f"{f}.{s}"] for s in ("mean", "ci_low", "ci_high"))
        shown[f] = [
            "" if np.isnan(a) else (f"{a:.4g}" if np.isnan(b) else f"{a:.4g} [{b:.4g}, {c:.4g}]")
            for a, b, c in zip(m, lo, hi, strict=True)
        ]
    return shown.to_html(index=False, escape=True, border=0, classes="points")


def answer(points: pd.DataFrame, objective: Objective, param: str, params: Sequence[str]) -> str:
    """The objective's answer in words: the smallest ``param`` whose grid point meets it
    confidently (the interval's far end within the limit), or that none does."""
    from ..reports.headline import format_figure
    from ..reports.metrics import figure_unit
    from .objectives import smallest_meeting

    limit = objective.at_most if objective.at_most is not None else objective.at_least
    op = "<=" if objective.at_most is not None else ">="
    goal = f"{objective.figure} {op} {format_figure(limit, figure_unit(objective.figure))}"
    if not _is_numeric(points[param]):
        return f"{param} is not numeric: no smallest value to name for {goal}."
    at_most = {objective.figure: objective.at_most} if objective.at_most is not None else None
    at_least = {objective.figure: objective.at_least} if objective.at_least is not None else None
    best = smallest_meeting(points, at_most, at_least=at_least, cost=param)
    if best is None:
        return f"No {param} in the sweep meets {goal} (judged by the {_END[op]} of the interval)."
    others = [p for p in params if p != param]
    where = (" (with " + ", ".join(f"{p}={best[p]}" for p in others) + ")") if others else ""
    return f"The smallest {param} with {goal} is {best[param]:g}{where}."


_END = {"<=": "upper end", ">=": "lower end"}


def _chart(
    points: pd.DataFrame,
    figure: str,
    param: str,
    params: Sequence[str],
    confidence: float,
    objective: Objective | None,
) -> Any:
    """One labelled chart: ``figure`` (mean, CI error bars) against ``param``, with the
    objective's limit as a line."""
    from ..reports.metrics import figure_unit

    fig = figure_vs_param(points, figure, param, params, confidence)
    ax = fig.axes[0]
    unit = figure_unit(figure)
    ax.set_ylabel(f"{figure} ({unit})" if unit else figure)
    ax.tick_params(labelsize=9)
    if objective is not None:
        limit = objective.at_most if objective.at_most is not None else objective.at_least
        op = "<=" if objective.at_most is not None else ">="
        ax.axhline(float(limit), color="#b42318", ls="--", lw=1, label=f"objective {op} {limit:g}")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if unit != "" or figure.endswith(("unfinished", "created", "finished")):
        ax.set_ylim(bottom=0)  # the figures cannot be negative
    return fig


def write_comparison(
    out_dir: Path,
    runs: pd.DataFrame,
    points: pd.DataFrame,
    params: Sequence[str],
    figures: Sequence[str],
    confidence: float = 0.95,
    headline: Headline | None = None,
) -> Path:
    """Write ``report.html`` and ``figures/<figure>-vs-<param>.png``: one labelled chart
    per headline figure (the scenario's ``headline``: objectives' figures first, then its
    figures; without one, the first figures that vary over the grid) and parameter, each
    objective answered in words, and the scrollable table of every figure."""
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    objectives = {o.figure: o for o in (headline.objectives if headline else [])}
    wanted = list(dict.fromkeys([*objectives, *(headline.figures if headline else [])]))
    charted = [f for f in wanted if f in figures and not points[f"{f}.mean"].isna().all()]
    if not charted:  # no headline: the figures that vary (a flat line answers nothing)
        charted = [f for f in figures if points[f"{f}.mean"].nunique(dropna=True) > 1][
            :_DEFAULT_CHARTS
        ]
    sections: list[str] = []
    answers = [answer(points, objectives[f], p, params) for f in objectives for p in params]
    if answers:
        sections.append(
            "<h2>Answer</h2>" + "".join(f'<p class="answer">{html.escape(a)}</p>' for a in answers)
        )
    for param in params:
        sections.append(f"<h2>Against {html.escape(param)}</h2>")
        for figure in charted:
            fig = _chart(points, figure, param, params, confidence, objectives.get(figure))
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=90)
            data = buf.getvalue()
            (fig_dir / f"{_slug(figure)}-vs-{_slug(param)}.png").write_bytes(data)
            b64 = base64.b64encode(data).decode()
            sections.append(
                f'<figure><img alt="{html.escape(figure)} against {html.escape(param)}" '
                f'src="data:image/png;base64,{b64}"></figure>'
            )
    failed = runs[runs["status"] != "ok"]
    fail_html = (
        failed[[*params, "run_id", "seed", "error"]]
        .assign(error=failed["error"].str.split("\n").str[0])
        .to_html(index=False, escape=True, border=0)
        if len(failed)
        else "<p>None.</p>"
    )
    ok = int((runs["status"] == "ok").sum())
    doc = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Sweep comparison</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
figure {{ display: inline-block; margin: 0.5em; }}
.answer {{ font-size: 1.15em; font-weight: bold; }}
.scroll {{ overflow: auto; max-width: 100%; max-height: 70vh; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ padding: 0.2em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }}
</style></head><body>
<h1>Sweep comparison</h1>
<p>{len(points)} grid point(s) over {html.escape(", ".join(params) or "no parameter")};
{ok} run(s) ok, {len(failed)} failed. Intervals are {confidence:.0%} confidence intervals
of the mean over replications: bootstrap percentile intervals for the key figures (never
negative, as the figures cannot be), Student-t for any other.</p>
{"".join(sections)}
<h2>Grid points</h2>
<div class="scroll">{_points_html(points, params, figures)}</div>
<h2>Failed runs</h2>
{fail_html}
</body></html>
"""
    path = out_dir / "report.html"
    path.write_text(doc, encoding="utf-8")
    return path
