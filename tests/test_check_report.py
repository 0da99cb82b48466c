"""The text report of a check: identical violations grouped, distinct ones all shown."""

from __future__ import annotations

from activitykit.check import check


def _bad_move(t: float, act: str) -> list[dict]:
    # Scheduled -> Queued is a server-only move: a client taking it breaks T3.
    return [
        {"t": t, "event": "created", "activity": act, "kind": "client",
         "type": "ExecuteScriptRequest", "computer": "c1", "state": "Scheduled"},
        {"t": t + 1, "event": "transition", "activity": act, "from": "Scheduled", "to": "Queued"},
    ]  # fmt: skip


def test_identical_violations_are_printed_once_with_their_count() -> None:
    recs = [r for i in range(6) for r in _bad_move(10.0 * i, f"a{i}")]
    recs.append(
        {"t": 70.0, "event": "transition", "activity": "zz", "from": "Queued", "to": "In Progress"}
    )  # fmt: skip  (never created: a different finding)
    rep = check(sorted(recs, key=lambda r: r["t"]))
    t3 = [v for v in rep.violation_list if v.rule == "T3"]
    assert len(t3) == 6 and len({v.message for v in t3}) == 1
    text = rep.to_text()
    # The old report printed the same T3 line, rule and record six times.
    assert text.count(t3[0].message) == 1
    assert "6 violations with this message; also line 4 (a1, t=11)" in text
    assert "and 2 more" in text
    assert "T1 zz" in text  # a different finding still gets its own entry
    assert "VIOLATIONS: 7" in text
    # limit counts groups: one group shown, the other's one violation reported as hidden
    first = rep.to_text(limit=1)
    assert "... 1 more violation(s) not shown" in first


def test_unfinished_activities_are_listed_by_line_then_name() -> None:
    """Lines order the unfinished list; where two tie (no trace makes them, each activity's
    last state being its own record), names decide, as they always did."""
    import numpy as np

    from activitykit.check.report import finalize
    from activitykit.check.rules import KIND_CODE, STATE_CODE
    from activitykit.model import Profile

    names = ["b", "a", "c", "d"]
    acts: dict[str, object] = {
        "activity": np.array(names, dtype=object),
        "kind": np.full(4, KIND_CODE["server"]),
        "state": np.full(4, STATE_CODE["Queued"]),
        "entered_from": np.full(4, -1),
        "since": np.zeros(4),
    }

    def unfinished(lines: list[int]) -> list[str]:
        acts["line"] = np.array(lines)
        report = finalize(
            acts,
            [],
            profile=Profile.RESULT_WINS,
            max_age=None,
            end_t=1.0,
            records=4,
            groups=0,
            rules_skipped=[],
            describe=lambda idx: ([None] * len(idx), [None] * len(idx)),
            record_at=lambda ln: {},
        )
        return list(report.unfinished["activity"])

    assert unfinished([7, 7, 3, 9]) == ["c", "a", "b", "d"]
    # no tie: the lines alone, names notwithstanding
    assert unfinished([7, 8, 3, 9]) == ["c", "b", "a", "d"]
