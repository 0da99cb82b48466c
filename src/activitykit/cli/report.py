"""``activitykit report``: the HTML report of a run, or a comparison of several runs."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write the HTML report of a run (figures as PNG, tables as CSV)",
        description=(
            "Write report.html for RUN_DIR (a directory written by 'activitykit run', or any "
            "trace file, docs/trace-format.md), with its figures as PNG and tables as CSV in a "
            "folder beside it. With --compare, overlay the latency distributions of several "
            "runs and tabulate their key figures side by side."
        ),
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directory or trace file")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="HTML file to write (default: RUN_DIR/report.html; compare.html with --compare)",
    )
    p.add_argument(
        "--compare", action="store_true", help="compare two or more runs instead of reporting one"
    )
    p.add_argument(
        "--no-check",
        action="store_true",
        help="skip the conformance check (its section then says so)",
    )
    from .check import add_manifest_arg

    add_manifest_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from .check import judge_manifest

    for run_dir in args.runs:
        judge_manifest(run_dir, args.require_manifest, "report")

    if args.compare:
        if len(args.runs) < 2:
            raise InputError("--compare needs at least two run directories or traces")
        from ..reports import write_compare

        path = write_compare(args.runs, args.output or "compare.html")
    else:
        if len(args.runs) != 1:
            raise InputError(
                f"report takes one RUN_DIR, got {len(args.runs)}; use --compare for several"
            )
        from ..reports import write_report

        path = write_report(args.runs[0], args.output, check=not args.no_check)
    print(f"wrote {path}", file=sys.stderr)
    return 0
