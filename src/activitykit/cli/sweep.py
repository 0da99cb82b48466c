"""``activitykit sweep``: a grid of scenario variants times replications, on dask."""

from __future__ import annotations

import argparse
import sys

from ._options import add_set_option, seed_arg

#: Figures printed per grid point unless --show says otherwise (when the runs report them).
HEADLINE = (
    "client.total.p90",
    "server.total.p90",
    "all.throughput_per_hour",
    "server.job_handler_utilisation",
    "all.unfinished",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a grid of scenario variants x replications on dask",
        description=(
            "Run every combination of the --grid values, each with --replications seeds "
            "(seed, seed+1, ...), on a local dask cluster or an existing scheduler. Results "
            "go to DIR: runs.parquet (one row per run), points.parquet (one row per grid "
            "point, mean and 95% CI per key figure) and report.html. Re-running with the "
            "same DIR skips the runs already done. Exit 0 when all runs succeeded, 1 when "
            "some failed, 2 on bad input."
        ),
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a swept field and its values (YAML), e.g. server.job_handlers=1,2,4; repeatable",
    )
    p.add_argument(
        "--replications", type=int, default=1, metavar="N", help="seeds per grid point (default 1)"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="K",
        help="local dask worker processes (default: one per CPU; 1 runs in this process)",
    )
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="use the dask scheduler at ADDRESS instead"
    )
    p.add_argument("--out", metavar="DIR", help="results directory (default runs/sweep-<name>)")
    add_set_option(p, "--set duration=3600", note=" for every run of the sweep")
    p.add_argument(
        "--seed", type=seed_arg, metavar="N", help="first seed (default: the scenario's)"
    )
    p.add_argument(
        "--keep-runs",
        action="store_true",
        help="keep each run's trace, summary and effective scenario under DIR/runs/<run_id>/",
    )
    p.add_argument("--no-report", action="store_true", help="skip report.html and the PNGs")
    p.add_argument(
        "--show",
        action="append",
        metavar="FIGURE",
        help="key figure to print per grid point (default: a few headline figures); repeatable",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.set_defaults(func=run)


def _cell(mean: float, low: float, high: float) -> str:
    if mean != mean:  # NaN
        return "-"
    if low != low:
        return f"{mean:.4g}"
    return f"{mean:.4g} [{low:.4g}, {high:.4g}]"


def _check_show(names: list[str]) -> None:
    """``--show`` names key figures a run reports: refused before any run, not after."""
    import difflib

    from ..errors import InputError
    from ..reports.names import KEY_FIGURE_NAMES

    for name in names:
        if name not in KEY_FIGURE_NAMES:
            close = difflib.get_close_matches(name, KEY_FIGURE_NAMES, n=2, cutoff=0.6)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise InputError(
                f"--show {name}: no such key figure; {hint}the key figures are: "
                f"{', '.join(KEY_FIGURE_NAMES)}"
            )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .._cpus import usable_cpus
    from ..errors import InputError
    from ..experiments import run_sweep
    from ..scenario import load_scenario
    from ._paths import out_dir

    _check_show(args.show or [])
    if args.replications < 1:
        raise InputError(f"--replications ({args.replications}) must be at least 1")
    workers = args.workers if args.workers is not None else usable_cpus()  # run_sweep checks it
    scenario = load_scenario(Path(args.scenario), overrides=list(args.overrides))
    if args.seed is not None:
        scenario = scenario.model_copy(update={"seed": args.seed})
    out = out_dir(
        args.out, Path("runs") / f"sweep-{scenario.name}", default_from="the scenario's name"
    )
    res = run_sweep(
        scenario,
        args.grid,
        args.replications,
        out_dir=out,
        workers=workers,
        scheduler=args.scheduler,
        keep_runs=args.keep_runs,
        progress=False if args.quiet else None,
        report=not args.no_report,
    )
    if not args.quiet:
        show = args.show or [f for f in HEADLINE if f in res.figures]
        import pandas as pd

        table = res.points[[*res.params, "runs", "failed"]].copy()
        for f in show:
            if f in res.figures:
                table[f] = [
                    _cell(m, lo, hi)
                    for m, lo, hi in zip(
                        res.points[f"{f}.mean"],
                        res.points[f"{f}.ci_low"],
                        res.points[f"{f}.ci_high"],
                        strict=True,
                    )
                ]
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(table.to_string(index=False))
        print(
            f"{res.ran} run(s) ran, {res.skipped} already done, {res.failed} failed; "
            f"results in {out}" + (f" (report: {res.report})" if res.report else "")
        )
    for _, row in res.failures.iterrows():
        print(
            f"failed run {row['run_id']} (seed {row['seed']}): {str(row['error']).splitlines()[0]}",
            file=sys.stderr,
        )
    return 1 if res.failed else 0
