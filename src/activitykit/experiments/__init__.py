"""Experiments: replications with confidence intervals and parameter sweeps on dask.

A single simulation run is one draw from a random process. ``replicate`` runs a scenario
with several seeds and reports every key figure as a mean with a Student-t confidence
interval; ``run_sweep`` does the same for every point of a grid of scenario variants,
stores one Parquet row per run and per grid point, and draws each key figure against each
swept parameter. Runs go to a dask.distributed cluster (local or remote); results depend
only on seeds, never on the number of workers.
"""

from __future__ import annotations

from .execute import RunFn, default_run
from .grid import GridAxis, RunSpec, apply_values, expand, parse_axis, replication_seeds, run_id
from .objectives import smallest_meeting
from .replicate import (
    ReplicationResult,
    add_replication_args,
    format_intervals,
    replicate,
    run_replications_from_args,
)
from .report import figure_vs_param, write_comparison
from .stats import Interval, mean_ci, summarise
from .sweep import SweepResult, run_sweep

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
