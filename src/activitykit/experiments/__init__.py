"""Experiments: replications with confidence intervals and parameter sweeps on dask.

A single simulation run is one draw from a random process. ``replicate`` runs a scenario
with several seeds and reports every key figure as a mean with a Student-t confidence
interval; ``run_sweep`` does the same for every point of a grid of scenario variants,
stores one Parquet row per run and per grid point, and draws each key figure against each
swept parameter. Runs go to a dask.distributed cluster (local or remote); results depend
only on seeds, never on the number of workers.

Names are imported on first use (PEP 562), so that ``activitykit run --help`` can import
``experiments.cli_args`` without paying for pandas, scipy and dask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

__all__ = [
    "GridAxis",
    "Interval",
    "ReplicationResult",
    "RunFn",
    "RunSpec",
    "SweepResult",
    "add_replication_args",
    "apply_values",
    "default_run",
    "expand",
    "figure_vs_param",
    "format_intervals",
    "mean_ci",
    "meets",
    "panel_vs_param",
    "parse_axis",
    "replicate",
    "replication_seeds",
    "run_id",
    "run_replications_from_args",
    "run_sweep",
    "smallest_meeting",
    "summarise",
    "write_comparison",
]


if TYPE_CHECKING:
    from .cli_args import add_replication_args, run_replications_from_args
    from .execute import RunFn, default_run
    from .grid import GridAxis, RunSpec, apply_values, expand, parse_axis, replication_seeds, run_id
    from .objectives import meets, smallest_meeting
    from .replicate import ReplicationResult, format_intervals, replicate
    from .report import figure_vs_param, panel_vs_param, write_comparison
    from .stats import Interval, mean_ci, summarise
    from .sweep import SweepResult, run_sweep


__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "cli_args": ("add_replication_args", "run_replications_from_args"),
        "execute": ("RunFn", "default_run"),
        "grid": (
            "GridAxis",
            "RunSpec",
            "apply_values",
            "expand",
            "parse_axis",
            "replication_seeds",
            "run_id",
        ),
        "objectives": ("meets", "smallest_meeting"),
        "replicate": ("ReplicationResult", "format_intervals", "replicate"),
        "report": ("figure_vs_param", "panel_vs_param", "write_comparison"),
        "stats": ("Interval", "mean_ci", "summarise"),
        "sweep": ("SweepResult", "run_sweep"),
    },
)
