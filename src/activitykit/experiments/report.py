"""The comparison report of a sweep: each key figure against each swept parameter.

One PNG per (figure, parameter): the mean over replications with its confidence interval
as error bars; when more than one parameter is swept, one line per combination of the
other parameters. ``report.html`` embeds every PNG (it opens without network or the PNG
files) above the table of grid points and the list of failed runs.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["figure_vs_param", "write_comparison"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _is_numeric(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


def figure_vs_param(
    points: pd.DataFrame,
    figure: str,
    param: str,
    params: Sequence[str],
    confidence: float = 0.95,
) -> object:
    """A matplotlib Figure of ``figure`` (mean and CI) against ``param``."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
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
        ax.errorbar(x, mean, yerr=err, marker=next(markers), capsize=3, label=label)
    if not numeric:
        ax.set_xticks(range(len(categories)), [str(c) for c in categories])
    ax.set_xlabel(param)
    ax.set_ylabel(figure)
    ax.set_title(f"{figure}: mean and {confidence:.0%} CI", fontsize=9)
    ax.grid(True, alpha=0.3)
    if others:
        ax.legend(fontsize=7)
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


def write_comparison(
    out_dir: Path,
    runs: pd.DataFrame,
    points: pd.DataFrame,
    params: Sequence[str],
    figures: Sequence[str],
    confidence: float = 0.95,
) -> Path:
    """Write ``report.html`` and ``figures/<figure>--<param>.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    sections: list[str] = []
    for param in params:
        imgs = []
        for figure in figures:
            if points[f"{figure}.mean"].isna().all():
                continue
            fig = figure_vs_param(points, figure, param, params, confidence)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=90)  # type: ignore[attr-defined]
            data = buf.getvalue()
            (fig_dir / f"{_slug(figure)}--{_slug(param)}.png").write_bytes(data)
            b64 = base64.b64encode(data).decode()
            imgs.append(
                f'<figure><img alt="{html.escape(figure)} against {html.escape(param)}" '
                f'src="data:image/png;base64,{b64}"></figure>'
            )
        sections.append(f"<h2>Against {html.escape(param)}</h2>\n" + "\n".join(imgs))
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
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ padding: 0.2em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }}
</style></head><body>
<h1>Sweep comparison</h1>
<p>{len(points)} grid point(s) over {html.escape(", ".join(params) or "no parameter")};
{ok} run(s) ok, {len(failed)} failed. Intervals are {confidence:.0%} Student-t confidence
intervals of the mean over replications.</p>
{"".join(sections)}
<h2>Grid points</h2>
{_points_html(points, params, figures)}
<h2>Failed runs</h2>
{fail_html}
</body></html>
"""
    path = out_dir / "report.html"
    path.write_text(doc, encoding="utf-8")
    return path
