"""Hand-written traces for every checker rule, conformant and violating, through both drivers."""

from __future__ import annotations

from typing import Any

import pytest

from activitykit.check import RULE_IDS, Checker, check
from activitykit.errors import InputError

Rec = dict[str, Any]


# -- compact record builders ------------------------------------------------------------
def created(
    t: float, a: str, kind: str = "client", state: str = "Queued", comp: str = "c1", **kw
) -> Rec:
    r: Rec = {"t": t, "event": "created", "activity": a, "kind": kind}
    r["type"] = "ExecuteScriptRequest" if kind == "client" else "GenerateUsgReportActivity"
    if kind == "client":
        r["computer"] = comp
    r["state"] = state
    r.update(kw)
    return r


def move(t: float, a: str, frm: str, to: str) -> Rec:
    return {"t": t, "event": "transition", "activity": a, "from": frm, "to": to}


def deliver(t: float, a: str, op: int | str, comp: str = "c1") -> Rec:
    return {"t": t, "event": "deliver", "activity": a, "computer": comp, "operation_id": op}


def result(
    t: float, a: str, op: int | str, status: str | int = "succeeded", comp: str = "c1"
) -> Rec:
    return {
        "t": t,
        "event": "result",
        "activity": a,
        "computer": comp,
        "operation_id": op,
        "status": status,
    }


def ev(t: float, event: str, a: str, **kw) -> Rec:
    return {"t": t, "event": event, "activity": a, **kw}


def run_client(a: str, t0: float, op: int, end: str = "Succeeded", comp: str = "c1") -> list[Rec]:
    """A complete conformant client life: created, delivered, result."""
    return [
        created(t0, a, comp=comp),
        {"t": t0 + 1, "event": "exchange", "computer": comp},
        deliver(t0 + 1, a, op, comp),
        move(t0 + 1, a, "Queued", "In Progress"),
        result(t0 + 2, a, op, end.lower(), comp),
        move(t0 + 2, a, "In Progress", end),
    ]


def verdicts(records: list[Rec], **kw: Any) -> set[tuple[str, str | None, int | None]]:
    """Violation keys from the batch driver, asserted equal to the online driver's."""
    batch = check(records, **kw)
    online = Checker(
        kw.get("profile", "result-wins"), kw.get("max_age"), kinds={r["event"] for r in records}
    )
    for n, r in enumerate(records, start=1):
        online.feed(r, n)
    rep = online.finish()
    b = {v.key for v in batch.violation_list}
    assert b == {v.key for v in rep.violation_list}
    assert batch.summary == rep.summary
    assert batch.unfinished.equals(rep.unfinished)
    return b


# -- the TRACE.md example ------------------------------------------------------------
EXAMPLE = [
    created(0, "a1", type="ExecuteScriptRequest", comp="c7"),
    {"t": 61.5, "event": "exchange", "computer": "c7", "urgent": True},
    deliver(61.5, "a1", 1, "c7"),
    move(61.5, "a1", "Queued", "In Progress"),
    {"t": 150.2, "event": "exchange", "computer": "c7", "urgent": True},
    result(150.2, "a1", 1, "succeeded", "c7"),
    move(150.2, "a1", "In Progress", "Succeeded"),
]


def test_trace_md_example_is_conformant() -> None:
    assert verdicts(EXAMPLE) == set()
    rep = check(EXAMPLE)
    assert rep.ok
    assert rep.summary["records"] == 7
    assert rep.summary["final_states"]["client"] == {"Succeeded": 1}


# -- T1 ------------------------------------------------------------
def test_t1_missing_created_reported_once_per_activity() -> None:
    recs = [
        *run_client("a1", 0, 1),
        move(5, "ghost", "Queued", "In Progress"),
        move(6, "ghost", "In Progress", "Succeeded"),
    ]
    assert verdicts(recs) == {("T1", "ghost", 7)}


def test_t1_records_before_created() -> None:
    recs = [ev(0, "approve", "a1"), *run_client("a1", 1, 1)]
    assert verdicts(recs) == {("T1", "a1", 1)}


def test_t1_created_twice_and_non_start_state() -> None:
    recs = [*run_client("a1", 0, 1), created(9, "a1"), created(9, "a2", state="In Progress")]
    assert verdicts(recs) == {("T1", "a1", 7), ("T1", "a2", 8)}


# -- T2 / T3 ------------------------------------------------------------
def test_t2_from_must_be_current_state() -> None:
    recs = run_client("a1", 0, 1)
    recs[5] = move(2, "a1", "Queued", "Succeeded")  # claims Queued while In Progress
    got = verdicts(recs)
    assert ("T2", "a1", 6) in got
    assert ("T3", "a1", 6) in got  # Queued -> Succeeded is not in the table either


def test_t3_pairs_depend_on_kind() -> None:
    sched = [
        created(0, "s", "server", "Scheduled", deliver_after=5.0),
        move(6, "s", "Scheduled", "Queued"),
    ]
    assert verdicts(sched) == set()
    client = [
        created(0, "c", "client", "Scheduled", deliver_after=5.0),
        move(6, "c", "Scheduled", "Queued"),
    ]
    assert verdicts(client) == {("T3", "c", 2)}
    loop = [created(0, "x"), move(1, "x", "Queued", "Queued")]
    assert verdicts(loop) == {("T3", "x", 2)}


def _canceled_in_progress_then_result(
    end: str = "Succeeded", status: str = "succeeded"
) -> list[Rec]:
    return [
        created(0, "a1"),
        deliver(1, "a1", 7),
        move(1, "a1", "Queued", "In Progress"),
        ev(2, "cancel", "a1"),
        move(2, "a1", "In Progress", "Canceled"),
        result(3, "a1", 7, status),
        move(3, "a1", "Canceled", end),
    ]


def test_result_wins_canceled_in_progress_takes_its_result() -> None:
    assert verdicts(_canceled_in_progress_then_result()) == set()
    assert verdicts(_canceled_in_progress_then_result("Failed", "failed")) == set()


def test_result_wins_needs_a_matching_result() -> None:
    assert verdicts(_canceled_in_progress_then_result("Failed", "succeeded")) == {("C2", "a1", 7)}


def test_cancel_sticky_refuses_canceled_to_succeeded() -> None:
    got = verdicts(_canceled_in_progress_then_result(), profile="cancel-sticky")
    assert got == {("T3", "a1", 7)}
    # the late result alone is fine under cancel-sticky
    assert verdicts(_canceled_in_progress_then_result()[:-1], profile="cancel-sticky") == set()


def test_result_wins_only_after_in_progress() -> None:
    recs = [
        created(0, "a1"),
        ev(1, "cancel", "a1"),
        move(1, "a1", "Queued", "Canceled"),
        move(2, "a1", "Canceled", "Succeeded"),
    ]
    assert verdicts(recs) == {("T3", "a1", 4)}  # no result records: C2 not judged


def test_server_canceled_is_final() -> None:
    recs = [
        created(0, "s", "server"),
        ev(1, "cancel", "s"),
        move(1, "s", "Queued", "Canceled"),
        move(2, "s", "Canceled", "Succeeded"),
    ]
    assert verdicts(recs) == {("T3", "s", 4)}


# -- C1 .. C8 ------------------------------------------------------------
def test_c1_in_progress_needs_deliver_at_same_t() -> None:
    recs = run_client("a1", 0, 1)
    recs[1:3] = [deliver(0.5, "a1", 1), recs[1]]  # delivered earlier than the move
    assert verdicts(recs) == {("C1", "a1", 4)}
    recs = [*run_client("a1", 0, 1), created(10, "a2"), move(11, "a2", "Queued", "In Progress")]
    assert verdicts(recs) == {("C1", "a2", 8)}


def test_c1_deliver_after_the_move_does_not_count() -> None:
    recs = run_client("a1", 0, 1)
    recs[2], recs[3] = recs[3], recs[2]  # effect before cause at equal t
    assert verdicts(recs) == {("C1", "a1", 3)}


def test_c1_operation_ids_are_fresh_per_computer() -> None:
    recs = [*run_client("a1", 0, 1), *run_client("a2", 10, 1)]
    assert verdicts(recs) == {("C1", "a2", 9)}
    other = [*run_client("a1", 0, 1), *run_client("a2", 10, 1, comp="c2")]
    assert verdicts(other) == set()


def test_c2_end_needs_result_with_matching_status() -> None:
    recs = run_client("a1", 0, 1) + run_client("a2", 5, 2)
    del recs[4]  # a1's result dropped
    assert verdicts(recs) == {("C2", "a1", 5)}
    recs = run_client("a1", 0, 1)
    recs[4] = result(2, "a1", 1, "failed")
    assert verdicts(recs) == {("C2", "a1", 6)}
    recs = run_client("a1", 0, 1)
    recs[4] = result(2, "a1", 1, 6)  # Landscape's numeric SUCCEEDED
    assert verdicts(recs) == set()


def test_c2_result_for_undelivered_operation() -> None:
    recs = run_client("a1", 0, 1)
    recs[4] = result(2, "a1", 99)
    assert verdicts(recs) == {("C2", "a1", 5)}


def test_c3_server_in_progress_needs_consume() -> None:
    ok = [
        created(0, "s", "server"),
        ev(0, "enqueue", "s"),
        ev(3, "consume", "s", handler="h1"),
        move(3, "s", "Queued", "In Progress"),
        move(9, "s", "In Progress", "Succeeded"),
        ev(9, "ack", "s"),
    ]
    assert verdicts(ok) == set()
    bad = [r for r in ok if r["event"] != "consume"] + [ev(20, "consume", "other")]
    assert ("C3", "s", 3) in verdicts(bad)


def test_c4_unblock_needs_approve_since_blocked() -> None:
    ok = [
        created(0, "a", state="Blocked"),
        ev(5, "approve", "a"),
        move(5, "a", "Blocked", "Queued"),
    ]
    assert verdicts(ok) == set()
    other = [created(0, "b", state="Blocked"), ev(1, "approve", "b")]
    assert verdicts([ok[0], *other, ok[2]]) == {("C4", "a", 4)}
    again = [*ok, move(6, "a", "Queued", "Blocked"), move(7, "a", "Blocked", "Queued")]
    assert verdicts(again) == {("C4", "a", 5)}


def test_c5_cancel_needs_cancel_record() -> None:
    ok = [created(0, "a"), ev(4, "cancel", "a"), move(4, "a", "Queued", "Canceled")]
    assert verdicts(ok) == set()
    late = [created(0, "a"), ev(3, "cancel", "a"), move(4, "a", "Queued", "Canceled")]
    assert verdicts(late) == {("C5", "a", 3)}


def test_c6_scheduled_not_before_deliver_after() -> None:
    def trace(at: float) -> list[Rec]:
        return [
            created(0, "s", "server", "Scheduled", deliver_after=100.0),
            ev(at, "consume", "s"),
            move(at, "s", "Scheduled", "In Progress"),
        ]

    assert verdicts(trace(100.0)) == set()
    assert verdicts(trace(99.5)) == {("C6", "s", 3)}


def test_c7_dependencies_must_have_succeeded() -> None:
    dep = run_client("d", 0, 1)
    waiting = [created(0.5, "w", state="Waiting", depends_on=["d"])]
    release = [move(3, "w", "Waiting", "Queued")]
    assert verdicts([dep[0], waiting[0], *dep[1:], *release]) == set()
    early = [dep[0], waiting[0], *dep[1:4], move(1.5, "w", "Waiting", "Queued")]
    assert verdicts(early) == {("C7", "w", 6)}
    failed = run_client("d", 0, 1, end="Failed")
    assert verdicts([failed[0], waiting[0], *failed[1:], *release]) == {("C7", "w", 8)}
    unknown = [
        created(0, "w", state="Waiting", depends_on=["nobody"]),
        move(1, "w", "Waiting", "Queued"),
    ]
    assert verdicts(unknown) == {("C7", "w", 2)}


def test_c7_progress_threshold() -> None:
    def trace(value: float) -> list[Rec]:
        return [
            created(0, "p", "server", type="SyncPocketRequest"),
            ev(1, "consume", "p"),
            move(1, "p", "Queued", "In Progress"),
            created(2, "w", state="Waiting", progress_of="p", threshold=0.5),
            ev(3, "progress", "p", value=value),
            move(4, "w", "Waiting", "Queued"),
        ]

    assert verdicts(trace(0.5)) == set()
    assert verdicts(trace(0.4)) == {("C7", "w", 6)}


def test_c7_group_progress_and_kit_extensions() -> None:
    recs = [
        {"t": 0, "event": "group", "activity": "g", "type": "ChangePackagesRequest", "children": 1},
        created(0, "k", parent="g"),
        created(0, "w", state="Waiting", progress_of="g", threshold=1.0),
        deliver(1, "k", 1),
        move(1, "k", "Queued", "In Progress"),
        {"t": 1.5, "event": "fault", "fault": "restart", "computer": "c1"},
        result(2, "k", 1),
        move(2, "k", "In Progress", "Succeeded"),
        ev(2, "progress", "g", value=1.0),
        move(3, "w", "Waiting", "Queued"),
        ev(3, "ack", "g"),
    ]
    rep = check(recs)
    assert verdicts(recs) == set()
    assert rep.summary["groups"] == 1
    assert rep.summary["activities"] == 2
    # a transition naming a group is an activity without a created record
    assert verdicts([*recs, move(4, "g", "Queued", "In Progress")]) == {("T1", "g", 12)}


def test_c8_deliver_and_result_name_the_activity_computer() -> None:
    recs = run_client("a1", 0, 1)
    recs[2] = deliver(1, "a1", 1, comp="c9")
    assert verdicts(recs) == {("C8", "a1", 3)}
    srv = [created(0, "s", "server"), result(1, "s", 3, comp="c1")]
    assert ("C8", "s", 2) in verdicts(srv)


# -- applicability, unfinished, stuck ------------------------------------------------------------
def test_table_only_trace_is_judged_on_table_rules() -> None:
    recs = [
        created(0, "a"),
        move(1, "a", "Queued", "In Progress"),
        move(2, "a", "In Progress", "Succeeded"),
        created(0.5, "b", state="Blocked"),
        move(3, "b", "Blocked", "Queued"),
    ]
    recs.sort(key=lambda r: r["t"])
    rep = check(recs)
    assert rep.ok
    assert set(rep.summary["rules_skipped"]) == {"C1", "C2", "C3", "C4", "C5"}
    # the online driver defaults to every kind (a simulator emits them all): strict
    online = Checker()
    got = [v.rule for r in recs for v in online.feed(r)]
    assert got == ["C1", "C2", "C4"]


def test_unfinished_and_stuck() -> None:
    recs = [
        created(0, "ip"),
        deliver(1, "ip", 1),
        move(1, "ip", "Queued", "In Progress"),
        created(2, "q"),
        created(3, "xq"),
        ev(4, "cancel", "xq"),
        move(4, "xq", "Queued", "Canceled"),
        created(5, "xip"),
        deliver(6, "xip", 2),
        move(6, "xip", "Queued", "In Progress"),
        ev(7, "cancel", "xip"),
        move(7, "xip", "In Progress", "Canceled"),
        {"t": 100, "event": "exchange", "computer": "c1"},
    ]
    rep = check(recs)
    assert rep.ok
    u = rep.unfinished
    assert u["activity"].tolist() == ["ip", "q", "xip"]
    assert u["state"].tolist() == ["In Progress", "Queued", "Canceled"]
    assert u["age"].tolist() == [99.0, 98.0, 93.0]
    assert not u["stuck"].any()
    sticky = check(recs, profile="cancel-sticky")
    assert sticky.unfinished["activity"].tolist() == ["ip", "q"]
    assert verdicts(recs, max_age=95.0) == {("STUCK", "ip", 3), ("STUCK", "q", 4)}
    rep = check(recs, max_age=95.0)
    assert not rep.ok and rep.summary["stuck"] == 2
    online = Checker(max_age=10)
    for r in recs:
        online.feed(r)
    assert {v.activity for v in online.finish(end_t=16.5).violation_list} == {"ip", "q"}


def test_report_renderers(tmp_path) -> None:
    recs = run_client("a1", 0, 1)
    recs[4] = result(2, "a1", 1, "failed")
    rep = check([*recs, created(3, "late")])
    text = rep.to_text()
    assert "line 6: C2 a1" in text and "VIOLATIONS: 1" in text and "late (client) Queued" in text
    assert "1 more violation" not in rep.to_text(limit=1)
    assert "1 more violation(s) not shown" in rep.to_text(limit=0)
    data = rep.to_dict()
    assert data["violations"][0]["record"]["to"] == "Succeeded"
    assert data["summary"]["violations"]["C2"] == 1
    assert list(rep.violations.columns) == ["rule", "activity", "t", "line", "message", "record"]
    xml = rep.to_junit(tmp_path / "j.xml").read_text()
    assert xml.count("<testcase") == len(RULE_IDS)
    assert xml.count("<failure") == 1


def test_bad_records_raise_input_error() -> None:
    with pytest.raises(InputError, match=r"<records>:2: .*unknown state 'Running'"):
        check([created(0, "a"), move(1, "a", "Queued", "Running")])
    with pytest.raises(InputError, match="<records>:2: t=1 is smaller than t=5"):
        check([created(5, "a"), created(1, "b")])
    with pytest.raises(InputError, match="profile"):
        check(EXAMPLE, profile="lenient")
    with pytest.raises(InputError, match="cannot check a int"):
        check(42)
    with pytest.raises(InputError, match="smaller than"):
        Checker().feed_many([created(5, "a"), created(1, "b")])
    for bad in ({"profile": "lenient"}, {"max_age": -1.0}, {"max_age": float("nan")}):
        with pytest.raises(InputError, match=r"profile|max_age"):
            check(EXAMPLE, **bad)
        with pytest.raises(InputError, match=r"profile|max_age"):
            Checker(**bad)


def test_online_checker_api() -> None:
    checker = Checker()
    assert checker.feed(EXAMPLE[0]) == []
    got = checker.feed(move(5, "a1", "Queued", "Succeeded"))
    assert [(v.rule, v.line) for v in got] == [("T3", 2), ("C2", 2)]  # lines count from 1
    assert checker.violations == got
    assert checker.feed_many([move(6, "zz", "Queued", "In Progress")])[0].rule == "T1"
    rep = checker.finish()
    assert rep.summary["records"] == 3 and not rep.ok
    assert "T3" in repr(rep.violation_list[0]) and "ok=False" in repr(rep)
    with pytest.raises(InputError, match="max_age"):
        Checker(max_age=-1)


def test_every_rule_is_defined_by_its_own_clauses() -> None:
    from activitykit.check.rules import CLAUSES, RULES

    for rule in RULES.values():
        assert all(c.rule == rule.id for c in rule.clauses)
        # STUCK is judged at the end of the trace (report.finalize), every other rule by clauses
        assert bool(rule.clauses) is (rule.id != "STUCK")
    assert {c.on for c in CLAUSES} == {"orphan", "created", "transition", "deliver", "result"}
    assert all(c.when is None or c.on == "transition" for c in CLAUSES)
