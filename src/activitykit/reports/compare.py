"""The comparison of several runs (``activitykit report A B ...``): overlaid latency ECDFs
and the key figures side by side."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import pandas as pd

from ._page import Page, document
from .html import SECTIONS
from .run import RunData, as_run

__all__ = ["write_compare"]


def write_compare(
    sources: Sequence[RunData | str | PathLike[str]], out: str | PathLike[str]
) -> Path:
    """Compare runs: overlaid latency ECDFs and the key figures side by side.

    Writes ``out`` (HTML) and, in the folder of the same stem, ``latency_ecdf.png`` and
    ``key_figures.csv`` (one column per run). Returns the HTML path.
    """
    from .figures import ecdf_compare_figure

    runs = [as_run(s) for s in sources]
    names = _unique_names([r.name for r in runs])
    html_path = Path(out)
    assets = html_path.with_suffix("")
    assets.mkdir(parents=True, exist_ok=True)
    page = Page(assets, [])
    page.heading("Latency")
    page.figure("latency_ecdf", ecdf_compare_figure(runs, labels=names))
    page.heading("Key figures")
    table = pd.DataFrame({name: run.key_figures for run, name in zip(runs, names, strict=True)})
    table.index.name = "name"
    page.table("key_figures", table, index=True)
    page.heading("Runs")
    page.parts.append(
        "<pre>"
        + html.escape(
            json.dumps({n: str(r.path) for n, r in zip(names, runs, strict=True)}, indent=2)
        )
        + "</pre>"
    )
    html_path.write_text(document("activitykit comparison", page.parts, SECTIONS), encoding="utf-8")
    return html_path


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out
