"""What a check returns: violations as frozen facts, and the report that renders them.

``finalize`` is the one place that decides, from each activity's last state, which ones are
unfinished, which are stuck (``max_age``) and what the summary says; both drivers call it
with arrays of state codes, so they agree on the end-of-trace verdicts by construction.
The report builds its DataFrames only when asked (pandas is not imported by the CLI path).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np

from ..model import Profile
from .rules import KIND_CODE, RULE_IDS, RULE_ORDER, RULES, STATES, msg_stuck, settled_table

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


class CheckReport:
    """The verdict on one trace.

    ``violation_list`` holds the ``Violation`` facts in trace order; ``violations`` and
    ``unfinished`` are the same as pandas DataFrames (built on first access); ``summary``
    is a plain dict (records, activities, by kind and final state, violations per rule).
    """

    def __init__(
        self,
        violation_list: Sequence[Violation],
        unfinished: Mapping[str, np.ndarray],
        summary: dict[str, Any],
    ) -> None:
        self.violation_list: tuple[Violation, ...] = tuple(violation_list)
        self._unfinished = dict(unfinished)
        self.summary = summary
        self._frames: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (
            f"<CheckReport ok={self.ok} violations={len(self.violation_list)} "
            f"unfinished={self.summary['unfinished']} records={self.summary['records']}>"
        )

    @property
    def ok(self) -> bool:
        """True when no rule was broken (unfinished activities alone are warnings)."""
        return not self.violation_list

    @property
    def violations(self):
        """DataFrame: rule, activity, t, line, message, record (one row per violation)."""
        if "v" not in self._frames:
            import pandas as pd

            vs = self.violation_list
            self._frames["v"] = pd.DataFrame(
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
        return self._frames["v"]

    @property
    def unfinished(self):
        """DataFrame: activity, kind, type, computer, state, since, age, line, stuck."""
        if "u" not in self._frames:
            import pandas as pd

            u = self._unfinished
            self._frames["u"] = pd.DataFrame(
                {
                    c: (pd.Series(u[c], dtype=object) if u[c].dtype == object else u[c])
                    for c in UNFINISHED_COLUMNS
                },
                columns=list(UNFINISHED_COLUMNS),
            )
        return self._frames["u"]

    # -- renderers -----------------------------------------------------------------------
    def to_text(self, limit: int | None = None) -> str:
        """Human-readable report: violations (at most ``limit``), unfinished, summary."""
        s = self.summary
        out: list[str] = []
        # Identical findings (same rule, same message: a T3 pair broken by 66 activities)
        # are printed once with their count and where the next ones are; ``limit`` counts
        # these groups, so a flood of one defect cannot hide a different one.
        groups: dict[tuple[str, str], list[Violation]] = {}
        for v in self.violation_list:
            groups.setdefault((v.rule, v.message), []).append(v)
        listed = list(groups.values())
        shown = listed if limit is None else listed[: max(limit, 0)]
        for vs in shown:
            v = vs[0]
            out.append(str(v))
            if len(vs) > 1:
                more = ", ".join(_where(w) for w in vs[1 : 1 + _SAME_SHOWN])
                rest = len(vs) - 1 - _SAME_SHOWN
                out.append(
                    f"    {len(vs)} violations with this message; also {more}"
                    + (f" and {rest} more" if rest > 0 else "")
                )
            out.append(f"    rule: {RULES[v.rule].summary}")
            out.append(f"    record: {json.dumps(v.record, ensure_ascii=False)}")
        hidden = sum(len(vs) for vs in listed[len(shown) :])
        if hidden:
            out.append(f"... {hidden} more violation(s) not shown")
        u = self._unfinished
        n_unf = len(u["activity"])
        if n_unf:
            out.append(f"unfinished: {n_unf} activit{'y' if n_unf == 1 else 'ies'} (warning)")
            show = min(n_unf, 20 if limit is None else limit)
            for i in range(show):
                flag = " STUCK" if u["stuck"][i] else ""
                out.append(
                    f"    {u['activity'][i]} ({u['kind'][i]}) {u['state'][i]} since "
                    f"t={u['since'][i]:g}, age {u['age'][i]:g} s, line {u['line'][i]}{flag}"
                )
            if show < n_unf:
                out.append(f"    ... {n_unf - show} more")
        kinds = ", ".join(f"{k} {n}" for k, n in s["by_kind"].items())
        out.append(
            f"records: {s['records']}, activities: {s['activities']} ({kinds}), "
            f"groups: {s['groups']}, end t={s['end_t']:g}, profile: {s['profile']}"
        )
        for kind, states in s["final_states"].items():
            if states:
                listed = ", ".join(f"{k} {n}" for k, n in states.items())
                out.append(f"  {kind} final states: {listed}")
        if s["rules_skipped"]:
            out.append(
                "  not judged (the trace lacks the record kinds they need): "
                + ", ".join(s["rules_skipped"])
            )
        per = ", ".join(f"{r} {n}" for r, n in s["violations"].items() if n)
        out.append("CONFORMANT" if self.ok else f"VIOLATIONS: {len(self.violation_list)} ({per})")
        return "\n".join(out) + "\n"

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        """Plain JSON-able data: ok, summary, violations (at most ``limit``), unfinished."""
        vs = self.violation_list if limit is None else self.violation_list[: max(limit, 0)]
        u = self._unfinished
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
                {c: _plain(u[c][i]) for c in UNFINISHED_COLUMNS} for i in range(len(u["activity"]))
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
            errors="0",
            skipped=str(len(skipped - {r for r, vs in by_rule.items() if vs})),
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


#: Further occurrences of a repeated violation named in the text report.
_SAME_SHOWN = 3


def _where(v: Violation) -> str:
    line = f"line {v.line}" if v.line is not None else "end"
    return f"{line} ({v.activity or '-'}, t={v.t:g})"


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v


_STATE_NAMES = np.array([s.value for s in STATES] + [None], dtype=object)
_KIND_NAMES = np.array([*KIND_CODE, None], dtype=object)


def finalize(
    acts: Mapping[str, np.ndarray],
    violations: list[Violation],
    *,
    profile: Profile,
    max_age: float | None,
    end_t: float,
    records: int,
    groups: int,
    rules_skipped: Sequence[str],
    describe: Callable[[np.ndarray], tuple[Sequence[Any], Sequence[Any]]],
    record_at: Callable[[int], dict[str, Any]],
) -> CheckReport:
    """Build the report from each activity's last state (one entry per created activity).

    ``acts`` holds equal-length arrays: activity (names), kind (codes of ``KIND_CODE``),
    state and entered_from (codes of ``STATE_CODE``, -1 for none), since (the t it entered
    ``state``) and line (of that record). ``describe(indexes)`` gives (types, computers) of
    the activities at those indexes; ``record_at(line)`` the record on that line.
    """
    kind = np.asarray(acts["kind"], dtype=np.int64)
    state = np.asarray(acts["state"], dtype=np.int64)
    entered = np.asarray(acts["entered_from"], dtype=np.int64)
    n = len(kind)
    # the model decides (``StateMachine.settled``): a final state, or one whose exits the
    # activity's history keeps closed (result-wins: Canceled not entered from In Progress)
    settled = settled_table(profile)
    done = settled[kind, entered + 1, state] if n else np.zeros(0, dtype=bool)
    keep = np.flatnonzero(~done)
    line = np.asarray(acts["line"], dtype=np.int64)
    names = np.asarray(acts["activity"], dtype=object)
    order = np.argsort(line[keep], kind="stable")
    if len(keep) and (np.diff(line[keep][order]) == 0).any():
        # by name where lines tie. They never do in a trace (each activity's last state is
        # its own record), and sorting the names as text costs a sort of its own: only then
        order = np.lexsort((names[keep].astype(str), line[keep]))
    keep = keep[order]
    since = np.asarray(acts["since"], dtype=np.float64)[keep]
    age = end_t - since
    stuck = (age > max_age) if max_age is not None else np.zeros(len(keep), dtype=bool)
    types, computers = describe(keep)
    unfinished = {
        "activity": names[keep],
        "kind": _KIND_NAMES[kind[keep]],
        "type": np.array(list(types), dtype=object),
        "computer": np.array(list(computers), dtype=object),
        "state": _STATE_NAMES[state[keep]],
        "since": since,
        "age": age,
        "line": line[keep],
        "stuck": stuck.astype(bool),
    }
    vs = list(violations)
    if max_age is not None:
        for j in np.flatnonzero(stuck):
            vs.append(
                Violation(
                    "STUCK",
                    str(unfinished["activity"][j]),
                    float(since[j]),
                    int(unfinished["line"][j]),
                    record_at(int(unfinished["line"][j])),
                    msg_stuck(str(unfinished["state"][j]), float(age[j]), max_age),
                )
            )
    vs = sort_violations(vs)
    per_rule = dict.fromkeys(RULE_IDS, 0)
    for v in vs:
        per_rule[v.rule] += 1
    counts = np.zeros((len(KIND_CODE), len(STATES)), dtype=np.int64)
    if n:
        np.add.at(counts, (kind, state), 1)
    by_kind = {k: int(counts[c].sum()) for k, c in KIND_CODE.items()}
    final_states = {
        k: {s.value: int(counts[c, i]) for i, s in enumerate(STATES) if counts[c, i]}
        for k, c in KIND_CODE.items()
    }
    summary: dict[str, Any] = {
        "records": int(records),
        "activities": n,
        "groups": int(groups),
        "by_kind": by_kind,
        "final_states": final_states,
        "violations": per_rule,
        "violations_total": len(vs),
        "unfinished": len(keep),
        "stuck": int(stuck.sum()),
        "end_t": float(end_t),
        "profile": profile.value,
        "max_age": max_age,
        "rules_skipped": list(rules_skipped),
    }
    return CheckReport(vs, unfinished, summary)
