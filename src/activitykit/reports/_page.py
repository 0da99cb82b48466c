"""The HTML page of a report being assembled: headings, notes, tables (each also written as
CSV), figures (each also written as PNG, drawn here or by a ``render.FigurePool``), and the
self-contained document around them. What the page says is ``html``'s.
"""

from __future__ import annotations

import base64
import html
import math
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .metrics import LATENCY_PHASES
from .render import DRAW_ORDER, shown_figures

if TYPE_CHECKING:
    from .render import FigurePool
    from .run import RunData

__all__ = ["TABLE_ROWS", "Page", "anchor", "document", "fmt", "key_table"]

#: Rows of a long table shown in the HTML; the CSV always holds them all.
TABLE_ROWS = 50


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-top:.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.8em}
.note{color:#666;font-size:.9em}nav a{margin-right:1em}
.question{font-size:1.2em;font-style:italic}.verdict{font-weight:bold;font-size:1.1em}
.ok{color:#1a7f37}.bad{color:#b42318}table.headline td.big{font-size:1.3em;font-weight:bold}
"""


#: Seconds to wait for the workers' figures before drawing the rest here instead (a figure of a
#: million-computer run takes a few seconds; a worker this late is stuck).
FIGURE_WAIT = 120.0


@dataclass
class Page:
    """The HTML being assembled and the folder receiving its PNG and CSV files.

    With a ``FigurePool``, every figure of ``run`` is asked of the pool at once
    (``prefetch``) and put in its place at the end (``finish``).
    """

    assets: Path
    parts: list[str]
    run: RunData | None = None
    pool: FigurePool | None = None
    _pending: dict[str, Future[bytes]] = field(default_factory=dict)
    _holes: dict[int, str] = field(default_factory=dict)

    def heading(self, title: str) -> None:
        self.parts.append(f'<h2 id="{anchor(title)}">{html.escape(title)}</h2>')

    def text(self, text: str, cls: str = "note") -> None:
        self.parts.append(f'<p class="{cls}">{html.escape(text)}</p>')

    def prefetch(self) -> None:
        if self.pool is not None and self.run is not None:
            try:
                shown = shown_figures(self.run)
                for name in DRAW_ORDER:
                    if name in shown:
                        self._pending[name] = self.pool.submit(name, self.run)
            except Exception:  # (no room for the view file, say): every figure drawn here
                self._pending.clear()
                self.pool = None

    def figure(self, name: str, fig: Any = None) -> None:
        """Figure ``name`` (of ``figures.FIGURES``, for ``run``), or the drawn ``fig``."""
        if fig is None and name in self._pending:
            self._holes[len(self.parts)] = name
            self.parts.append("")
            return
        if fig is None:
            from .render import render_png

            assert self.run is not None
            png = render_png(name, self.run)
        else:
            from .figures import figure_png

            png = figure_png(fig)  # dropped, not cleared: see render.render_png
        self.parts.append(self._img(name, png))

    def _img(self, name: str, png: bytes) -> str:
        (self.assets / f"{name}.png").write_bytes(png)
        data = base64.b64encode(png).decode("ascii")
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'

    def finish(self) -> None:
        """The figures drawn by the pool, in their places (drawn here if a worker failed).
        ``FIGURE_WAIT`` bounds the wait for them all: a stuck pool costs it once."""
        deadline = time.monotonic() + FIGURE_WAIT
        for at, name in self._holes.items():
            try:
                wait = max(0.0, deadline - time.monotonic())
                png = self._pending.pop(name).result(timeout=wait)
            except Exception:  # a broken or stuck pool must not cost the report: draw it here
                from .render import render_png

                assert self.run is not None
                png = render_png(name, self.run)
            self.parts[at] = self._img(name, png)
        self._holes.clear()

    def table(self, name: str, df: pd.DataFrame, *, index: bool = False, note: str = "") -> None:
        df.to_csv(self.assets / f"{name}.csv", index=index)
        shown = df.head(TABLE_ROWS)
        more = len(df) - len(shown)
        tail = f" (first {TABLE_ROWS} of {len(df)} rows; all in {name}.csv)" if more > 0 else ""
        if note or tail:
            self.text(note + tail)
        if len(df) == 0:
            self.text("(none)")
            return
        self.parts.append(shown.to_html(index=index, float_format=fmt, na_rep="", border=0))

    def key_figures(
        self, figures: dict[str, float], lower: set[str] | frozenset[str] = frozenset()
    ) -> None:
        """Key figures: CSV as name/value; in the HTML, latencies as a scope x phase grid,
        ">= x" for the names in ``lower`` (percentiles only bounded from below)."""
        key_table(figures).to_csv(self.assets / "key_figures.csv", index=False)
        rows, other = [], {}
        for name, value in figures.items():
            parts = name.split(".")
            if len(parts) == 3 and parts[1] in LATENCY_PHASES:
                text = fmt(value)
                text = ">= " + text if name in lower and text else text
                rows.append({"scope": parts[0], "phase": parts[1], "stat": parts[2], "v": text})
            else:
                other[name] = value
        if rows:
            df = pd.DataFrame(rows)
            grid = df.pivot(index=["scope", "phase"], columns="stat", values="v")
            grid = grid.reindex(columns=list(dict.fromkeys(df["stat"])))
            grid = grid.reindex(
                index=list(dict.fromkeys(zip(df["scope"], df["phase"], strict=True)))
            )
            note = "Latencies (s), activities created after warm-up"
            if lower:
                note += "; >= x: still-open activities leave it unknown, at least x"
            self.text(note + ":")
            self.parts.append(grid.to_html(na_rep="", border=0))
        self.parts.append(
            key_table(other).to_html(index=False, float_format=fmt, na_rep="", border=0)
        )


def fmt(x: float) -> str:
    """Table numbers without false precision: whole numbers and anything from 100 up
    without decimals (with thousands separators), 1 decimal from 1, 3 significant digits
    below. Units are in the column names and notes; the CSV files keep full precision."""
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 1 else f"{x:.3g}"


def anchor(title: str) -> str:
    return title.lower().replace(" ", "-")


def key_table(figures: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"name": list(figures), "value": list(figures.values())})


def document(title: str, parts: Sequence[str], sections: Sequence[str] = ()) -> str:
    """The self-contained HTML document: ``parts`` under ``title``, with links to those of
    ``sections`` (headings) the parts hold."""
    body = "".join(parts)
    nav = " ".join(
        f'<a href="#{anchor(s)}">{html.escape(s)}</a>'
        for s in sections
        if f'id="{anchor(s)}"' in body
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><nav>{nav}</nav>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
