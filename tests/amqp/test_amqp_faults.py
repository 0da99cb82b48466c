"""Faults on the real broker: a job-handler killed mid-activity, a broker restart with
messages in flight, a job-handler that never acknowledges."""

from __future__ import annotations

import time

import pytest

from activitykit.live.amqp.protocol import ReportError

pytestmark = pytest.mark.amqp


def _consumes(live, activity):
    return [c for c in live.side.counts.consumed if c.activity == activity]


def test_kill_9_mid_activity_redelivers_to_the_other_handler(make_live) -> None:
    live = make_live(prefetch=1)
    live.pool.start_all(["h1", "h2"], live.side)
    live.publish("long", duration=30.0)  # h1 (first subscribed) takes it
    live.publish("short", duration=0.0)
    assert live.side.run_until(lambda: bool(_consumes(live, "long")), 30)
    first = _consumes(live, "long")[0]
    assert first.handler == "h1" and not first.redelivered
    t_kill = live.side.clock()
    live.pool.kill("h1")  # SIGKILL: no goodbye, the broker sees the socket close
    live.side.handler_lost("h1")
    # The job comes back; make it short this time by letting h2 run it: h2 gets the same
    # message (its job says 30 s), so end the test at the second consume, not the finish.
    assert live.side.run_until(lambda: len(_consumes(live, "long")) == 2, 30)
    second = _consumes(live, "long")[1]
    assert (second.handler, second.redelivered, second.accepted) == ("h2", True, True)
    assert second.t >= t_kill
    print(f"kill -9 -> second consume: {second.t - t_kill:.4f} s")
    # In the checked trace: the fault, then the second consume, and no second move.
    recs = live.trace.records
    kinds = [(r["event"], r.get("activity"), r.get("fault")) for r in recs]
    assert (
        kinds.index(("fault", None, "handler_crash"))
        < [i for i, k in enumerate(kinds) if k[:2] == ("consume", "long")][1]
    )
    moves = [r for r in recs if r["event"] == "transition" and r["activity"] == "long"]
    assert [(m["from"], m["to"]) for m in moves] == [("Queued", "In Progress")]
    again = [r for r in recs if r["event"] == "consume" and r["activity"] == "long"][1]
    assert (again["attempt"], again["redelivered"]) == (2, True)
    assert live.recorder.violations == []


def test_prefetched_messages_of_a_killed_handler_come_back_flagged(make_live) -> None:
    live = make_live(prefetch=3)
    live.pool.start_all(["h1"], live.side)
    for i in range(3):
        live.publish(f"a{i}", duration=30.0)
    assert live.side.run_until(lambda: bool(_consumes(live, "a0")), 30)
    live.side.pump(0.3)  # the broker has pushed a1, a2 into h1's prefetch buffer by now
    live.pool.kill("h1")
    live.side.handler_lost("h1")
    live.pool.start("h2", "--prefetch", "1")
    assert live.side.run_until(lambda: bool(_consumes(live, "a0")[1:]), 30)
    again = _consumes(live, "a0")[1]
    assert (again.handler, again.redelivered) == ("h2", True)
    # a1 and a2 were only prefetched by h1, never started: the broker flags them anyway.
    assert live.side.run_until(lambda: bool(_consumes(live, "a1")), 60)
    assert _consumes(live, "a1")[0].redelivered


def test_broker_restart_keeps_persistent_messages_in_flight(make_live, own_broker) -> None:
    live = make_live(prefetch=2)
    live.pool.start_all(["h1"], live.side)
    n = 12
    for i in range(n):
        live.publish(f"a{i}", duration=0.4)
    # h1 holds two (one running, one prefetched); the other ten wait in the queue.
    assert live.side.run_until(lambda: bool(_consumes(live, "a0")), 30)
    done_before = live.finals()
    own_broker.restart()
    # The harness and the handler reconnect on their own; every job runs to the end.
    live.wait_final(n, timeout=120)
    assert live.side.counts.reconnects >= 1
    assert live.recorder.violations == []
    redelivered = [c for c in live.side.counts.consumed if c.redelivered]
    assert redelivered, "the message h1 held when the broker stopped must come back flagged"
    assert done_before < n
    faults = [r["fault"] for r in live.records("fault")]
    assert "broker_connection_lost" in faults and "broker_connection_restored" in faults


def test_a_handler_that_never_acks_stalls_and_is_named_when_its_message_returns(make_live):
    live = make_live(prefetch=1)
    live.pool.start("bad", "--never-ack")
    assert live.side.run_until(lambda: live.side.queue_counts()[1] == 1, 30)
    for i in range(3):
        live.publish(f"a{i}")
    assert live.side.run_until(lambda: live.finals() == 1, 30)
    # It reported a0 finished but holds its message: with prefetch 1 it gets nothing more.
    live.side.pump(1.0)
    assert live.finals() == 1
    assert live.side.queue_counts()[0] == 2
    live.pool.start("good")
    assert live.side.run_until(lambda: live.finals() == 3, 30)
    live.pool.kill("bad")  # its unacknowledged a0 goes back to the queue, to "good"
    with pytest.raises(ReportError, match=r"'a0' was delivered again after handler 'bad'"):
        live.side.run_until(lambda: False, 10)


def test_a_killed_broker_loses_no_message_it_had_written(make_live, own_broker) -> None:
    live = make_live(prefetch=1)
    for i in range(5):
        live.publish(f"a{i}")
    live.side.pump(0.5)
    assert live.side.queue_counts()[0] == 5
    # Give the queue time to write persistent messages, then a hard crash.
    time.sleep(1.0)
    own_broker.kill()
    own_broker.start()
    live.side.pump(0.5)
    ready, _ = live.side.queue_counts()
    assert ready == 5
