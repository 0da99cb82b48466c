"""Render a ``SuiteReport``: the text matrix, JSON, and JUnit XML for CI systems.

Renderers see only the report; they never talk to an IUT. The text form is a case x outcome
matrix followed by the evidence of each failure: the request, what the reference answered,
what the IUT answered, and the steps of the run up to there (replayable as they are).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from .runner import CaseResult, step_to_json
from .suite import SuiteReport, dumps

__all__ = ["evidence", "render_json", "render_junit", "render_text"]

_MARK = {"pass": "pass", "fail": "FAIL", "error": "ERROR", "skipped": "skip"}


def _compact(reply: dict[str, Any] | None) -> str:
    if reply is None:
        return "-"
    shown = {k: v for k, v in reply.items() if k != "id"}
    return json.dumps(shown, separators=(", ", ": "), default=str)


def evidence(result: CaseResult) -> list[str]:
    d = result.deviation
    if d is None:
        return []
    out = [
        f"[{result.name}] run {d.run}, step {d.step}: {step_to_json(d.request)}",
        f"  deviation: {d.message}",
    ]
    if d.expected is not None or d.actual is not None:
        out.append(f"  reference: {_compact(d.expected)}")
        out.append(f"  IUT:       {_compact(d.actual)}")
    if d.steps:
        out.append("  steps of this run (JSON Lines, replayable):")
        out += [f"    {step_to_json(s)}" for s in d.steps]
    return out


def render_text(report: SuiteReport) -> str:
    lines = [
        f"activitykit conform: {report.iut}"
        + (f" ({report.implementation})" if report.implementation else ""),
        f"profile {report.profile.value}, seed {report.seed}, {report.requests} requests",
        "",
    ]
    width = max([len(r.name) for r in report.results] + [len("trace-check")])
    lines.append(f"{'case':<{width}}  outcome  steps")
    for r in report.results:
        note = f"  {r.note}" if r.note else ""
        lines.append(f"{r.name:<{width}}  {_MARK[r.outcome]:<7}  {r.steps:>5}{note}")
    t = report.trace
    verdict = "not run" if not t.ran else ("pass" if t.ok else "FAIL")
    lines.append(f"{'trace-check':<{width}}  {verdict:<7}  {t.records:>5} records")
    failures = report.failed
    if failures or (t.ran and not t.ok):
        lines += ["", "FAILURES"]
        for r in failures:
            lines += evidence(r)
            lines.append("")
        if t.ran and not t.ok:
            lines.append("[trace-check] the session trace breaks rules of docs/trace-format.md:")
            lines += [f"  {v}" for v in t.violations]
            lines.append("")
    if t.note:
        lines.append(f"trace-check: {t.note}")
    if report.counterexample:
        lines.append("minimal failing sequence found by Hypothesis (JSON Lines):")
        lines += [f"  {step_to_json(s)}" for s in report.counterexample]
        if report.replay_file:
            lines.append(f"saved to {report.replay_file}")
        if report.replay_command:
            lines.append(f"replay: {report.replay_command}")
    if report.coverage is not None:
        lines += report.coverage.render()
    counts: dict[str, int] = {}
    for r in report.results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    lines.append(
        f"summary: {summary}; trace-check {verdict}; "
        + ("CONFORMANT" if report.exit_code == 0 else "DEVIATIONS FOUND")
    )
    return "\n".join(lines) + "\n"


def render_json(report: SuiteReport) -> str:
    return dumps(report) + "\n"


def render_junit(report: SuiteReport) -> str:
    """One ``testcase`` per case plus one for the trace check."""
    suite = ET.Element(
        "testsuite",
        name=f"activitykit-conform[{report.profile.value}]",
        tests=str(len(report.results) + 1),
        failures=str(sum(r.outcome == "fail" for r in report.results)),
        errors=str(sum(r.outcome == "error" for r in report.results)),
        skipped=str(sum(r.outcome == "skipped" for r in report.results)),
    )
    for r in report.results:
        tc = ET.SubElement(
            suite, "testcase", classname="activitykit.conform", name=r.name, time=f"{r.seconds:.4f}"
        )
        if r.outcome in ("fail", "error"):
            tag = "failure" if r.outcome == "fail" else "error"
            d = r.deviation
            el = ET.SubElement(tc, tag, message=d.message if d else r.note)
            el.text = "\n".join(evidence(r))
        elif r.outcome == "skipped":
            ET.SubElement(tc, "skipped", message=r.note)
    tc = ET.SubElement(suite, "testcase", classname="activitykit.conform", name="trace-check")
    if report.trace.ran and not report.trace.ok:
        message = "the session trace breaks rules of docs/trace-format.md"
        el = ET.SubElement(tc, "failure", message=message)
        el.text = "\n".join(report.trace.violations)
    elif not report.trace.ran:
        ET.SubElement(tc, "skipped", message=report.trace.note)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
