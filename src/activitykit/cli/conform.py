"""``activitykit conform``: run the conformance suite against an implementation under test."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

from ._options import bounded_float, bounded_int, write_junit

FORMATS = ("text", "json")
#: Longest wait the options allow (s): a request or a shrink taking longer is a hang.
MAX_WAIT = 3600.0
#: Stateful sequences at most: a million runs for days against a real IUT.
MAX_EXAMPLES = 100_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "conform",
        help="conformance-test another implementation against the reference model",
        description=(
            "Drive an implementation under test (IUT) through the protocol of "
            "docs/iut-protocol.md: the catalogue of named cases, then Hypothesis command "
            "sequences, each step compared with the reference model; the session trace is "
            "passed through the checker. Exit 0: conformant; 1: deviations; 2: the IUT "
            "could not start or bad usage."
        ),
    )
    who = p.add_mutually_exclusive_group()
    who.add_argument("--iut", metavar="COMMAND", help="shell command of a JSON Lines IUT")
    who.add_argument(
        "--job-handler",
        metavar="COMMAND",
        help="server-side suite: a job-handler (docs/job-handler-protocol.md) against RabbitMQ",
    )
    p.add_argument("--amqp-url", metavar="URL", help="broker for --job-handler (default: own)")
    who.add_argument(
        "--iut-python", metavar="MODULE:CLASS", help="in-process IUT: an object with handle()"
    )
    p.add_argument("--profile", choices=("result-wins", "cancel-sticky"), default=None)
    p.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default 0)")
    p.add_argument(
        "--examples",
        type=bounded_int(0, MAX_EXAMPLES, "each is a whole sequence run against the IUT"),
        default=100,
        metavar="N",
        help="random sequences for the stateful run; 0 skips it (default 100)",
    )
    p.add_argument(
        "--shrink-seconds",
        type=bounded_float(0, MAX_WAIT, " s", low_ok=True),
        default=30.0,
        metavar="S",
        help="time limit for minimising a failure; it stops sooner once no smaller one fails"
        " (default 30)",
    )
    p.add_argument(
        "--case",
        action="append",
        metavar="NAME",
        help="run only this catalogue case (repeatable; a trailing / selects a family, "
        "e.g. server/); skips the stateful run",
    )
    p.add_argument("--list", action="store_true", help="list the catalogue and exit")
    p.add_argument(
        "--timeout",
        type=bounded_float(0, MAX_WAIT, " s"),
        default=5.0,
        metavar="S",
        help=f"seconds per request, at most {MAX_WAIT:g} (default 5)",
    )
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("--replay", metavar="FILE", help="run the steps saved in FILE instead")
    p.add_argument("--trace", metavar="FILE", help="write the session trace (.jsonl, .csv ...)")
    p.add_argument(
        "--counterexample",
        metavar="FILE",
        default=None,
        help="where a shrunk failing sequence is saved (default: beside --trace as "
        "NAME.counterexample.jsonl, else under the system temp directory; the report "
        "prints the path)",
    )
    p.set_defaults(func=run)


def _select(names: list[str] | None):  # -> list[Case] | None
    from ..conformance import CASES
    from ..errors import InputError

    if not names:
        return None
    chosen = []
    for name in names:
        if name.endswith("/"):
            family = [c for n, c in CASES.items() if n.startswith(name)]
            if not family:
                raise InputError(f"--case {name!r}: no case starts with it")
            chosen += family
        elif name in CASES:
            chosen.append(CASES[name])
        else:
            import difflib

            close = difflib.get_close_matches(name, list(CASES), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see --list"
            raise InputError(f"--case {name!r}: no such case{hint}")
    return chosen


def run(args: argparse.Namespace) -> int:
    from ..conformance import CASES, IUTStartError, SubprocessIUT, load_python_iut
    from ..conformance.report import render_json, render_junit, render_text
    from ..conformance.stateful import load_replay
    from ..conformance.suite import default_counterexample_path, run_replay, run_suite
    from ..errors import InputError

    if args.list:
        for case in CASES.values():
            print(
                f"{case.name}  ({len(case.runs)} run{'s' if len(case.runs) > 1 else ''}): "
                f"{case.title}"
            )
        return 0
    if args.job_handler is not None:
        return _run_job_handler(args)
    if args.iut is None and args.iut_python is None:
        raise InputError(
            "name the implementation under test: --iut COMMAND or --iut-python MOD:CLASS"
        )
    if args.trace is not None:  # told now, not after the whole suite has run
        from ..trace.writers import TraceFormatError, format_for_path

        if Path(args.trace).is_dir():
            raise InputError("--trace: is a directory; name the trace file to write",
                             source=args.trace)  # fmt: skip
        try:
            format_for_path(args.trace)
        except TraceFormatError as exc:
            raise InputError(f"--trace: {exc}", source=args.trace) from None
    # Hypothesis caches what it learns from the source in ./.hypothesis unless told otherwise;
    # like the counterexample, that belongs under the temp directory, never the CWD.
    os.environ.setdefault(
        "HYPOTHESIS_STORAGE_DIRECTORY",
        str(Path(tempfile.gettempdir()) / "activitykit-conform" / "hypothesis"),
    )
    if args.iut is not None:
        iut = SubprocessIUT(args.iut, timeout=args.timeout)
        hint = f"--iut {shlex.quote(args.iut)}"
    else:
        iut = load_python_iut(args.iut_python)
        hint = f"--iut-python {args.iut_python}"
    profile = args.profile
    try:
        if args.replay:
            path = Path(args.replay)
            saved_profile, steps = load_replay(path)
            report = run_replay(
                iut,
                steps,
                profile=profile or saved_profile,
                trace_path=args.trace,
                title=f"{len(steps)} steps from {path}",
            )
        else:
            report = run_suite(
                iut,
                profile=profile,
                seed=args.seed,
                examples=args.examples,
                shrink_seconds=args.shrink_seconds,
                cases=_select(args.case),
                stateful=not args.case,
                trace_path=args.trace,
                counterexample_path=args.counterexample or default_counterexample_path(args.trace),
                replay_hint=hint,
            )
    except IUTStartError as exc:
        print(f"activitykit conform: the IUT could not be started: {exc}", file=sys.stderr)
        return 2
    finally:
        iut.close()
    out = render_json(report) if args.format == "json" else render_text(report)
    sys.stdout.write(out)
    if args.junit:
        write_junit(args.junit, lambda p: Path(p).write_text(render_junit(report), "utf-8"))
    return report.exit_code


def _run_job_handler(args: argparse.Namespace) -> int:
    """The server-side suite (activitykit.live.amqp.conform): PASS/FAIL per case."""
    from ..live.amqp.conform import run_handler_suite

    results = run_handler_suite(args.job_handler, args.amqp_url, timeout=max(args.timeout, 30))
    for r in results:
        print(f"{'PASS' if r.ok else 'FAIL'}  {r.name}: {r.detail}")
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0
