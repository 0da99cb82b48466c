"""Records turned into DataFrames, figures and HTML reports.

Extract, then render: ``metrics`` and ``series`` turn a trace into DataFrames and the key
figures; ``load_run`` gathers everything a report needs into a ``RunData``; ``figures``
draws matplotlib Figures from a ``RunData`` only; ``html`` writes the report files.
Importing this package does not import matplotlib (the figures module does, on use), and
names are imported on first use (PEP 562): a simulation run reads its key figures from
``metrics`` without loading networkx and the HTML writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .compare import write_compare
    from .graph import build_graph, critical_path, summary_graph
    from .html import SECTIONS, write_report
    from .metrics import KEY_FIGURE_NAMES, activity_table, key_figures
    from .run import RunData, load_run

__all__ = [
    "KEY_FIGURE_NAMES",
    "SECTIONS",
    "RunData",
    "activity_table",
    "build_graph",
    "critical_path",
    "key_figures",
    "load_run",
    "summary_graph",
    "write_compare",
    "write_report",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "graph": ("build_graph", "critical_path", "summary_graph"),
        "compare": ("write_compare",),
        "html": ("SECTIONS", "write_report"),
        "metrics": ("KEY_FIGURE_NAMES", "activity_table", "key_figures"),
        "run": ("RunData", "load_run"),
    },
)
