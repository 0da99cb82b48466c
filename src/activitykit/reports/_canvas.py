"""The blank figure every report figure starts from, its colours, and PNG rendering.

Figures are built with ``matplotlib.figure.Figure`` directly, never ``pyplot``: no global
figure registry to leak from and no GUI backend, so they render with Agg anywhere (a
server, a test worker) and are freed when dropped.
"""

from __future__ import annotations

import io

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["STATE_COLOURS", "empty_panel", "figure_png", "new_figure"]

STATE_COLOURS: dict[str, str] = {
    "Queued": "#9ecae1",
    "Scheduled": "#c6dbef",
    "Waiting": "#fdd0a2",
    "Blocked": "#fd8d3c",
    "In Progress": "#3182bd",
    "Succeeded": "#31a354",
    "Failed": "#de2d26",
    "Canceled": "#969696",
    "group": "#dadaeb",
}


#: False: each axes' title sits at the top of the axes (``set_title``'s ``y`` of 1.0), rather
#: than be placed by matplotlib at every draw above whatever sits on top of the axes, which
#: measures every tick label of the axes once more (a tenth of a report's figure time). No
#: report figure puts ticks or labels on top of an axes, so that place is always the top:
#: the same pixels (tests/test_reports_render.py).
PLACE_TITLES = False


def new_figure(rows: int = 1, cols: int = 1, *, size: tuple[float, float] = (10, 4)) -> Figure:
    # Fixed margins rather than constrained layout: layout engines measure every text box
    # in an extra draw pass, which doubled the cost of a report.
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    # axes.titley, read as each axes is made: any value turns the placement off
    with matplotlib.rc_context({"axes.titley": None if PLACE_TITLES else 1.0}):
        fig.subplots(rows, cols, squeeze=False)
    w, h = size
    fig.subplots_adjust(
        left=0.75 / w, right=1 - 0.25 / w, bottom=0.6 / h, top=1 - 0.45 / h,
        hspace=1.2 / (h / rows), wspace=0.9 / (w / cols),
    )  # fmt: skip
    return fig


def empty_panel(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this run", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG bytes with the Agg canvas."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
