"""Small, hand-checkable runs of the simulator, one mechanism each.

Most runs use one "fresh" computer (``start_phase_spread: 0``): its client starts at t=0, so
its first exchange is urgent at t=60 and it pings at t=30, 60, 90, ... With the default
intervals (900/60/30 s) every time below can be worked out by hand; the comments do it.
Every trace is also checked by the batch checker (``activitykit.check.check``).
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from activitykit.check import check
from activitykit.scenario.schema import Scenario
from activitykit.sim import SimResult, simulate
from activitykit.trace import MemoryTraceWriter

#: Message handling takes no time here, so every time stays whole; the client's real defaults
#: (17 ms a message) and the rules built on them are tested in test_sim_client.py.
FRESH = {
    "name": "fleet",
    "computers": 1,
    "start_phase_spread": 0,
    "client": {"message_handling": 0, "handler_overhead": 0},  # exact times below
}


def scenario(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "duration": 3600,
        "fleet": {"groups": [dict(FRESH)]},
        "server": {"job_handlers": 1},
        "workload": {},
    }
    for k, v in kw.items():
        base[k] = v
    return base


def run(spec: dict[str, Any]) -> tuple[SimResult, list[dict[str, Any]]]:
    sc = Scenario.model_validate(spec)
    w = MemoryTraceWriter()
    r = simulate(sc, writer=w)
    assert r.violations == []
    rep = check(w.records, profile=sc.model.profile) if w.records else None
    assert rep is None or rep.ok, rep.to_text(limit=5)
    return r, w.records


def of(records, event: str, activity: str | None = None, **match: Any) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r["event"] == event
        and (activity is None or r.get("activity") == activity)
        and all(r.get(k) == v for k, v in match.items())
    ]


def moves(records, activity: str) -> list[tuple[float, str, str]]:
    return [(r["t"], r["from"], r["to"]) for r in of(records, "transition", activity)]


def batch(type_: str = "ExecuteScriptRequest", at: float = 0.0, count: int = 1, **kw: Any):
    return {"name": f"b{at}-{type_}", "type": type_, "at": at, "count": count, **kw}


def fleet(**kw: Any) -> dict[str, Any]:
    return {"groups": [dict(FRESH, **kw)]}


# --- exchanges and pings ----------------------------------------------------------------------
def test_idle_fresh_computer_first_exchange_urgent_then_regular_all_counted():
    # Exchanges at 60 (urgent), 960, 1860, 2760 (regular); pings at 30, 60, ..., 3570.
    r, recs = run(scenario())
    assert recs == []  # nothing happened that a trace needs
    assert r.counters["exchanges_urgent"] == 1
    assert r.counters["exchanges_regular"] == 3
    assert r.counters["exchanges"] == 4
    assert r.counters["pings"] == 119
    assert r.counters["pings_simulated"] == 0
    assert r.events == 1  # the job-handler process starting; the computer costs nothing


def test_activity_at_start_is_delivered_by_the_first_urgent_exchange():
    spec = scenario(
        fleet=fleet(handlers={"ExecuteScriptRequest": {"duration": 10}}),
        workload={"batches": [batch()]},
    )
    _r, recs = run(spec)
    ex = of(recs, "exchange")
    assert ex[0] == {"t": 60.0, "event": "exchange", "computer": "c1", "urgent": True}
    assert of(recs, "deliver")[0]["t"] == 60.0
    # result at 70 asks for an urgent exchange: 70 + 60 = 130
    assert moves(recs, "a1") == [
        (60.0, "Queued", "In Progress"),
        (130.0, "In Progress", "Succeeded"),
    ]
    assert of(recs, "result")[0]["t"] == 130.0


def test_ping_finds_message_then_urgent_exchange_60s_later():
    # Created at 100; pings at 30k: the first at or after 100 is 120 -> exchange at 180.
    # Handler 10 s -> result queued at 190 -> urgent exchange at 250.
    spec = scenario(
        fleet=fleet(handlers={"ExecuteScriptRequest": {"duration": 10}}),
        workload={"batches": [batch(at=100)]},
    )
    r, recs = run(spec)
    assert [(e["t"], e["urgent"]) for e in of(recs, "exchange")] == [(180.0, True), (250.0, True)]
    assert moves(recs, "a1") == [
        (180.0, "Queued", "In Progress"),
        (250.0, "In Progress", "Succeeded"),
    ]
    assert r.counters["pings_found"] == 1
    # Idle exchange at 60 (urgent), then after 250 regular ones at 1150, 2050, 2950.
    assert r.counters["exchanges_urgent"] == 3
    assert r.counters["exchanges_regular"] == 3


def test_ping_staleness_delays_the_urgent_exchange():
    # The ping service sees the store 45 s late: the first ping seeing a message created at
    # 100 is the first one at or after 145, i.e. 150 -> exchange at 210.
    spec = scenario(
        server={"job_handlers": 1, "ping_staleness": 45},
        workload={"batches": [batch(at=100)]},
    )
    _, recs = run(spec)
    assert of(recs, "deliver")[0]["t"] == 210.0


def test_regular_exchange_carries_message_when_it_comes_before_any_ping():
    # Pre-started computer whose regular exchange is at some x in [0, 900]; with pings every
    # 1000 s (longer than the exchange interval) the regular exchange always comes first.
    spec = scenario(
        fleet={"groups": [{"name": "f", "computers": 1, "ping_interval": 1000}]},
        workload={"batches": [batch(at=10)]},
    )
    _, recs = run(spec)
    ex = of(recs, "exchange")[0]
    assert ex["urgent"] is False
    assert 10.0 <= ex["t"] <= 910.0


def test_at_most_max_messages_per_exchange_then_another_urgent_exchange():
    # 150 scripts delivered at 60 finish at 61 -> urgent exchange at 121 takes 100 results,
    # the remaining 50 go in the urgent exchange that follows at 181.
    spec = scenario(
        fleet=fleet(handlers={"ExecuteScriptRequest": {"duration": 1}}),
        workload={"batches": [batch(count=150)]},
    )
    _r, recs = run(spec)
    times = [x["t"] for x in of(recs, "result")]
    assert times.count(121.0) == 100
    assert times.count(181.0) == 50
    assert [(e["t"], e["urgent"]) for e in of(recs, "exchange")] == [
        (60.0, True),
        (121.0, True),
        (181.0, True),
    ]


def test_smaller_message_cap_is_honoured():
    spec = scenario(
        fleet=fleet(
            max_messages_per_exchange=2, handlers={"ExecuteScriptRequest": {"duration": 1}}
        ),
        workload={"batches": [batch(count=5)]},
    )
    _, recs = run(spec)
    times = [x["t"] for x in of(recs, "result")]
    assert times == [121.0, 121.0, 181.0, 181.0, 241.0]


def test_busy_server_sees_current_clients_retry_at_the_mode_interval():
    # Current clients never raise their back-off: the urgent first exchange (60) is retried
    # every 60 s through the busy window [50, 400) and succeeds at 420.
    spec = scenario(
        faults={"server_busy": {"windows": [{"start": 50, "end": 400}]}},
        workload={"batches": [batch()]},
    )
    r, recs = run(spec)
    assert [f["t"] for f in of(recs, "fault", fault="busy")] == [60, 120, 180, 240, 300, 360]
    assert of(recs, "deliver")[0]["t"] == 420.0
    assert r.counters["busy_rejections"] == 6


def test_backoff_clients_add_the_backoff_to_the_interval_and_step_down_per_success():
    # version backoff, jitter 0: 60 fails (level 1) -> 60 + 60 + 300 = 420 fails (level 2) ->
    # 420 + 60 + 600 = 1080 succeeds and steps down to level 1. The script's result (1090)
    # asks for an urgent exchange: 1090 + 60 + 300 = 1450.
    spec = scenario(
        fleet=fleet(client={"message_handling": 0, "handler_overhead": 0, "version": "backoff"}),
        faults={"server_busy": {"windows": [{"start": 50, "end": 500}], "backoff_jitter": 0}},
        workload={"batches": [batch()]},
    )
    _r, recs = run(spec)
    assert [f["t"] for f in of(recs, "fault", fault="busy")] == [60.0, 420.0]
    assert of(recs, "deliver")[0]["t"] == 1080.0
    assert [x["t"] for x in of(recs, "result")] == [1450.0]


def test_backoff_jitter_is_the_last_quarter_of_each_delay_and_caps():
    spec = scenario(
        duration=40000,
        fleet=fleet(client={"message_handling": 0, "handler_overhead": 0, "version": "backoff"}),
        faults={"server_busy": {"windows": [{"start": 50, "end": 30000}]}},
        workload={"batches": [batch()]},
    )
    _, recs = run(spec)
    ts = [f["t"] for f in of(recs, "fault", fault="busy")]
    gaps = [b - a - 60 for a, b in itertools.pairwise(ts)]  # minus the urgent interval
    bases = [300, 600, 1200, 2400, 4800, 7200, 7200, 7200]
    assert len(gaps) >= len(bases)
    for gap, base in zip(gaps, bases, strict=False):
        assert 0.75 * base <= gap <= base and gap == int(gap)
    assert len(set(gaps[5:])) > 1  # jittered
    assert of(recs, "deliver")[0]["t"] >= 30000


def test_lost_exchange_is_retried_and_nothing_is_delivered_in_it():
    spec = scenario(
        faults={"lost_exchange_probability": 0.5},
        workload={"batches": [batch(count=20, spread=3000)]},
        seed=3,
    )
    r, recs = run(spec)
    lost = {(f["t"], f["computer"]) for f in of(recs, "fault", fault="lost_exchange")}
    assert lost and r.counters["lost_exchanges"] == len(lost)
    assert not lost & {(d["t"], d["computer"]) for d in of(recs, "deliver")}


# --- scheduling, approvals, cancellations ---------------------------------------------------------
def test_scheduled_activity_is_not_delivered_before_deliver_after():
    # Due at 300, which is a ping time -> exchange at 360, Scheduled -> In Progress.
    spec = scenario(workload={"batches": [batch(state="Scheduled", deliver_after=300)]})
    _, recs = run(spec)
    assert of(recs, "created")[0]["deliver_after"] == 300.0
    assert moves(recs, "a1")[0] == (360.0, "Scheduled", "In Progress")


def test_delivery_window_spreads_delivery_after_deliver_after():
    spec = scenario(
        workload={
            "batches": [
                batch(state="Scheduled", deliver_after=300, deliver_delay_window=600, count=30)
            ]
        }
    )
    _, recs = run(spec)
    starts = [
        t
        for t, _, to in (m for r in of(recs, "created") for m in moves(recs, r["activity"]))
        if to == "In Progress"
    ]
    assert len(starts) == 30
    assert all(300 < t <= 300 + 600 + 90 for t in starts)
    assert max(starts) - min(starts) > 200  # spread, not bunched


def test_scheduled_server_activity_is_queued_when_due():
    spec = scenario(
        workload={
            "batches": [batch("GenerateUsgReportActivity", state="Scheduled", deliver_after=50)]
        }
    )
    _, recs = run(spec)
    assert moves(recs, "a1") == [
        (50.0, "Scheduled", "Queued"),
        (50.0, "Queued", "In Progress"),
        (55.0, "In Progress", "Succeeded"),
    ]


def test_blocked_activity_waits_for_approval():
    # Approved at 500 -> Queued; next ping at 510 -> exchange at 570.
    spec = scenario(
        approvals={"delay": 500},
        workload={"batches": [batch(state="Blocked")]},
    )
    _, recs = run(spec)
    assert of(recs, "approve")[0]["t"] == 500.0
    assert moves(recs, "a1")[:2] == [(500.0, "Blocked", "Queued"), (570.0, "Queued", "In Progress")]


def test_never_approved_activity_stays_blocked_and_is_reported_unfinished():
    spec = scenario(approvals={"delay": None}, workload={"batches": [batch(state="Blocked")]})
    r, recs = run(spec)
    assert moves(recs, "a1") == []
    assert r.unfinished == (("a1", "Blocked"),)


def test_cancel_before_delivery():
    spec = scenario(
        cancellations={"probability": 1.0, "delay": 20},
        workload={"batches": [batch(at=100)]},
    )
    _, recs = run(spec)
    assert of(recs, "cancel")[0]["t"] == 120.0
    assert moves(recs, "a1") == [(120.0, "Queued", "Canceled")]
    assert of(recs, "deliver") == []


@pytest.mark.parametrize("profile", ["result-wins", "cancel-sticky"])
def test_cancel_during_execution_follows_the_profile(profile):
    # Delivered at 60, handler runs 100 s; cancel at 100 (In Progress -> Canceled). The
    # client keeps running: result at 160 -> urgent exchange at 220.
    spec = scenario(
        model={"profile": profile},
        fleet=fleet(handlers={"ExecuteScriptRequest": {"duration": 100}}),
        cancellations={"probability": 1.0, "delay": 100},
        workload={"batches": [batch()]},
    )
    r, recs = run(spec)
    assert of(recs, "result")[0]["t"] == 220.0
    expected = [(60.0, "Queued", "In Progress"), (100.0, "In Progress", "Canceled")]
    if profile == "result-wins":
        expected.append((220.0, "Canceled", "Succeeded"))
    assert moves(recs, "a1") == expected
    assert r.counters["late_results"] == (1 if profile == "result-wins" else 0)


def test_cancel_of_in_progress_server_activity_is_final_and_acked():
    spec = scenario(
        server={"job_handlers": 1, "default_handler": {"duration": 100}},
        cancellations={"probability": 1.0, "delay": 50},
        workload={"batches": [batch("GenerateUsgReportActivity")]},
    )
    _, recs = run(spec)
    assert moves(recs, "a1") == [(0.0, "Queued", "In Progress"), (50.0, "In Progress", "Canceled")]
    assert of(recs, "ack")[0]["t"] == 100.0


# --- dependencies ---------------------------------------------------------------------------------
def chain(steps: list[dict[str, Any]], at: float = 0.0) -> dict[str, Any]:
    return {"chains": [{"name": "ch", "at": at, "steps": steps}]}


def test_dependency_released_when_it_succeeds():
    # step a: delivered 60, done 70, its result arrives in the exchange at 130 -> Succeeded,
    # which releases b; the server handles the client's messages before answering, so the
    # same exchange delivers b, directly (Waiting -> In Progress: released at delivery).
    spec = scenario(
        fleet=fleet(handlers={"ExecuteScriptRequest": {"duration": 10}}),
        workload=chain(
            [
                {"name": "a", "type": "ExecuteScriptRequest"},
                {
                    "name": "b",
                    "type": "ExecuteScriptRequest",
                    "depends_on": ["a"],
                    "state": "Waiting",
                },
            ]
        ),
    )
    _, recs = run(spec)
    assert of(recs, "created", "a2")[0]["depends_on"] == ["a1"]
    assert of(recs, "created", "a2")[0]["state"] == "Waiting"
    assert moves(recs, "a2")[:1] == [(130.0, "Waiting", "In Progress")]


@pytest.mark.parametrize("policy", ["cancel", "keep-waiting"])
def test_dependency_failure(policy):
    spec = scenario(
        model={"on_dependency_failure": policy},
        fleet=fleet(
            handlers={"ExecuteScriptRequest": {"duration": 10, "failure_probability": 1.0}}
        ),
        workload=chain(
            [
                {"name": "a", "type": "ExecuteScriptRequest"},
                {
                    "name": "b",
                    "type": "ExecuteScriptRequest",
                    "depends_on": ["a"],
                    "state": "Waiting",
                },
                {
                    "name": "c",
                    "type": "GenerateUsgReportActivity",
                    "depends_on": ["b"],
                    "state": "Waiting",
                },
            ]
        ),
    )
    r, recs = run(spec)
    assert moves(recs, "a1")[-1] == (130.0, "In Progress", "Failed")
    if policy == "cancel":
        # The failure cascades: b is canceled, and so c, which waits for b.
        assert moves(recs, "a2") == [(130.0, "Waiting", "Canceled")]
        assert moves(recs, "a3") == [(130.0, "Waiting", "Canceled")]
        assert len(of(recs, "cancel")) == 2
    else:
        assert moves(recs, "a2") == []
        assert ("a2", "Waiting") in r.unfinished


def test_progress_threshold_releases_waiting_bulk():
    # Bulk A on 4 computers (scripts with durations 10, 20, ... via computer order is not
    # guaranteed), bulk B waits until A's progress reaches 0.5: B's children are released
    # exactly when the second child of A becomes final.
    spec = scenario(
        fleet=fleet(
            computers=4,
            handlers={
                "ExecuteScriptRequest": {"duration": {"dist": "uniform", "low": 1, "high": 300}}
            },
        ),
        workload={
            "bulks": [
                {"name": "A", "type": "ExecuteScriptRequest"},
                {
                    "name": "B",
                    "type": "ExecuteScriptRequest",
                    "progress_of": "A",
                    "threshold": 0.5,
                    "state": "Waiting",
                },
            ]
        },
    )
    _, recs = run(spec)
    groups = of(recs, "group")
    assert [(g["activity"], g["children"]) for g in groups] == [("a1", 4), ("a6", 4)]
    prog = [(p["t"], p["value"]) for p in of(recs, "progress", "a1")]
    assert [v for _, v in prog] == [0.0, 0.25, 0.5, 0.75, 1.0]
    t_half = prog[2][0]
    b_children = [c["activity"] for c in of(recs, "created") if c.get("parent") == "a6"]
    assert len(b_children) == 4
    firsts = []
    for a in b_children:
        assert of(recs, "created", a)[0]["progress_of"] == "a1"
        firsts.append(moves(recs, a)[0])
    # Released by the exchange that made A half done: the child on that very computer is
    # delivered by it (Waiting -> In Progress), the others are queued for theirs.
    assert sorted(firsts) == sorted(
        [(t_half, "Waiting", "In Progress")] + [(t_half, "Waiting", "Queued")] * 3
    )


def test_bulk_depends_on_pairs_children_by_computer():
    spec = scenario(
        fleet=fleet(computers=3, handlers={"ExecuteScriptRequest": {"duration": 10}}),
        workload={
            "bulks": [
                {"name": "A", "type": "ExecuteScriptRequest"},
                {
                    "name": "B",
                    "type": "ExecuteScriptRequest",
                    "depends_on": ["A"],
                    "state": "Waiting",
                },
            ]
        },
    )
    _, recs = run(spec)
    created = {r["activity"]: r for r in of(recs, "created")}
    b_children = [rec for rec in created.values() if rec.get("parent") == "a5"]
    assert len(b_children) == 3
    for rec in b_children:
        (dep,) = rec["depends_on"]
        assert created[dep]["computer"] == rec["computer"]
        assert created[dep]["parent"] == "a1"


# --- server: queue, handlers, crashes -------------------------------------------------------------
def test_job_handlers_run_fifo_with_one_handler():
    spec = scenario(
        server={"job_handlers": 1, "default_handler": {"duration": 5}},
        workload={"batches": [batch("GenerateUsgReportActivity", count=3)]},
    )
    _, recs = run(spec)
    assert [(c["t"], c["activity"]) for c in of(recs, "consume")] == [
        (0.0, "a1"),
        (5.0, "a2"),
        (10.0, "a3"),
    ]
    assert [a["t"] for a in of(recs, "ack")] == [5.0, 10.0, 15.0]


def test_sync_pocket_reports_progress_every_interval():
    spec = scenario(
        server={"job_handlers": 1, "progress_interval": 10, "default_handler": {"duration": 35}},
        workload={"batches": [batch("SyncPocketRequest")]},
    )
    _, recs = run(spec)
    assert [(p["t"], round(p["value"], 4)) for p in of(recs, "progress", "a1")] == [
        (10.0, round(10 / 35, 4)),
        (20.0, round(20 / 35, 4)),
        (30.0, round(30 / 35, 4)),
        (35.0, 1.0),
    ]


def test_job_handler_crash_redelivers_unacked_messages():
    spec = scenario(
        duration=20000,
        run_until="drained",
        server={"job_handlers": 2, "prefetch": 2, "default_handler": {"duration": 30}},
        faults={"job_handler_crash": {"mtbf": 60, "restart_delay": 5}},
        workload={"batches": [batch("GenerateUsgReportActivity", count=40, spread=2000)]},
        seed=1,
    )
    r, recs = run(spec)
    assert r.counters["handler_crashes"] > 0
    assert r.counters["redeliveries"] > 0
    redelivered = [c for c in of(recs, "consume") if c["attempt"] >= 2]
    assert redelivered
    for c in redelivered:
        same_t = [m for m in moves(recs, c["activity"]) if m[0] == c["t"]]
        assert same_t == []  # already In Progress: a redelivery never re-transitions
    assert r.unfinished == ()
    assert all(moves(recs, f"a{i}")[-1][2] == "Succeeded" for i in range(1, 41))


# --- client restarts, offline ---------------------------------------------------------------------
def test_restart_loses_running_results_except_surviving_types():
    # All three delivered at 60. RestartRequest (10 s) queues its success at 70 and reboots
    # at once; the client is back at 70 + 30 = 100 and its first exchange (urgent, 160)
    # carries the persisted result. The script (500 s) loses its result and stays In
    # Progress; the package task re-runs from 100: done at 600, urgent exchange at 660.
    spec = scenario(
        fleet=fleet(
            handlers={
                "RestartRequest": {"duration": 10},
                "ExecuteScriptRequest": {"duration": 500},
                "ChangePackagesRequest": {"duration": 500},
            },
            client={"message_handling": 0, "handler_overhead": 0},
        ),
        workload={
            "batches": [
                batch("RestartRequest"),
                batch("ExecuteScriptRequest"),
                batch("ChangePackagesRequest"),
            ]
        },
    )
    r, recs = run(spec)
    assert moves(recs, "a1") == [
        (60.0, "Queued", "In Progress"),
        (160.0, "In Progress", "Succeeded"),
    ]
    assert [f["t"] for f in of(recs, "fault", fault="restart")] == [70.0]
    assert moves(recs, "a2") == [(60.0, "Queued", "In Progress")]
    assert moves(recs, "a3") == [
        (60.0, "Queued", "In Progress"),
        (660.0, "In Progress", "Succeeded"),
    ]
    assert r.counters["lost_results"] == 1 and r.counters["reboots"] == 1
    assert ("a2", "In Progress") in r.unfinished


def test_shutdown_reports_success_then_computer_is_gone():
    spec = scenario(
        fleet=fleet(handlers={"ShutdownRequest": {"duration": 10}}),
        workload={"batches": [batch("ShutdownRequest"), batch(at=1000)]},
    )
    _r, recs = run(spec)
    assert moves(recs, "a1")[-1] == (130.0, "In Progress", "Succeeded")
    assert of(recs, "fault", fault="offline")[0]["t"] == 190.0
    assert moves(recs, "a2") == []  # never delivered: the computer is powered off


def test_random_restarts_are_traced_and_lose_results():
    spec = scenario(
        duration=86400,
        fleet=fleet(
            computers=20,
            restarts={"rate_per_day": 4, "downtime": 60},
            handlers={"ExecuteScriptRequest": {"duration": 3000}},
        ),
        workload={"arrivals": [{"name": "s", "type": "ExecuteScriptRequest", "rate": 0.01}]},
    )
    r, recs = run(spec)
    assert r.counters["restarts"] == len(of(recs, "fault", fault="restart")) > 20
    assert r.counters["lost_results"] > 0


def test_offline_computer_neither_exchanges_nor_is_delivered_to():
    spec = scenario(
        duration=86400,
        fleet=fleet(
            computers=10,
            offline={"rate_per_day": 6, "duration": {"dist": "exponential", "mean": 1800}},
        ),
        workload={"arrivals": [{"name": "s", "type": "ExecuteScriptRequest", "rate": 0.02}]},
        seed=2,
    )
    r, recs = run(spec)
    windows: dict[str, list[list[float]]] = {}
    for f in of(recs, "fault"):
        if f["fault"] == "offline":
            windows.setdefault(f["computer"], []).append([f["t"], float("inf")])
        elif f["fault"] == "online":
            windows[f["computer"]][-1][1] = f["t"]
    assert r.counters["offline_periods"] == sum(len(w) for w in windows.values()) > 10
    for e in of(recs, "exchange"):
        for a, b in windows.get(e["computer"], []):
            assert not a <= e["t"] < b, (e, a, b)


# --- registration, determinism, idle cost ---------------------------------------------------------
def test_no_messages_before_registration():
    spec = scenario(
        fleet={"groups": [{"name": "f", "computers": 5, "registration_spread": 1000}]},
        workload={"batches": [batch(count=5)]},
    )
    _, recs = run(spec)
    # Each computer's first exchange is urgent, 60 s after it registered (in [0, 1000]).
    for d in of(recs, "deliver"):
        assert 60.0 < d["t"] <= 1060.0
    assert {e["urgent"] for e in of(recs, "exchange") if e["t"] <= 1060} == {True}


def rich_scenario(seed: int = 7) -> dict[str, Any]:
    return scenario(
        seed=seed,
        duration=20000,
        fleet={
            "groups": [
                {
                    "name": "a",
                    "computers": 30,
                    "restarts": {"rate_per_day": 3},
                    "offline": {"rate_per_day": 3},
                    "handlers": {
                        "ExecuteScriptRequest": {
                            "duration": {"dist": "exponential", "mean": 40},
                            "failure_probability": 0.1,
                        }
                    },
                },
                {"name": "b", "computers": 20, "registration_spread": 3000},
            ]
        },
        server={"job_handlers": 2, "prefetch": 2},
        faults={
            "job_handler_crash": {"mtbf": 3000},
            "server_busy": {"windows": [{"start": 5000, "end": 6000}]},
            "lost_exchange_probability": 0.05,
        },
        cancellations={"probability": 0.1},
        workload={
            "arrivals": [
                {"name": "s", "type": "ExecuteScriptRequest", "rate": 0.02},
                {"name": "u", "type": "GenerateUsgReportActivity", "rate": 0.01},
                {"name": "p", "type": "SyncPocketRequest", "rate": 0.002},
                {"name": "blk", "type": "ChangePackagesRequest", "rate": 0.002, "state": "Blocked"},
            ],
            "bulks": [
                {"name": "A", "type": "UpgradeAllPackagesRequest", "at": 1000, "group": "a"},
                {
                    "name": "B",
                    "type": "ExecuteScriptRequest",
                    "at": 1000,
                    "group": "a",
                    "depends_on": ["A"],
                    "state": "Waiting",
                },
            ],
            "chains": [
                {
                    "name": "c",
                    "count": 5,
                    "spread": 10000,
                    "steps": [
                        {"name": "sync", "type": "SyncPocketRequest"},
                        {
                            "name": "up",
                            "type": "ChangePackagesRequest",
                            "progress_of": "sync",
                            "threshold": 0.5,
                            "state": "Waiting",
                        },
                        {
                            "name": "run",
                            "type": "ExecuteScriptRequest",
                            "depends_on": ["up"],
                            "state": "Waiting",
                        },
                    ],
                }
            ],
        },
    )


def test_same_scenario_and_seed_give_byte_identical_traces(tmp_path):
    from activitykit.trace import JsonlTraceWriter

    paths = []
    for i in range(2):
        p = tmp_path / f"t{i}.jsonl"
        w = JsonlTraceWriter(p)
        simulate(Scenario.model_validate(copy.deepcopy(rich_scenario())), writer=w)
        w.close()
        paths.append(p)
    a, b = (p.read_bytes() for p in paths)
    assert len(a) > 10_000
    assert a == b


def test_rich_scenario_passes_the_checker_and_exercises_everything():
    r, recs = run(rich_scenario(seed=11))
    kinds = {x["event"] for x in recs}
    assert {
        "created",
        "transition",
        "deliver",
        "result",
        "exchange",
        "consume",
        "enqueue",
        "ack",
        "approve",
        "cancel",
        "progress",
        "group",
        "fault",
    } <= kinds
    faults = {x["fault"] for x in of(recs, "fault")}
    assert {"restart", "offline", "online", "busy", "lost_exchange"} <= faults
    assert r.counters["exchanges"] > r.counters["exchanges_traced"]


def test_different_seeds_differ():
    _, a = run(rich_scenario(seed=1))
    _, b = run(rich_scenario(seed=2))
    assert a != b


def test_idle_fleet_costs_no_events_and_counts_are_exact():
    # 10,000 fresh idle computers for a day: per computer one urgent exchange at 60, regular
    # ones at 960 + 900k < 86400 (95 of them), and pings at 30k < 86400 (2879 of them).
    spec = scenario(duration=86400, fleet=fleet(computers=10_000))
    r, recs = run(spec)
    assert recs == [] and r.events == 1  # the job-handler's start, nothing per computer
    assert r.counters["exchanges_urgent"] == 10_000
    assert r.counters["exchanges_regular"] == 10_000 * 95
    assert r.counters["pings"] == 10_000 * 2879


def test_records_follow_field_order_and_time_order():
    from activitykit.trace.schema import FIELDS

    order = list(FIELDS)
    _, recs = run(rich_scenario(seed=5))
    last = 0.0
    for rec in recs:
        keys = list(rec)
        assert keys == sorted(keys, key=order.index), rec
        assert rec["t"] >= last
        last = rec["t"]


def test_progress_callback_is_called_at_most_about_100_times():
    calls: list[tuple[float, float]] = []
    sc = Scenario.model_validate(scenario(workload={"batches": [batch()]}))
    simulate(sc, progress=lambda now, end: calls.append((now, end)))
    assert 50 <= len(calls) <= 102
    assert calls[-1] == (3600.0, 3600.0)


def test_unknown_fleet_group_is_input_error():
    from activitykit.errors import InputError

    spec = scenario(workload={"batches": [batch(group="nope")]})
    with pytest.raises((InputError, ValueError), match="nope"):
        simulate(Scenario.model_validate(spec))


def test_dependency_on_server_activity_releases_client_step_via_ping():
    # The server step runs 0..5 and succeeds at 5, releasing the client step; the fresh
    # client's first (urgent) exchange is still pending at 60, and it carries the step.
    spec = scenario(
        workload=chain(
            [
                {"name": "a", "type": "GenerateUsgReportActivity"},
                {
                    "name": "b",
                    "type": "ExecuteScriptRequest",
                    "depends_on": ["a"],
                    "state": "Waiting",
                },
            ],
            at=0,
        ),
    )
    _, recs = run(spec)
    assert moves(recs, "a2")[:2] == [(5.0, "Waiting", "Queued"), (60.0, "Queued", "In Progress")]


def test_skipping_the_ping_event_is_exact():
    # With no cancellations and no offline periods the simulator knows at creation what the
    # first ping will find and skips its event; the trace must be the one with the event.
    from activitykit.sim import Simulation

    spec = rich_scenario(seed=4)
    spec["cancellations"] = {"probability": 0.0}
    spec["fleet"]["groups"][0]["offline"] = {"rate_per_day": 0}
    traces, counters = [], []
    for shortcut in (True, False):
        w = MemoryTraceWriter()
        sim = Simulation(Scenario.model_validate(spec), writer=w)
        assert sim.fleet.ping_shortcut
        sim.fleet.ping_shortcut = shortcut
        counters.append(sim.run().counters)
        traces.append(w.records)
    assert len(traces[0]) > 1000
    assert traces[0] == traces[1]
    fast, slow = counters
    assert fast["pings_simulated"] < slow["pings_simulated"]
    for k in ("exchanges_urgent", "exchanges_regular", "pings", "pings_found"):
        assert fast[k] == slow[k], k


@pytest.mark.parametrize("round_trip", [0.0, 0.4])
def test_completing_an_exchange_without_an_event_is_exact(round_trip):
    # An exchange whose completion only puts the computer to sleep has no event; whatever
    # happens to the computer next (a message, a result, a restart, an offline period, a
    # ping) applies it first. The trace and every count must be those of the run where
    # each completion is an event.
    from activitykit.sim import Simulation

    spec = rich_scenario(seed=5)
    for g in spec["fleet"]["groups"]:
        g.setdefault("client", {})["round_trip"] = round_trip
        g["client"]["message_handling"] = {"dist": "exponential", "mean": 0.5}
    traces, results = [], []
    for lazy in (True, False):
        w = MemoryTraceWriter()
        sim = Simulation(Scenario.model_validate(copy.deepcopy(spec)), writer=w)
        sim.fleet.lazy_completion = lazy
        results.append(sim.run())
        traces.append(w.records)
    assert len(traces[0]) > 1000
    assert traces[0] == traces[1]
    fast, slow = results
    assert fast.counters == slow.counters
    assert fast.counters["restarts"] and fast.counters["offline_periods"]
    assert fast.events < slow.events - fast.counters["deliveries"] // 2


@pytest.mark.parametrize("disturbance", ["restarts", "offline", None])
def test_skipping_the_failure_checks_while_the_fleet_is_calm_is_exact(disturbance):
    # ``Fleet.calm``: while no exchange attempt can fail, an exchange skips the failure
    # checks. The trace and every count must be those of the run that never skips them;
    # a restart or an offline period must end the skipping for good.
    from activitykit.sim import Simulation

    spec = rich_scenario(seed=5)
    spec["faults"] = {"job_handler_crash": {"mtbf": 3000}}  # no busy window, nothing lost
    for g in spec["fleet"]["groups"]:
        for name in ("restarts", "offline"):
            if name != disturbance:
                g.pop(name, None)
    traces, results, calm = [], [], []
    for skip in (True, False):
        w = MemoryTraceWriter()
        sim = Simulation(Scenario.model_validate(copy.deepcopy(spec)), writer=w)
        assert sim.fleet.calm
        sim.fleet.calm = skip
        results.append(sim.run())
        traces.append(w.records)
        calm.append(sim.fleet.calm)
    assert len(traces[0]) > 1000
    assert traces[0] == traces[1]
    assert results[0].counters == results[1].counters
    assert calm[0] is (disturbance is None)
    if disturbance:
        assert results[0].counters["restarts" if disturbance == "restarts" else "offline_periods"]


def test_closed_form_end_counts_match_the_step_by_step_catch_up():
    # A busy window after the end changes nothing but forces the per-computer catch-up loop
    # instead of the vectorised closed form: both must count the same exchanges and pings.
    spec = scenario(
        duration=50_000,
        fleet={"groups": [{"name": "a", "computers": 300}, dict(FRESH, name="b", computers=50)]},
        workload={"arrivals": [{"name": "s", "type": "ExecuteScriptRequest", "rate": 0.01}]},
    )
    fast, _ = run(spec)
    spec["faults"] = {"server_busy": {"windows": [{"start": 60_000, "end": 60_001}]}}
    slow, _ = run(spec)
    for k in ("exchanges_urgent", "exchanges_regular", "pings"):
        assert fast.counters[k] == slow.counters[k], k
    assert fast.counters["exchanges_regular"] > 300 * 50


def _delivery_latency(records) -> float:
    created = {r["activity"]: r["t"] for r in of(records, "created")}
    starts = [
        r["t"] - created[r["activity"]]
        for r in of(records, "transition")
        if r["to"] == "In Progress" and r["activity"] in created
    ]
    return sum(starts) / len(starts)


@pytest.mark.parametrize(
    "faults",
    [
        {"faults": {"lost_exchange_probability": 0.5}},
        {"faults": {"server_busy": {"windows": [{"start": 0, "end": 20_000}]}}},
        {"fleet": {"groups": [{"name": "f", "computers": 20, "offline": {"rate_per_day": 24}}]}},
    ],
    ids=["lost-exchange", "server-busy", "offline"],
)
def test_faults_keep_conformance_and_add_latency(faults):
    base = scenario(
        duration=40_000,
        fleet={"groups": [{"name": "f", "computers": 20}]},
        workload={"arrivals": [{"name": "s", "type": "ExecuteScriptRequest", "rate": 0.01}]},
        seed=9,
    )
    _, calm = run(base)
    _, faulty = run({**base, **faults})  # run() asserts the trace is conformant
    assert _delivery_latency(faulty) > 1.3 * _delivery_latency(calm)


def test_faults_before_registration_do_not_start_the_client_early():
    from activitykit.sim import Simulation

    spec = scenario(
        duration=20_000,
        fleet={
            "groups": [
                {
                    "name": "f",
                    "computers": 30,
                    "registration_spread": 15_000,
                    "restarts": {"rate_per_day": 20},
                    "offline": {"rate_per_day": 20},
                }
            ]
        },
        workload={"batches": [{"name": "b", "type": "ExecuteScriptRequest", "count": 60}]},
    )
    w = MemoryTraceWriter()
    sim = Simulation(Scenario.model_validate(spec), writer=w)
    sim.run()
    recs = w.records
    reg = {f"c{i + 1}": t for i, t in enumerate(sim.fleet.reg)}
    faults = of(recs, "fault")
    assert len(faults) > 20
    for f in faults:
        assert f["t"] >= reg[f["computer"]], f
    for d in of(recs, "deliver"):  # no message before registration (+ the urgent delay)
        assert d["t"] >= reg[d["computer"]] + 60.0, d


def test_cost_grows_with_activities_not_with_computers():
    # The same 1,000 activities on 1,000 or on 100,000 computers for a day: the events the
    # simulator processes are those of the activities (about four each), not of the
    # 100x more pings and exchanges, which are only counted.
    def events(computers: int) -> tuple[int, int]:
        spec = scenario(
            duration=86400,
            fleet={"groups": [{"name": "f", "computers": computers}]},
            workload={
                "arrivals": [{"name": "s", "type": "ExecuteScriptRequest", "rate": 1000 / 86400}]
            },
        )
        r = simulate(Scenario.model_validate(spec), check=False)
        return r.events, r.counters["pings"]

    small_events, small_pings = events(1_000)
    big_events, big_pings = events(100_000)
    assert big_pings > 90 * small_pings
    assert small_events < 6_000
    assert big_events < 1.1 * small_events


def test_bulk_with_count_targets_that_many_distinct_computers():
    spec = scenario(
        fleet=fleet(computers=10),
        workload={"bulks": [{"name": "A", "type": "ExecuteScriptRequest", "count": 3}]},
    )
    _, recs = run(spec)
    (group,) = of(recs, "group")
    assert group["children"] == 3
    children = [c for c in of(recs, "created") if c.get("parent") == group["activity"]]
    assert len({c["computer"] for c in children}) == 3
    assert [p["value"] for p in of(recs, "progress", group["activity"])] == [0.0, 1 / 3, 2 / 3, 1.0]


def test_trace_is_identical_across_processes_with_different_hash_seeds(tmp_path):
    # String hashing differs between interpreter processes; nothing in a run may depend on it.
    import json
    import os
    import subprocess
    import sys

    spec_file = tmp_path / "scenario.json"
    spec_file.write_text(json.dumps(rich_scenario(seed=3)))
    code = (
        "import json, sys\n"
        "from activitykit.scenario.schema import Scenario\n"
        "from activitykit.sim import simulate\n"
        "from activitykit.trace import JsonlTraceWriter\n"
        "sc = Scenario.model_validate(json.loads(open(sys.argv[1]).read()))\n"
        "w = JsonlTraceWriter(sys.argv[2])\n"
        "simulate(sc, writer=w)\n"
        "w.close()\n"
    )
    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"trace-{hash_seed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", code, str(spec_file), str(out)], check=True, env=env)
        outs.append(out.read_bytes())
    assert len(outs[0]) > 10_000
    assert outs[0] == outs[1]


def test_stale_ping_view_causes_an_empty_urgent_exchange_after_delivery():
    # Staleness 45 s: created at 100, first ping seeing it at 150 -> delivered at 210. The
    # ping at 210 looks at the store as of 165, when the message still waited: "yes" ->
    # an empty urgent exchange at 270. The 1000 s handler reports at 1210 -> exchange 1270.
    spec = scenario(
        server={"job_handlers": 1, "ping_staleness": 45},
        fleet=fleet(handlers={"ExecuteScriptRequest": {"duration": 1000}}),
        workload={"batches": [batch(at=100)]},
    )
    r, recs = run(spec)
    assert [e["t"] for e in of(recs, "exchange")] == [210.0, 1270.0]
    # urgent: 60 (first, idle), 210, 270 (stale, idle), 1270; regular: 1170 (270 + 900,
    # before the result), 2170, 3070
    assert r.counters["exchanges_urgent"] == 4
    assert r.counters["exchanges_regular"] == 3
    assert r.counters["exchanges_idle"] == 1


def test_run_until_drained_stops_once_nothing_is_open():
    # A 5000 s script created at 3000 is still running at the 3600 s duration: the run goes
    # on (in 3600 s steps) until its result arrives, and stops at the first step after.
    spec = scenario(
        run_until="drained",
        fleet=fleet(handlers={"ExecuteScriptRequest": {"duration": 5000}}),
        workload={"batches": [batch(at=3000)]},
    )
    r, recs = run(spec)
    assert moves(recs, "a1")[-1][2] == "Succeeded"
    done = moves(recs, "a1")[-1][0]
    assert 8000 < done < r.end_t <= done + 3600
    assert r.unfinished == ()


def test_hostagent_types_are_delivered_through_the_exchange():
    spec = scenario(workload={"batches": [batch("StartChildComputerActivity")]})
    _, recs = run(spec)
    assert of(recs, "created")[0]["kind"] == "client"
    assert of(recs, "deliver")[0]["t"] == 60.0


MONOTONE_SCENARIO = """
name: monotone
seed: 3
duration: 400
fleet:
  groups:
    - name: g
      computers: 20
      exchange_interval: 60
      urgent_exchange_interval: 10
      ping_interval: 30
      start_phase_spread: 60
      client: {round_trip: 2.0, message_handling: {dist: fixed, value: 1.5}}
      handlers:
        ExecuteScriptRequest: {duration: {dist: fixed, value: 3}, failure_probability: 0}
workload:
  batches:
    - {name: b, type: ExecuteScriptRequest, count: 20, at: 5}
    - {name: c, type: ExecuteScriptRequest, count: 20, at: 150}
"""


def test_exchange_count_never_falls_when_the_run_is_longer() -> None:
    """Nothing in this scenario depends on the duration, so a longer run has at least the
    exchanges of a shorter one. An exchange still in progress at the end was once counted
    twice (when it began, and again by the end's closed form), so the count fell by one
    per such exchange when the end moved past its completion."""
    from activitykit.scenario import loads_scenario

    counts = [
        simulate(
            loads_scenario(MONOTONE_SCENARIO, overrides=[f"duration={d}"]), check=False
        ).counters["exchanges"]
        for d in range(160, 200)
    ]
    falls = [(160 + i, a, b) for i, (a, b) in enumerate(itertools.pairwise(counts)) if b < a]
    assert not falls, f"(duration, count, count one second later): {falls}"
