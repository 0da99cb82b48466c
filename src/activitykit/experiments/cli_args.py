"""The ``--replications`` options of ``activitykit run``, kept light to import.

``cli/run.py`` calls ``add_replication_args(parser)`` when it builds its parser (so this
module must not import pandas, scipy or dask: ``--help`` stays fast) and, after loading the
scenario, ``if args.replications: return run_replications_from_args(args, scenario)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..scenario.schema import Scenario

__all__ = ["add_replication_args", "run_replications_from_args"]


def add_replication_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--replications N``, ``--workers K`` and ``--scheduler ADDRESS`` to ``parser``."""
    parser.add_argument(
        "--replications",
        type=int,
        metavar="N",
        default=None,
        help="run N seeds (seed, seed+1, ...) and report each key figure as mean and 95%% CI",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="K",
        default=1,
        help="with --replications: run on a local dask cluster of K processes (default 1)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="with --replications: run on the dask scheduler at ADDRESS instead",
    )


def run_replications_from_args(args: argparse.Namespace, scenario: Scenario) -> int:
    """The ``--replications`` branch of ``activitykit run``; returns the exit code.

    Uses ``args.seed`` (if set) as the first seed and ``args.out`` as the directory
    (default ``runs/<scenario>-x<N>``); each replication's run files go under its
    ``runs/<run_id>/``. Exit 0 when all runs succeeded, 1 when any failed.
    """
    from ..errors import InputError
    from .replicate import replicate

    n = args.replications
    if n is None or n < 1:
        raise InputError(f"--replications ({n}) must be at least 1")
    seed = getattr(args, "seed", None)
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": int(seed)})
    from ..cli._paths import out_dir as checked_out_dir

    out_dir = checked_out_dir(
        getattr(args, "out", None),
        Path("runs") / f"{scenario.name}-x{n}",
        default_from="the scenario's name and --replications",
    )
    quiet = bool(getattr(args, "quiet", False))
    res = replicate(
        scenario,
        n,
        out_dir=out_dir,
        workers=getattr(args, "workers", 1),
        scheduler=getattr(args, "scheduler", None),
        keep_runs=True,
        progress=None if not quiet else False,
    )
    if not quiet:
        print(
            f"{scenario.name}: {res.ok} of {len(res.runs)} replication(s) ok; "
            f"key figures after warm-up {scenario.warmup:g} s:"
        )
        sys.stdout.write(str(res))
        print(f"results in {out_dir}")
    for err in res.runs.loc[res.runs["status"] != "ok", "error"]:
        print(f"failed run: {err.splitlines()[0]}", file=sys.stderr)
    return 1 if res.failed else 0
