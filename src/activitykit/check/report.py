"""What a check returns: violations as frozen facts, and the report that renders them.

``finalize`` is the one place that decides, from each activity's last state, which ones are
unfinished, which are stuck (``max_age``) and what the summary says; both drivers call it
with a table of activities, so they agree on the end-of-trace verdicts by construction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd

from ..model import Kind, Profile, State, machine
from .rules import RULE_IDS, RULE_ORDER, RULES, msg_stuck

__all__ = ["CheckReport", "Violation", "finalize"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: which, for which activity, where in the trace, and why."""

    rule: str
    activity: str | None
    t: float
    line: int | None
    record: dict[str, Any] = field(compare=False, hash=False)
    message: str = field(compare=False, default="")

    @property
    def key(self) -> tuple[str, str | None, int | None]:
        """``(rule, activity, line)``: what the differential test compares."""
        return (self.rule, self.activity, self.line)

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "end"
        return f"{where}: {self.rule} {self.activity or '-'} t={self.t:g}: {self.message}"


VIOLATION_COLUMNS = ("rule", "activity", "t", "line", "message", "record")
UNFINISHED_COLUMNS = (
    "activity",
    "kind",
    "type",
    "computer",
    "state",
    "since",
    "age",
    "line",
    "stuck",
)


def sort_violations(vs: Sequence[Violation]) -> list[Violation]:
    big = 1 << 62
    return sorted(
        vs,
        key=lambda v: (big if v.line is None else v.line, RULE_ORDER[v.rule], v.activity or ""),
    )


@dataclass(frozen=True)
class CheckReport:
    """The verdict on one trace. ``violations`` and ``unfinished`` are DataFrames."""

    violations: pd.DataFrame
    unfinished: pd.DataFrame
    summary: dict[str, Any]
    violation_list: tuple[Violation, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no rule was broken (unfinished activities alone are warnings)."""
        return len(self.violation_list) == 0

    # -- renderers -----------------------------------------------------------------------
    def to_text(self, limit: int | None = None) -> str:
        s = self.summary
        out: list[str] = []
        shown = self.violation_list if limit is None else self.violation_list[: max(limit, 0)]
        for v in shown:
            out.append(str(v))
            out.append(f"    rule: {RULES[v.rule].summary}")
            out.append(f"    record: {json.dumps(v.record, ensure_ascii=False)}")
        if limit is not None and len(self.violation_list) > len(shown):
            out.append(f"... {len(self.violation_list) - len(shown)} more violation(s) not shown")
        if len(self.unfinished):
            n_unf = len(self.unfinished)
            out.append(f"unfinished: {n_unf} activit{'y' if n_unf == 1 else 'ies'} (warning)")
            rows = self.unfinished.head(limit if limit is not None else 20)
            for r in rows.itertuples(index=False):
                flag = " STUCK" if r.stuck else ""
                out.append(
                    f"    {r.activity} ({r.kind}) {r.state} since t={r.since:g}, "
                    f"age {r.age:g} s, line {r.line}{flag}"
                )
            if len(rows) < n_unf:
                out.append(f"    ... {n_unf - len(rows)} more")
        out.append(
            f"records: {s['records']}, activities: {s['activities']} "
            f"({', '.join(f'{k} {n}' for k, n in s['by_kind'].items())}), groups: {s['groups']}, "
            f"end t={s['end_t']:g}, profile: {s['profile']}"
        )
        for kind, states in s["final_states"].items():
            if states:
                out.append(
                    f"  {kind} final states: " + ", ".join(f"{k} {n}" for k, n in states.items())
                )
        per = ", ".join(f"{r} {n}" for r, n in s["violations"].items() if n)
        if s["rules_skipped"]:
            out.append(
                "  not judged (trace lacks the record kinds they need): "
                + ", ".join(s["rules_skipped"])
            )
        verdict = "CONFORMANT" if self.ok else f"VIOLATIONS: {len(self.violation_list)} ({per})"
        out.append(verdict)
        return "\n".join(out) + "\n"

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        vs = self.violation_list if limit is None else self.violation_list[: max(limit, 0)]
        return {
            "ok": self.ok,
            "summary": self.summary,
            "violations": [
                {
                    "rule": v.rule,
                    "activity": v.activity,
                    "t": v.t,
                    "line": v.line,
                    "message": v.message,
                    "explanation": RULES[v.rule].summary,
                    "record": v.record,
                }
                for v in vs
            ],
            "unfinished": [
                {k: _plain(v) for k, v in row.items()}
                for row in self.unfinished.to_dict(orient="records")
            ],
        }

    def to_json(self, limit: int | None = None) -> str:
        return json.dumps(self.to_dict(limit), ensure_ascii=False, indent=2) + "\n"

    def to_junit(self, path: str | Path) -> Path:
        """JUnit XML with one test case per rule (a failure lists that rule's violations)."""
        path = Path(path)
        by_rule: dict[str, list[Violation]] = {r: [] for r in RULE_IDS}
        for v in self.violation_list:
            by_rule[v.rule].append(v)
        skipped = set(self.summary["rules_skipped"])
        if self.summary.get("max_age") is None:
            skipped.add("STUCK")
        suite = ET.Element(
            "testsuite",
            name="activitykit check",
            tests=str(len(RULE_IDS)),
            failures=str(sum(1 for vs in by_rule.values() if vs)),
            skipped=str(len(skipped)),
        )
        for rule_id, vs in by_rule.items():
            case = ET.SubElement(
                suite,
                "testcase",
                classname="activitykit.check",
                name=f"{rule_id}: {RULES[rule_id].summary}",
            )
            if vs:
                fail = ET.SubElement(
                    case, "failure", message=f"{len(vs)} violation(s) of {rule_id}", type=rule_id
                )
                fail.text = "\n".join(str(v) for v in vs[:1000])
            elif rule_id in skipped:
                ET.SubElement(case, "skipped", message="not judged on this trace")
        ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
        return path


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def _violations_frame(vs: Sequence[Violation]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rule": pd.Series([v.rule for v in vs], dtype=object),
            "activity": pd.Series([v.activity for v in vs], dtype=object),
            "t": pd.Series([v.t for v in vs], dtype="float64"),
            "line": pd.Series([v.line for v in vs], dtype="Int64"),
            "message": pd.Series([v.message for v in vs], dtype=object),
            "record": pd.Series([v.record for v in vs], dtype=object),
        },
        columns=list(VIOLATION_COLUMNS),
    )


def finalize(
    acts: pd.DataFrame,
    violations: list[Violation],
    *,
    profile: Profile,
    max_age: float | None,
    end_t: float,
    records: int,
    groups: int,
    rules_skipped: Sequence[str],
    record_at: Callable[[int], dict[str, Any]],
) -> CheckReport:
    """Build the report from each activity's last state (one row per created activity).

    ``acts`` columns: activity, kind, type, computer, state, since (t it entered ``state``),
    line (of that record), entered_from (the ``from`` of that move, or None).
    """
    state = acts["state"].to_numpy(dtype=object)
    kind = acts["kind"].to_numpy(dtype=object)
    done = np.zeros(len(acts), dtype=bool)
    for k in Kind:
        for s in machine(k, profile).final:
            done |= (kind == k.value) & (state == s.value)
    # A client Canceled not entered from In Progress is settled under either profile.
    canceled = (kind == Kind.CLIENT.value) & (state == State.CANCELED.value)
    done |= canceled & (acts["entered_from"].to_numpy(dtype=object) != State.IN_PROGRESS.value)
    open_ = acts.loc[~done].copy()
    open_["age"] = end_t - open_["since"].astype("float64")
    open_["stuck"] = (open_["age"] > max_age) if max_age is not None else False
    open_ = open_.sort_values(["line", "activity"], kind="stable")
    unfinished = open_.reindex(columns=list(UNFINISHED_COLUMNS)).reset_index(drop=True)
    unfinished["line"] = unfinished["line"].astype("int64")
    unfinished["stuck"] = unfinished["stuck"].astype(bool)
    vs = list(violations)
    if max_age is not None:
        for r in open_.loc[open_["stuck"]].itertuples(index=False):
            vs.append(
                Violation(
                    "STUCK",
                    r.activity,
                    float(r.since),
                    int(r.line),
                    record_at(int(r.line)),
                    msg_stuck(r.state, float(r.age), max_age),
                )
            )
    vs = sort_violations(vs)
    per_rule = dict.fromkeys(RULE_IDS, 0)
    for v in vs:
        per_rule[v.rule] += 1
    by_kind = {k.value: int((kind == k.value).sum()) for k in Kind}
    final_states: dict[str, dict[str, int]] = {}
    for k in Kind:
        sel = state[kind == k.value]
        final_states[k.value] = {
            s.value: int((sel == s.value).sum()) for s in State if (sel == s.value).any()
        }
    summary: dict[str, Any] = {
        "records": int(records),
        "activities": len(acts),
        "groups": int(groups),
        "by_kind": by_kind,
        "final_states": final_states,
        "violations": per_rule,
        "violations_total": len(vs),
        "unfinished": len(unfinished),
        "stuck": int(unfinished["stuck"].sum()),
        "end_t": float(end_t),
        "profile": profile.value,
        "max_age": max_age,
        "rules_skipped": list(rules_skipped),
    }
    return CheckReport(_violations_frame(vs), unfinished, summary, tuple(vs))
