"""A live run's job-handler crashes without a broker: the seeded plan, and where the crash and
the restart go in the trace when reports of a dead handler arrive late."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest

from activitykit.live.amqp.crashes import CrashPlan
from activitykit.live.amqp.protocol import PROTOCOL
from activitykit.live.amqp.server_side import AmqpServerSide
from activitykit.scenario import scenario_from_data

BASE = {
    "name": "crashes",
    "seed": 9,
    "duration": 60,
    "fleet": {"groups": [{"name": "g", "computers": 0}]},
    "server": {"job_handlers": 3},
}


def _scenario(**changes):
    data = {**BASE, **changes}
    return scenario_from_data(data, source="test")


def test_no_mtbf_no_plan() -> None:
    assert CrashPlan.of(_scenario()) is None


def test_the_plan_is_seeded_per_handler_and_stops_like_the_simulator() -> None:
    faults = {"job_handler_crash": {"mtbf": 20, "restart_delay": {"dist": "fixed", "value": 3}}}
    plan = CrashPlan.of(_scenario(faults=faults))
    again = CrashPlan.of(_scenario(faults=faults))
    assert plan is not None and again is not None
    assert (plan.first_before, plan.t_stop) == (60, 60)
    h1 = [plan.gap("h1")() for _ in range(200)]
    # h1's draws are the same whether or not h2 drew first: no shared stream.
    again.gap("h2")()
    assert [again.gap("h1")() for _ in range(200)] == h1
    assert h1 != [plan.gap("h2")() for _ in range(200)]
    assert 14 < sum(h1) / len(h1) < 26  # exponential, mean mtbf
    assert plan.restart_delay("h1")() == 3
    drained = CrashPlan.of(_scenario(faults=faults, run_until="drained", drain_limit=500))
    assert drained is not None and drained.t_stop == 500


class _Port:
    """What the server core is told, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def consumed(self, activity, gen, handler, redelivered, t) -> bool:
        self.calls.append(("consumed", activity, handler, redelivered))
        return True

    def finished(self, activity, gen, handler, status, t) -> None:
        self.calls.append(("finished", activity, handler, status))

    def handler_lost(self, handler, t) -> None:
        self.calls.append(("lost", handler))


def _body(handler: str, *reports: dict) -> bytes:
    return orjson.dumps({"protocol": PROTOCOL, "handler": handler, "reports": list(reports)})


def _ip(a: str, red: bool = False) -> dict:
    return {"activity": a, "gen": 1, "status": "in-progress", "redelivered": red}


@pytest.fixture
def side():
    records: list[dict] = []
    port = _Port()
    s = AmqpServerSide("amqp://127.0.0.1:1/%2F", port, records.append, prefetch=1)
    s.ledger.published |= {("a1", 1), ("a2", 1)}
    s.late: list[bytes] = []  # reports the broker still holds when a handler dies

    def deliver(body: bytes) -> None:
        s._on_report(None, SimpleNamespace(delivery_tag=1), None, body)

    def drain(timeout: float = 5.0) -> None:  # the broker hands over what it holds
        while s.late:
            deliver(s.late.pop(0))

    s.deliver, s.drain_reports = deliver, drain
    s.records, s.port_calls = records, port.calls
    return s


def _events(side) -> list[tuple]:
    return [
        (r["event"], r.get("fault") or r.get("activity"), r.get("handler")) for r in side.records
    ]


def test_a_final_report_committed_before_the_kill_is_handled_before_the_crash(side) -> None:
    side.deliver(_body("h1", _ip("a1")))
    side.handler_dying("h1")
    side.late.append(_body("h1", {"activity": "a1", "gen": 1, "status": "succeeded"}))
    side.handler_lost("h1")
    assert side.port_calls == [
        ("consumed", "a1", "h1", False),
        ("finished", "a1", "h1", "succeeded"),
        ("lost", "h1"),
    ]
    assert _events(side) == [("ack", "a1", "h1"), ("fault", "handler_crash", "h1")]


def test_a_redelivery_seen_before_the_loss_is_recorded_puts_the_crash_first(side) -> None:
    side.deliver(_body("h1", _ip("a1")))
    side.handler_dying("h1")
    side.deliver(_body("h2", _ip("a1", red=True)))  # the broker was quicker than the drain
    side.handler_lost("h1")  # recorded already: not twice
    assert side.port_calls == [
        ("consumed", "a1", "h1", False),
        ("lost", "h1"),
        ("consumed", "a1", "h2", True),
    ]
    assert [e for e in _events(side) if e[0] == "fault"] == [("fault", "handler_crash", "h1")]


def test_a_restarted_handlers_first_report_comes_after_its_restart(side) -> None:
    side.handler_lost("h1")
    side.handler_starting("h1")
    side.deliver(_body("h1", _ip("a2")))  # before the harness saw its consumer
    side.handler_restarted("h1")  # then it does: no second record
    assert _events(side) == [
        ("fault", "handler_crash", "h1"),
        ("fault", "handler_restart", "h1"),
    ]
    assert side.port_calls[-1] == ("consumed", "a2", "h1", False)
