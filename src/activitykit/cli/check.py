"""``activitykit check``: judge a trace file against the trace format's rules and the machines."""

from __future__ import annotations

import argparse
import sys

PROFILES = ("result-wins", "cancel-sticky")
INPUT_FORMATS = ("jsonl", "csv", "parquet", "landscape")


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, got {text!r}")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check a trace against the spec (rules T1-T3, C1-C8)",
        description=(
            "Check an activity trace (JSON Lines, .jsonl.gz, CSV, Parquet, or a Landscape API "
            "activities export) against docs/trace-format.md. Exit 0: conformant; 1: violations; "
            "2: bad input or usage."
        ),
    )
    p.add_argument("trace", metavar="TRACE", help="trace file")
    p.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        help="override the format told by the file extension",
    )
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="result-wins",
        help="reading of client-side Canceled (default: result-wins)",
    )
    p.add_argument(
        "--max-age",
        type=_seconds,
        metavar="S",
        help="report activities unfinished for more than S seconds as violations (STUCK)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one test case per rule)")
    p.add_argument(
        "--limit",
        type=_count,
        metavar="N",
        help="print at most N violations (the summary counts all)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pyarrow as pa

    from ..check import check

    # This process only checks: the system allocator returns pages the kernel already
    # mapped, where pyarrow's default pool costs measurably more system time on big traces.
    pa.set_memory_pool(pa.system_memory_pool())

    report = check(
        args.trace, profile=args.profile, max_age=args.max_age, input_format=args.input_format
    )
    if args.format == "json":
        sys.stdout.write(report.to_json(args.limit))
    else:
        sys.stdout.write(report.to_text(args.limit))
    if args.junit:
        try:
            report.to_junit(args.junit)
        except OSError as exc:
            from ..errors import InputError

            raise InputError(
                f"cannot write the JUnit file: {exc.strerror}", source=args.junit
            ) from None
    return 0 if report.ok else 1
