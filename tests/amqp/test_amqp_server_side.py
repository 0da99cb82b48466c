"""Server activities through the real broker with the kit's job-handlers, trace checked."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.amqp


def test_every_activity_runs_once_and_ends_as_its_job_said(live) -> None:
    live.pool.start_all(["h1", "h2"], live.side)
    for i in range(30):
        live.publish(
            f"a{i}",
            duration=0.01 if i % 3 == 0 else 0.0,
            outcome="failed" if i % 5 == 0 else "succeeded",
        )
    live.wait_final(30)
    assert live.recorder.violations == []
    want = {f"a{i}": "Failed" if i % 5 == 0 else "Succeeded" for i in range(30)}
    assert live.states() == want
    consumes = live.records("consume")
    assert sorted(r["activity"] for r in consumes) == sorted(want)
    assert {r["redelivered"] for r in consumes} == {False}
    assert {r["attempt"] for r in consumes} == {1}
    assert len(live.records("ack")) == 30
    assert {r["handler"] for r in consumes} == {"h1", "h2"}
    # Every consume is followed (same t) by the move it causes: TRACE.md C3 order.
    recs = live.trace.records
    for i, r in enumerate(recs):
        if r["event"] == "consume":
            nxt = recs[i + 1]
            assert (nxt["event"], nxt["activity"]) == ("transition", r["activity"])
            assert nxt["t"] == r["t"]


def test_nothing_is_left_on_the_queue(live) -> None:
    live.pool.start_all(["h1"], live.side)
    for i in range(5):
        live.publish(f"a{i}")
    live.wait_final(5)
    live.pool.stop()
    live.side.pump(0.2)
    assert live.side.queue_counts() == (0, 0)
