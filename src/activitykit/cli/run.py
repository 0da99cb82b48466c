"""``activitykit run``: simulate one scenario file and write its run directory."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="simulate a scenario file; write trace, summary and report",
        description=(
            "Simulate SCENARIO and write into DIR (default runs/<scenario>-<seed>/): the trace, "
            "scenario.effective.yaml, summary.json and report.html. Exit 0 when the run is "
            "conformant, 1 when the online checker found violations, 2 on bad input."
        ),
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML, docs/scenarios.md)")
    p.add_argument("--seed", type=int, metavar="N", help="random seed (default: the scenario's)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<scenario>-<seed>)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set duration=3600 --set fleet.groups.0.computers=250",
    )
    p.add_argument(
        "--trace-format",
        choices=("parquet", "jsonl"),
        help="trace file format (default: the scenario's output.trace_format)",
    )
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar and no summary table"
    )
    from ..experiments.cli_args import add_replication_args

    add_replication_args(p)  # --replications N [--workers K] [--scheduler ADDRESS]
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..runner import default_out_dir, run_scenario, summary_table
    from ..scenario import load_scenario

    if args.seed is not None and args.seed < 0:
        raise InputError(f"--seed must be >= 0 (got {args.seed})")
    scenario = load_scenario(args.scenario, args.overrides)
    if args.replications is not None:
        from ..experiments.cli_args import run_replications_from_args

        return run_replications_from_args(args, scenario)
    seed = scenario.seed if args.seed is None else args.seed
    out = Path(args.out) if args.out else default_out_dir(args.scenario, seed)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; name a directory")
    result = run_scenario(
        scenario,
        out,
        seed=seed,
        trace_format=args.trace_format,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    if not args.quiet:
        sys.stdout.write(summary_table(result.summary))
        written = [p.name for p in (result.trace_path, result.report_path) if p is not None]
        print(
            f"\nwrote {out}/ ({', '.join(['scenario.effective.yaml', *written, 'summary.json'])})"
        )
    if not result.conformant:
        print(
            f"activitykit run: {result.summary['violations']['count']} violation(s); "
            f"see {out / 'summary.json'} or: activitykit check {result.trace_path}",
            file=sys.stderr,
        )
    return result.exit_code
