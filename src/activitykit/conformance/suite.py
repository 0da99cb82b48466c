"""The whole conformance session: catalogue, stateful run, trace check, one report.

``run_suite`` is what ``activitykit conform`` and the pytest plugin call. Phases, in order:
start the IUT (a failure here is ``IUTStartError``: exit 2), run the selected catalogue
cases, run the Hypothesis machine, pass the session's trace through ``activitykit.check``.
A failure in one phase is recorded in the report and the next phase still runs, unless the
IUT failed at the protocol level ``MAX_PROTOCOL_FAILURES`` times: then the remaining cases
are reported as skipped, which bounds the time a hanging IUT can cost.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import Profile, parse_profile
from .adapters import IUT
from .cases import CASES, Case, Step
from .protocol import PROTOCOL
from .runner import CaseResult, Session
from .stateful import Coverage, StatefulOutcome, run_stateful, write_replay

__all__ = [
    "MAX_PROTOCOL_FAILURES",
    "SuiteReport",
    "TraceVerdict",
    "check_trace",
    "default_counterexample_path",
    "dumps",
    "run_replay",
    "run_suite",
]

#: After this many crashes/hangs/garbage replies the remaining cases are skipped.
MAX_PROTOCOL_FAILURES = 3


@dataclass
class TraceVerdict:
    """What ``activitykit.check`` said about the session's trace."""

    ran: bool
    ok: bool
    records: int
    violations: list[str] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "ok": self.ok,
            "records": self.records,
            "violations": self.violations,
            "note": self.note,
        }


@dataclass
class SuiteReport:
    iut: str
    implementation: str | None
    profile: Profile
    seed: int
    results: list[CaseResult]
    trace: TraceVerdict
    counterexample: list[Step] = field(default_factory=list)
    replay_file: str | None = None
    replay_command: str | None = None
    requests: int = 0
    #: What the stateful run exercised (None when it did not run).
    coverage: Coverage | None = None

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if r.outcome in ("fail", "error")]

    @property
    def exit_code(self) -> int:
        return 0 if not self.failed and (self.trace.ok or not self.trace.ran) else 1

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        return {
            "protocol": PROTOCOL,
            "iut": self.iut,
            "implementation": self.implementation,
            "profile": self.profile.value,
            "seed": self.seed,
            "counts": counts,
            "exit_code": self.exit_code,
            "requests": self.requests,
            "cases": [r.as_dict() for r in self.results],
            "trace_check": self.trace.as_dict(),
            "counterexample": self.counterexample,
            "replay_file": self.replay_file,
            "replay_command": self.replay_command,
            "coverage": self.coverage.as_dict() if self.coverage else None,
        }


def default_counterexample_path(trace_path: str | Path | None = None) -> Path:
    """Where ``conform`` saves a counterexample when ``--counterexample`` is not given.

    Beside the session trace when there is one (``run.jsonl`` -> ``run.counterexample.jsonl``),
    else a fresh name under the system temp directory, never the current directory: a test
    run or CI job must not find files dropped where it happened to be started. Computing the
    path creates nothing; the file is written only when a counterexample exists.
    """
    if trace_path is not None:
        trace = Path(trace_path)
        return trace.with_name(trace.name.split(".")[0] + ".counterexample.jsonl")
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    name = f"counterexample-{stamp}-{os.getpid()}.jsonl"
    return Path(tempfile.gettempdir()) / "activitykit-conform" / name


def check_trace(records: list[dict[str, Any]], profile: Profile) -> TraceVerdict:
    """Run the kit's checker over the session trace (a missing checker is reported, not fatal)."""
    try:
        from ..check import check
    except ImportError as exc:
        return TraceVerdict(False, True, len(records), note=f"checker not available: {exc}")
    report = check(records, profile=profile.value)
    lines: list[str] = []
    frame = getattr(report, "violations", None)
    if frame is not None and len(frame):
        for row in frame.head(20).to_dict("records"):
            rule = row.get("rule", "?")
            where = row.get("activity") or ""
            lines.append(f"{rule} {where}: {row.get('message', row)}".strip())
        if len(frame) > 20:
            lines.append(f"... and {len(frame) - 20} more")
    return TraceVerdict(True, bool(report.ok), len(records), lines)


def run_suite(
    iut: IUT,
    *,
    profile: Profile | str | None = None,
    seed: int = 0,
    examples: int = 100,
    shrink_seconds: float = 30.0,
    cases: Iterable[Case] | None = None,
    stateful: bool = True,
    trace_path: str | Path | None = None,
    counterexample_path: str | Path | None = None,
    replay_hint: str | None = None,
) -> SuiteReport:
    """Run the catalogue (all cases unless ``cases``) and the stateful machine against ``iut``.

    Raises ``IUTStartError`` when the IUT cannot be started or refuses the handshake.
    """
    prof = parse_profile(profile)
    session = Session(iut, prof)
    try:
        session.ensure_started()
        results: list[CaseResult] = []
        for case in cases if cases is not None else CASES.values():
            if session.protocol_failures >= MAX_PROTOCOL_FAILURES:
                results.append(
                    CaseResult(
                        case.name,
                        case.title,
                        "skipped",
                        note=f"the IUT failed at the protocol level "
                        f"{session.protocol_failures} times",
                    )
                )
                continue
            results.append(session.run_case(case))
        outcome: StatefulOutcome | None = None
        if stateful and examples > 0:
            if session.protocol_failures >= MAX_PROTOCOL_FAILURES:
                results.append(
                    CaseResult("stateful", "random sequences", "skipped", note="IUT unusable")
                )
            else:
                outcome = run_stateful(
                    session, examples=examples, seed=seed, shrink_seconds=shrink_seconds
                )
                results.append(outcome.result)
    finally:
        session.close()
    checked = [r for r in results if r.outcome in ("pass", "fail")]
    if results and not checked:
        # A trace of a session that never completed a case proves nothing: say so rather
        # than "pass" over the few records written before each failure.
        verdict = TraceVerdict(
            False,
            True,
            len(session.trace.records),
            note="nothing was checked: every case ended in an IUT failure or was skipped",
        )
    else:
        verdict = check_trace(session.trace.records, prof)
    report = SuiteReport(
        iut.name, iut.implementation, prof, seed, results, verdict, requests=session.requests
    )
    if trace_path is not None:
        from ..errors import InputError
        from ..trace.writers import write_trace

        try:
            write_trace(session.trace.records, trace_path)
        except OSError as exc:  # (a full disk, a directory of that name)
            raise InputError(
                f"cannot write the session trace: {exc.strerror or exc}", source=str(trace_path)
            ) from None
    if outcome is not None:
        report.coverage = outcome.coverage
    if outcome is not None and outcome.counterexample:
        report.counterexample = outcome.counterexample
        if counterexample_path is not None:
            Path(counterexample_path).parent.mkdir(parents=True, exist_ok=True)
            Path(counterexample_path).write_text(
                write_replay(outcome.counterexample, prof.value), encoding="utf-8"
            )
            report.replay_file = str(counterexample_path)
            if replay_hint:
                report.replay_command = (
                    f"activitykit conform --replay {counterexample_path} {replay_hint}"
                    f" --profile {prof.value}"
                )
    return report


def run_replay(
    iut: IUT,
    steps: list[Step],
    *,
    profile: Profile | str | None = None,
    trace_path: str | Path | None = None,
    name: str = "replay",
    title: str | None = None,
) -> SuiteReport:
    """Run one recorded step sequence as a single case (``title`` says where it came from)."""
    case = Case(name, title or f"{len(steps)} replayed steps", (tuple(steps),))
    return run_suite(iut, profile=profile, cases=[case], stateful=False, trace_path=trace_path)


def dumps(report: SuiteReport) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str)
