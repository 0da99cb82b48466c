"""The server's activity store driven directly, on a hand-moved clock (what no protocol reaches:
groups, keep-waiting, wake-ups, notifications, strict legality)."""

from __future__ import annotations

from typing import Any

import pytest

from activitykit.server import ActivityStore, IllegalMove, Refused


class Driver:
    """The smallest driver: a list of records, a list of wake-ups, the notifications."""

    def __init__(self, **kw: Any) -> None:
        self.records: list[dict[str, Any]] = []
        self.timers: list[tuple[float, Any]] = []
        self.woken: list[tuple[Any, float]] = []
        self.published: list[tuple[str, int, float]] = []
        self.store = ActivityStore(
            emit=self.records.append,
            at=lambda t, cb: self.timers.append((t, cb)),
            on_deliverable=lambda c, t: self.woken.append((c, t)),
            on_publish=lambda a, t: self.published.append((a.id, a.gen, t)),
            **kw,
        )

    def moves(self, aid: str) -> list[tuple[float, str, str]]:
        return [
            (r["t"], r["from"], r["to"])
            for r in self.records
            if r["event"] == "transition" and r["activity"] == aid
        ]


def test_scheduled_wakes_at_its_due_time_not_its_deliver_after() -> None:
    d = Driver()
    s = d.store
    srv = s.create(
        0.0, "a1", "server", "GenerateUsgReportActivity", "Scheduled", deliver_after=10.0, due=25.0
    )
    cl = s.create(
        0.0,
        "a2",
        "client",
        "ExecuteScriptRequest",
        "Scheduled",
        computer=7,
        cname="c8",
        group="web",
        deliver_after=10.0,
        due=15.0,
    )
    assert [t for t, _ in d.timers] == [25.0, 15.0]
    assert d.records[1]["group"] == "web" and d.records[1]["computer"] == "c8"
    assert not s.has_deliverable(20.0, 7) or cl.due <= 20.0
    d.timers[1][1](15.0)
    assert d.woken == [(7, 15.0)]
    assert s.has_deliverable(15.0, 7) and not s.has_deliverable(15.0, 7, seen=14.0)
    d.timers[0][1](25.0)
    assert d.moves("a1") == [(25.0, "Scheduled", "Queued")]
    assert d.published == [("a1", 1, 25.0)]
    delivered, _ = s.exchange(30.0, 7)
    assert delivered == [cl] and d.moves("a2") == [(30.0, "Scheduled", "In Progress")]
    assert srv.state == "Queued"


def test_group_progress_releases_watchers_in_creation_order() -> None:
    d = Driver()
    s = d.store
    s.create_group(0.0, "g", "ExecuteScriptRequest", 2)
    kids = [
        s.create(0.0, f"k{i}", "client", "ExecuteScriptRequest", "Queued", computer=i, parent="g")
        for i in range(2)
    ]
    late = s.create(
        0.0, "w2", "server", "GenerateUsgReportActivity", "Waiting", progress_of="g", threshold=1.0
    )
    early = s.create(
        0.0, "w1", "server", "GenerateUsgReportActivity", "Waiting", progress_of="g", threshold=0.5
    )
    for i, k in enumerate(kids):
        s.exchange(1.0, i)
        s.exchange(2.0, i, [(k.op, "failed" if i else "succeeded")])
    values = [r["value"] for r in d.records if r["event"] == "progress"]
    assert values == [0.0, 0.5, 1.0]
    assert (late.state, early.state) == ("Queued", "Queued")
    assert [p[0] for p in d.published] == ["w1", "w2"]


@pytest.mark.parametrize(("policy", "state"), [("cancel", "Canceled"), ("keep-waiting", "Waiting")])
def test_dependency_failure_policy(policy: str, state: str) -> None:
    d = Driver(on_dependency_failure=policy)
    s = d.store
    dep = s.create(0.0, "d", "server", "GenerateUsgReportActivity", "Queued")
    w = s.create(0.0, "w", "server", "GenerateUsgReportActivity", "Waiting", depends_on=["d"])
    assert s.consume(1.0, dep, dep.gen, "h1")
    s.finish(2.0, dep, "failed")
    assert w.state == state
    assert s.open == (1 if policy == "keep-waiting" else 0)


def test_stale_messages_are_not_consumed() -> None:
    d = Driver()
    s = d.store
    a = s.create(0.0, "a", "server", "GenerateUsgReportActivity", "Queued")
    s.block(1.0, a)
    s.approve(2.0, a)
    assert [(p[0], p[1]) for p in d.published] == [("a", 1), ("a", 2)]
    assert not s.consume(3.0, a, 1, "h1")  # the first publication went stale
    assert s.consume(3.0, a, 2, "h1") and a.attempts == 1
    assert s.consume(4.0, a, 2, "h2", redelivered=True) and a.attempts == 2  # no second move
    assert d.moves("a")[-1] == (3.0, "Queued", "In Progress")


def test_strict_store_refuses_illegal_moves_and_bad_creates() -> None:
    s = Driver().store
    a = s.create(0.0, "a", "server", "GenerateUsgReportActivity", "Queued")
    with pytest.raises(IllegalMove, match="may not move Queued -> Succeeded"):
        s._move(a, "Succeeded", "bug")
    with pytest.raises(Refused, match="already exists"):
        s.create(0.0, "a", "server", "GenerateUsgReportActivity", "Queued")
    with pytest.raises(Refused, match="not a known activity"):
        s.create(0.0, "b", "server", "GenerateUsgReportActivity", "Waiting", depends_on=["x"])
    with pytest.raises(Refused, match="needs a computer"):
        s.create(0.0, "c", "client", "ExecuteScriptRequest", "Queued")
