"""The reference model, the reply validator and the catalogue, all in-process (fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activitykit.conformance import (
    CASES,
    PROTOCOL,
    PythonIUT,
    ReferenceSystem,
    ReplyShapeError,
    run_suite,
    validate_reply,
)
from activitykit.conformance.cases import adv, approve, cancel, cl, con, ex, fin, sv
from activitykit.conformance.runner import compare
from activitykit.model import Kind, Profile, machine


def _drive(profile: str, *steps: dict[str, Any]) -> list[dict[str, Any]]:
    ref = ReferenceSystem(profile)
    replies = []
    for i, step in enumerate(steps, start=1):
        replies.append(ref.handle({"id": i, **step}))
    return replies


def _moves(reply: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (e["activity"], e["from"], e["to"]) for e in reply["events"] if e["event"] == "transition"
    ]


# -- reference semantics -------------------------------------------------------------------
def test_client_life_cycle_with_operation_ids() -> None:
    r = _drive(
        "result-wins",
        cl("a1"),
        ex(),
        {"cmd": "result", "computer": "c1", "operation_id": 1, "status": "succeeded"},
        ex(),
    )
    assert r[1]["delivered"] == [
        {"activity": "a1", "operation_id": 1, "type": "ExecuteScriptRequest"}
    ]
    assert _moves(r[1]) == [("a1", "Queued", "In Progress")]
    assert r[2]["events"] == []  # a result waits for the next exchange
    assert r[3]["results"] == [{"operation_id": 1, "activity": "a1", "accepted": True}]
    assert _moves(r[3]) == [("a1", "In Progress", "Succeeded")]


@pytest.mark.parametrize(
    ("profile", "final", "accepted"),
    [("result-wins", "Succeeded", True), ("cancel-sticky", "Canceled", False)],
)
def test_cancel_during_execution_follows_the_profile(
    profile: str, final: str, accepted: bool
) -> None:
    ref = ReferenceSystem(profile)
    for step in (cl("a1"), ex(), cancel("a1")):
        assert ref.handle({"id": 1, **step})["status"] == "ok"
    ref.handle(
        {"id": 2, "cmd": "result", "computer": "c1", "operation_id": 1, "status": "succeeded"}
    )
    reply = ref.handle({"id": 3, **ex()})
    assert reply["results"][0]["accepted"] is accepted
    assert ref.states() == {"a1": final}


def test_server_canceled_is_final_and_redelivery_makes_no_second_move() -> None:
    r = _drive("result-wins", sv("a1"), con("h1"), {"cmd": "crash", "handler": "h1"}, con("h2"))
    assert _moves(r[1]) == [("a1", "Queued", "In Progress")]
    assert _moves(r[3]) == []
    assert r[3]["activity"] == "a1"
    assert [e["attempt"] for e in r[3]["events"] if e["event"] == "consume"] == [2]
    r = _drive("result-wins", sv("a1"), con(), cancel("a1"), fin("a1"))
    assert r[3]["accepted"] is False and _moves(r[3]) == []


def test_failed_dependency_cancels_the_chain_and_success_releases() -> None:
    r = _drive(
        "result-wins",
        sv("d"),
        sv("w1", "Waiting", depends_on=["d"]),
        sv("w2", "Waiting", depends_on=["w1"]),
        con(),
        fin("d", "failed"),
    )
    assert _moves(r[4])[1:] == [("w1", "Waiting", "Canceled"), ("w2", "Waiting", "Canceled")]
    r = _drive("result-wins", sv("d"), sv("w", "Waiting", depends_on=["d"]), con(), fin("d"))
    assert _moves(r[3])[1:] == [("w", "Waiting", "Queued")]


def test_release_during_own_exchange_goes_straight_to_in_progress() -> None:
    ref = ReferenceSystem()
    for step in (
        cl("d"),
        cl("w", "Waiting", depends_on=["d"]),
        cl("o", "Waiting", "c2", depends_on=["d"]),
        ex(),
    ):
        ref.handle({"id": 1, **step})
    ref.handle(
        {"id": 2, "cmd": "result", "computer": "c1", "operation_id": 1, "status": "succeeded"}
    )
    reply = ref.handle({"id": 3, **ex()})
    assert ("w", "Waiting", "In Progress") in _moves(reply)
    assert ("o", "Waiting", "Queued") in _moves(reply)  # another computer's: Queued


def test_approval_and_schedule() -> None:
    r = _drive(
        "result-wins",
        cl("b", "Blocked"),
        ex(),
        approve("b"),
        ex(),
        cl("s", "Scheduled", deliver_after=10),
        ex(),
        adv(10),
        ex(),
    )
    assert r[1]["delivered"] == [] and _moves(r[2]) == [("b", "Blocked", "Queued")]
    assert [d["activity"] for d in r[3]["delivered"]] == ["b"]
    assert r[5]["delivered"] == [] and _moves(r[6]) == []
    assert _moves(r[7]) == [("s", "Scheduled", "In Progress")]


def test_refusals_change_nothing_and_errors_name_the_field() -> None:
    ref = ReferenceSystem()
    ref.handle({"id": 1, **cl("a1")})
    for bad in (approve("a1"), cl("a1"), {**cl("a2"), "type": "NoSuchRequest"}, adv(-1)):
        reply = ref.handle({"id": 2, **bad})
        assert reply["status"] == "refused" and reply["reason"] and reply["events"] == []
    assert ref.states() == {"a1": "Queued"}
    reply = ref.handle({"id": 3, "cmd": "exchange"})
    assert reply["status"] == "error" and "computer" in reply["reason"]
    assert ref.handle({"id": 4, "cmd": "teleport"})["status"] == "error"
    hello = ref.handle({"id": 5, "cmd": "hello", "protocol": "activitykit-iut/99"})
    assert hello["status"] == "refused" and PROTOCOL in hello["reason"]


# -- reply validation ----------------------------------------------------------------------
def test_validate_reply_accepts_aliases_and_rejects_wrong_types() -> None:
    req = {"id": 3, "cmd": "query", "activity": "a1"}
    assert validate_reply(req, {"id": 3, "status": "ok", "state": "in_progress"})["state"] == (
        "In Progress"
    )
    for bad, words in [
        ({"id": 4, "status": "ok", "state": "Queued"}, "does not answer"),
        ({"id": 3, "status": "fine"}, "status"),
        ({"id": "3", "status": "ok", "state": "Queued"}, "id"),
        ({"id": 3, "status": "ok"}, "state"),
        ({"id": 3, "status": "ok", "state": "Pending"}, "unknown state"),
        ({"id": 3, "status": "refused"}, "reason"),
        (["not", "an", "object"], "JSON object"),
    ]:
        with pytest.raises(ReplyShapeError, match=words):
            validate_reply(req, bad)
    ex_req = {"id": 1, "cmd": "exchange", "computer": "c1"}
    with pytest.raises(ReplyShapeError, match="delivered"):
        validate_reply(ex_req, {"id": 1, "status": "ok", "results": []})
    with pytest.raises(ReplyShapeError, match="operation_id"):
        validate_reply(
            ex_req,
            {
                "id": 1,
                "status": "ok",
                "delivered": [{"activity": "a", "operation_id": 1.5}],
                "results": [],
            },
        )
    with pytest.raises(ReplyShapeError, match="events"):
        validate_reply(
            ex_req,
            {"id": 1, "status": "ok", "delivered": [], "results": [], "events": [{"event": "x"}]},
        )


def test_compare_reports_status_moves_and_deliveries() -> None:
    step = ex()
    ref = {"status": "ok", "events": [], "delivered": [], "results": []}
    iut = {
        "status": "ok",
        "events": [
            {"event": "transition", "activity": "a", "from": "Blocked", "to": "In Progress"}
        ],
        "delivered": [{"activity": "a", "operation_id": 1}],
        "results": [],
    }
    msgs = compare(step, ref, iut)
    assert any("a: expected no move, the IUT did Blocked -> In Progress" in m for m in msgs)
    assert any("delivered ['a']" in m for m in msgs)
    assert compare(step, ref, {"status": "refused", "reason": "no", "events": []}) == [
        "expected ok, the IUT answered refused (no)"
    ]


# -- the catalogue -------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["result-wins", "cancel-sticky"])
def test_reference_passes_the_catalogue_and_its_trace_checks(profile: str) -> None:
    report = run_suite(PythonIUT(ReferenceSystem()), profile=profile, stateful=False)
    assert [r.name for r in report.failed] == []
    assert report.trace.ran and report.trace.ok, report.trace.violations
    assert report.exit_code == 0


@pytest.mark.parametrize("profile", list(Profile))
def test_catalogue_exercises_every_allowed_transition(profile: Profile) -> None:
    """Every allowed (kind, profile, src, dst) move is caused by some case's life cycle."""
    seen: set[tuple[str, str, str]] = set()
    kinds: dict[str, str] = {}
    for case in CASES.values():
        for run in case.runs:
            ref = ReferenceSystem(profile)
            kinds.clear()
            for i, step in enumerate(run):
                wire = dict(step)
                if step["cmd"] == "result" and "activity" in step:
                    wire.pop("activity")
                    ops = [op for op, o in ref.ops.items() if o.id == step["activity"]]
                    wire["operation_id"] = ops[-1] if ops else -1
                if step["cmd"] == "create":
                    kinds[step["activity"]] = step["kind"]
                reply = ref.handle({"id": i, **wire})
                for e in reply["events"]:
                    if e["event"] == "transition":
                        seen.add((kinds[e["activity"]], e["from"], e["to"]))
    allowed = {
        (k.value, s.value, d.value)
        for k in Kind
        for s, dsts in machine(k, profile).transitions.items()
        for d in dsts
    }
    assert allowed - seen == set(), "allowed moves no case exercises"
    assert seen <= allowed
    # Both direct server moves exist under either profile, so the gap cannot hide there.
    assert {("server", "Scheduled", "In Progress"), ("server", "Waiting", "In Progress")} <= seen


def test_case_names_are_unique_and_titled() -> None:
    assert len(CASES) > 60
    assert all(c.title and c.runs for c in CASES.values())


def test_session_trace_fits_the_trace_schema_and_the_checker_flags_a_bad_move(
    tmp_path: Path,
) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "session.parquet"
    cases = [CASES["client/waiting-direct-delivery"], CASES["server/redelivery-after-crash"]]
    report = run_suite(PythonIUT(ReferenceSystem()), cases=cases, stateful=False, trace_path=path)
    table = pq.read_table(path)
    assert table.num_rows == report.trace.records > 0
    events = set(table.column("event").to_pylist())
    assert {"created", "exchange", "deliver", "result", "consume", "fault"} <= events

    class ScheduledToQueued(ReferenceSystem):
        def _publishes_when_due(self, a: Any) -> bool:
            return True

    bad = run_suite(
        PythonIUT(ScheduledToQueued()), cases=[CASES["client/scheduled-not-before"]], stateful=False
    )
    assert bad.trace.ran and not bad.trace.ok
    assert any(v.startswith("T3 client/scheduled-not-before#1/a1") for v in bad.trace.violations)


def test_silent_and_inconsistent_moves_are_caught() -> None:
    class Silent(ReferenceSystem):
        def _move(self, a: Any, dst: Any, cause: str) -> None:
            if cause == "cancel":  # changes state, tells nobody
                a.state = dst
                return
            super()._move(a, dst, cause)

    class WrongFrom(ReferenceSystem):
        def _emit(self, event: str, **fields: Any) -> None:
            if event == "transition" and fields.get("to") == "In Progress":
                fields["from"] = "Blocked"
            super()._emit(event, **fields)

    case = [CASES["client/queued-canceled"]]
    (silent,) = run_suite(PythonIUT(Silent()), cases=case, stateful=False).results
    assert silent.outcome == "fail"
    assert "a1: expected Queued -> Canceled, the IUT did no move" in silent.deviation.message
    case = [CASES["client/queued-succeeded"]]
    (wrong,) = run_suite(PythonIUT(WrongFrom()), cases=case, stateful=False).results
    assert "the IUT reported a1 moving from Blocked, but it was Queued" in wrong.deviation.message
    assert "forbidden move" in wrong.deviation.message


def test_release_direct_moves_only_at_consumption() -> None:
    r = _drive(
        "result-wins",
        sv("a", "Scheduled", deliver_after=10, release="direct"),
        con(),
        adv(10),
        {"cmd": "query", "activity": "a"},
        sv("d"),
        sv("w", "Waiting", depends_on=["d"], release="direct"),
        con(),  # a: Scheduled -> In Progress
        con("h2"),  # d
        fin("d", handler="h2"),  # releases w: published, still Waiting
        {"cmd": "query", "activity": "w"},
        con("h3"),  # w: Waiting -> In Progress
    )
    assert r[1]["activity"] is None and _moves(r[1]) == []
    assert [e["event"] for e in r[2]["events"]] == ["enqueue"]
    assert r[3]["state"] == "Scheduled"
    assert _moves(r[6]) == [("a", "Scheduled", "In Progress")]
    assert [e["event"] for e in r[6]["events"]] == ["consume", "transition"]
    assert _moves(r[8]) == [("d", "In Progress", "Succeeded")]
    assert r[9]["state"] == "Waiting"
    assert _moves(r[10]) == [("w", "Waiting", "In Progress")]
    bad = _drive("result-wins", sv("a", "Scheduled", deliver_after=1, release="later"))
    assert bad[0]["status"] == "refused" and "queue, direct" in bad[0]["reason"]


def test_an_iut_without_release_direct_fails_those_cases_with_a_hint() -> None:
    class NoDirect(ReferenceSystem):
        implementation = "no-direct"

        def handle(self, request: dict[str, Any]) -> dict[str, Any]:
            if request.get("cmd") == "create" and request.get("release") == "direct":
                return {"id": request["id"], "status": "refused", "reason": "release: no"}
            return super().handle(request)

    direct = [c for n, c in CASES.items() if "direct" in n and not n.startswith("client/wait")]
    direct += [CASES["client/waiting-direct"], CASES["server/queued-succeeded"]]
    report = run_suite(PythonIUT(NoDirect()), cases=direct, stateful=False)
    failed = {r.name: r for r in report.failed}
    assert set(failed) == {c.name for c in direct} - {"server/queued-succeeded"}
    evidence = failed["server/scheduled-direct"].deviation
    assert evidence is not None and "release 'direct'" in evidence.message
    assert report.exit_code == 1


def test_compare_checks_attempt_delivery_order_and_operation_id_roles() -> None:
    from activitykit.conformance.runner import OpRenaming, SentResult

    consume = {"event": "consume", "activity": "a", "handler": "h1", "attempt": 2}
    ref = {"status": "ok", "events": [consume], "activity": "a"}
    iut = {"status": "ok", "events": [{**consume, "attempt": 1}], "activity": "a"}
    (msg,) = compare(con("h1"), ref, iut)
    assert "'attempt'" in msg and "expected 2" in msg and "said 1" in msg

    def exchange(order: list[str], ops: list[object]) -> dict[str, object]:
        return {
            "status": "ok",
            "events": [],
            "delivered": [
                {"activity": a, "operation_id": o, "type": "ExecuteScript"}
                for a, o in zip(order, ops, strict=True)
            ],
            "results": [],
        }

    (msg,) = compare(ex(), exchange(["a1", "a2"], [1, 2]), exchange(["a2", "a1"], [1, 2]))
    assert "in creation order" in msg and "['a1', 'a2']" in msg
    renaming = OpRenaming()
    # Other values are fine (the IUT chooses them), a swapped pairing is not.
    assert compare(ex(), exchange(["a1"], [1]), exchange(["a1"], ["x"]), renaming) == []
    assert compare(ex(), exchange(["a2"], [2]), exchange(["a2"], ["x"]), renaming)
    ack = {"status": "ok", "events": [], "delivered": [], "results": []}
    ref_ack = {**ack, "results": [{"operation_id": -1, "activity": None, "accepted": False}]}
    iut_ack = {**ack, "results": [{"operation_id": -1, "activity": "a9", "accepted": True}]}
    msgs = compare(ex(), ref_ack, iut_ack, sent=[SentResult("a9", -1, -1)])
    assert all("a9 (never delivered" in m for m in msgs) and len(msgs) == 2
    assert not any("'?'" in m for m in msgs)
