"""``activitykit check``: judge a trace file against the trace format and the reference machines."""

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
            "activities export) against the rules of docs/trace-format.md. "
            "Exit 0: conformant; 1: violations; 2: bad input or usage."
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
    add_manifest_arg(p)
    p.set_defaults(func=run)


def add_manifest_arg(p: argparse.ArgumentParser) -> None:
    """``--require-manifest``, shared by ``check`` and ``report``."""
    p.add_argument(
        "--require-manifest",
        action="store_true",
        help=(
            "for a trace in a run directory, exit 2 when its manifest.json is missing, says "
            "the run did not complete, or does not match the trace (default: warn only)"
        ),
    )


def judge_manifest(path: str, require: bool, command: str, records: int | None = None) -> None:
    """Warn on stderr (or, with ``require``, refuse) a run trace its manifest does not vouch
    for: a killed run's partial trace, or one changed after the run. ``records``: the
    count read from the trace, compared with the manifest's (once the trace is read)."""
    from ..errors import InputError
    from ..trace.manifest import recorded_count, verify

    if records is None:
        problems = verify(path)
    else:
        said = recorded_count(path)
        problems = (
            [f"the manifest gives {said} records, the trace holds {records}"]
            if said is not None and said != records
            else []
        )
    if not problems:
        return
    if require:
        raise InputError(
            "the run's manifest does not vouch for this trace (--require-manifest): "
            + "; ".join(problems),
            source=path,
        )
    for problem in problems:
        print(f"activitykit {command}: WARNING: {problem}", file=sys.stderr)
    print(
        f"activitykit {command}: WARNING: results below may describe a partial or altered "
        "trace (--require-manifest makes this an error)",
        file=sys.stderr,
    )


class _NoPandas:
    """A finder that refuses pandas, while pyarrow probes for it (``_skip_pandas_probe``)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("pandas is not needed to check a trace", name=name)


def _skip_pandas_probe(pa) -> None:
    """Tell pyarrow there is no pandas, before its first conversion of Python values.

    pyarrow imports pandas the first time it converts any value (to recognise pandas
    objects): 0.4 s of CPU at every ``check`` (measured), which reads files only. Its probe
    remembers the answer; a later ``to_pandas`` still imports pandas and works.
    """
    if "pandas" in sys.modules:
        return
    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(finder)


#: glibc ``mallopt`` parameters (malloc.h; other C libraries number them differently).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8


def _keep_freed_memory() -> bool:
    """Have glibc's malloc hand freed memory to the next allocation instead of the kernel;
    whether it was told.

    A check allocates and frees blocks and columns of megabytes over and over: by default
    each is a fresh mapping, and the kernel zeroes every page of it on first touch (a sixth
    of the command's CPU time went to page faults, measured; the figures are in
    ``benchmarks/bench_check.py``). With one arena the rules reuse what the block parsers'
    threads freed; freed memory is kept up to 1 GiB. Process-wide, so only for a process
    that ends with the check (``run``'s ``own_process``); nothing on another C library.
    """
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError, TypeError):  # no ctypes, or no such function
        return False
    mallopt(_M_ARENA_MAX, 1)
    mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)  # mapped only above 32 MiB (glibc's 64-bit maximum)
    mallopt(_M_TRIM_THRESHOLD, 2**30)
    return True


def run(args: argparse.Namespace) -> int:
    own = getattr(args, "own_process", False)
    if own:
        _keep_freed_memory()
    import pyarrow as pa

    _skip_pandas_probe(pa)
    from ..check import check

    if own:
        # This process only checks: the system allocator returns pages the kernel already
        # mapped, where pyarrow's default pool costs measurably more system time on big
        # traces. Process-wide, like the malloc settings: not for a caller's process.
        pa.set_memory_pool(pa.system_memory_pool())

    from ..errors import InputError

    judge_manifest(args.trace, args.require_manifest, "check")
    # (memory that runs out here is the entry's to report, as for every command)
    report = check(
        args.trace, profile=args.profile, max_age=args.max_age, input_format=args.input_format
    )
    judge_manifest(args.trace, args.require_manifest, "check", report.summary["records"])
    if not report.summary["records"]:
        # nothing was judged: "conformant" would be a silently wrong verdict (an empty or
        # truncated export, the wrong file); bad input, like any trace that cannot be judged
        raise InputError(
            "no trace records (an empty file, a CSV header alone, or blank lines only): "
            "there is nothing to check",
            source=args.trace,
        )
    if args.format == "json":
        sys.stdout.write(report.to_json(args.limit))
    else:
        sys.stdout.write(report.to_text(args.limit))
    if args.junit:
        from ._options import write_junit

        write_junit(args.junit, report.to_junit)
    return 0 if report.ok else 1
