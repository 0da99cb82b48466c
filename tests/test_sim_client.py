"""The simulated client follows Landscape Client's own rules, one rule a test.

Each test states the times the real client's code implies (worked out in its comments) and
would fail on the simulator before it followed them (the old reading is named in each).
One fresh computer unless said: it starts at t=0, its first exchange is urgent at 60, it pings
at 30, 60, 90, ...
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_sim import FRESH, batch, moves, of, run, scenario

from activitykit.scenario.schema import Scenario
from activitykit.sim import Simulation
from activitykit.trace import MemoryTraceWriter


def client(**kw: Any) -> dict[str, Any]:
    """One fresh computer whose client has these settings (message handling and handler
    overhead 0 unless set: the times below are exact)."""
    group = dict(FRESH)
    group["client"] = {"message_handling": 0, "handler_overhead": 0, **kw.pop("client", {})}
    group.update(kw)
    return {"groups": [group]}


def long_scripts(seconds: float = 1000.0) -> dict[str, Any]:
    return {"ExecuteScriptRequest": {"duration": seconds}}


# --- the exchange takes time; the next one is scheduled from its completion ------------------
def test_exchange_lasts_its_message_handling_and_the_next_starts_from_its_end():
    # The urgent exchange at 60 hands out three messages, 5 s each: it completes at 75, so the
    # next regular one is at 75 + 900 = 975 (before: 960, from its start), outside [0, 970).
    spec = scenario(
        duration=970,
        fleet=client(client={"message_handling": 5}, handlers=long_scripts()),
        workload={"batches": [batch(count=3)]},
    )
    r, recs = run(spec)
    assert [x["t"] for x in of(recs, "exchange")] == [60.0]
    assert r.counters["exchanges"] == 1


def test_every_server_message_resets_the_ping_timer():
    # The exchange at 60 completes at 75 (3 messages x 5 s): the ping timer restarts there, so
    # pings come at 105, 135, ... A script created at 100 is seen at 105 and delivered by the
    # urgent exchange at 165 (before: the ping grid stayed at 120 -> 180).
    spec = scenario(
        duration=400,
        fleet=client(client={"message_handling": 5}, handlers=long_scripts()),
        workload={"batches": [batch(count=3), batch(at=100)]},
    )
    _, recs = run(spec)
    assert of(recs, "deliver", "a4")[0]["t"] == 165.0


def test_handlers_start_as_their_messages_are_handled():
    # Three 10 s scripts handed out at 60, handled at 65, 70, 75: done at 75, 80, 85 (before:
    # all started at 60).
    spec = scenario(
        fleet=client(client={"message_handling": 5}, handlers=long_scripts(10)),
        workload={"batches": [batch(count=3)]},
    )
    _, recs = run(spec)
    # the first result (75) lands as the loop ends and is seen after it: urgent at 135, which
    # also takes the later two (they were queued by then)
    assert [x["t"] for x in of(recs, "result")] == [135.0, 135.0, 135.0]


# --- results queued during an exchange ----------------------------------------------------------
def test_result_queued_while_the_request_is_on_the_way_waits_for_the_regular_exchange():
    # round trip 2 s. The script (901 s) handed out at 60 starts at 62 (the answer), the exchange
    # completes at 62 and the next regular one is at 962. The result (963) is queued while that
    # exchange's request is on the way: the request to exchange urgently is ignored, and the
    # exchange sent nothing, so the client does not ask for an urgent follow-up: the result
    # waits for the regular exchange at 964 + 900 = 1864 (before: urgent at 963 + 60 = 1023).
    spec = scenario(
        fleet=client(client={"round_trip": 2}, handlers=long_scripts(901)),
        workload={"batches": [batch()]},
    )
    _, recs = run(spec)
    assert [x["t"] for x in of(recs, "result")] == [1864.0]


def test_result_queued_just_after_the_exchange_goes_urgently():
    # The same with a 903 s script: done at 965, after the exchange completed at 964.
    spec = scenario(
        fleet=client(client={"round_trip": 2}, handlers=long_scripts(903)),
        workload={"batches": [batch()]},
    )
    _, recs = run(spec)
    assert [x["t"] for x in of(recs, "result")] == [1025.0]


def test_result_queued_while_messages_are_handled_is_seen_after_the_loop():
    # 10 s a message: a 5 s script handled at 70 (done 75) and a long one at 80. The client is
    # busy with the loop until 80, then schedules the next exchange; then it sees the result
    # and makes that exchange urgent: 80 + 60 = 140 (before: 65 + 60 = 125).
    spec = scenario(
        fleet=client(
            client={"message_handling": 10},
            handlers={"ExecuteScriptRequest": {"duration": 5}},
        ),
        workload={"batches": [batch(), batch("CreateUserRequest", handler={"duration": 1000})]},
    )
    _, recs = run(spec)
    assert next(x["t"] for x in of(recs, "result")) == 140.0


# --- the cap counts every outgoing message ------------------------------------------------------
def test_results_queue_behind_background_messages_in_the_cap():
    # One background message a second, 20 messages an exchange. At 60: 60 pending, 20 go. The
    # script's result (61) queues behind the other 40 and 1 more: 20 go at 120, 20 at 180,
    # and at 240 the last one and the result (before: the cap counted results only -> 121).
    spec = scenario(
        duration=400,
        fleet=client(
            client={"background": {"interval": 1}},
            handlers=long_scripts(1),
            max_messages_per_exchange=20,
        ),
        workload={"batches": [batch()]},
    )
    r, recs = run(spec)
    assert [x["t"] for x in of(recs, "result")] == [240.0]
    assert r.counters["background_messages"] >= 300  # counted as each exchange takes them


# --- pings ----------------------------------------------------------------------------------------
def test_next_ping_is_scheduled_from_the_answer():
    # round trip 1 s: pings at 30, 61, 92, 123. A script created at 100 is seen at 123, the
    # answer comes at 124, the urgent exchange at 184 (before: pings every 30 s -> 180).
    spec = scenario(
        duration=400, fleet=client(client={"round_trip": 1}), workload={"batches": [batch(at=100)]}
    )
    _r, recs = run(spec)
    assert of(recs, "deliver")[0]["t"] == 184.0


def test_message_handled_mid_ping_starts_a_second_ping_loop():
    # round trip 1 s, 0.5 s a message. The first exchange (60) is answered at 61 and its
    # message handled at 61.5, while the ping sent at 61 is in flight: that ping's loop goes on
    # (61, 92, 123, ...) and a second one starts at 61.5 + 30 = 91.5 (91.5, 122.5, ...). A
    # script created at 100 is seen by the second loop at 122.5: delivered at 183.5; a fixed
    # client (duplicate_ping_loop: false) sees it at 123 -> 184.
    out = {}
    for dup in (True, False):
        spec = scenario(
            duration=7200,
            fleet=client(
                client={"round_trip": 1, "message_handling": 0.5, "duplicate_ping_loop": dup},
                handlers=long_scripts(),
            ),
            workload={"batches": [batch(), batch(at=100)]},
        )
        r, recs = run(spec)
        out[dup] = (of(recs, "deliver", "a2")[0]["t"], r.counters)
    assert out[True][0] == 183.5 and out[False][0] == 184.0
    assert out[True][1]["ping_loops_started"] >= 1 and out[False][1]["ping_loops_started"] == 0
    assert out[True][1]["pings"] > 1.8 * out[False][1]["pings"]


def test_ping_answered_after_the_exchange_answer_waits_for_its_messages():
    # Exchange round trip 1 s, ping round trip 0.8 s, 2 s a message. Pings at 30, 60.8; the
    # first exchange (60) is answered at 61, before the ping (61.6): the reactor handles the
    # message until 63 and only then sees the ping's answer. The message's reset found the
    # ping's call fired: a second loop from 63 (a fixed client: none). Before, a ping was in
    # flight only until its own answer (61.6 < 63): no second loop.
    out = {}
    for dup in (True, False):
        spec = scenario(
            duration=3600,
            fleet=client(
                client={
                    "round_trip": 1,
                    "ping_round_trip": 0.8,
                    "message_handling": 2,
                    "duplicate_ping_loop": dup,
                },
                handlers=long_scripts(5000),
            ),
            workload={"batches": [batch()]},
        )
        r, _recs = run(spec)
        out[dup] = r.counters
    assert out[True]["ping_loops_started"] == 1 and out[False]["ping_loops_started"] == 0
    assert out[True]["pings"] > 1.9 * out[False]["pings"]


# --- set-intervals ------------------------------------------------------------------------------
def test_set_intervals_moves_the_ping_at_once_and_the_exchanges_from_the_next_scheduling():
    # At 500 the server sets ping 10 s, exchange 300 s, urgent 25 s. Pings: 30..480 (16), then
    # 510, 520, ..., 1030 (53). A script created at 1001 is seen at 1010 and delivered at
    # 1010 + 25 = 1035, which restarts the ping timer: 1045, ..., 3595 (256). Its result
    # (1045) goes urgently at 1070.
    spec = scenario(
        fleet=client(),
        server={
            "job_handlers": 1,
            "set_intervals": [
                {
                    "at": 500,
                    "ping_interval": 10,
                    "exchange_interval": 300,
                    "urgent_exchange_interval": 25,
                },
            ],
        },
        workload={"batches": [batch(at=1001)]},
    )
    r, recs = run(spec)
    assert of(recs, "deliver")[0]["t"] == 1035.0
    assert r.counters["pings"] == 16 + 53 + 256
    assert [x["t"] for x in of(recs, "exchange")] == [1035.0, 1070.0]


def test_set_intervals_counts_idle_exchanges_with_the_new_interval():
    spec = scenario(
        fleet=client(),
        server={"job_handlers": 1, "set_intervals": [{"at": 500, "exchange_interval": 300}]},
    )
    r, _ = run(spec)
    assert r.counters["exchanges"] == 2 + 8  # 60, 960, 1260, ..., 3360


# --- restart, shutdown, resynchronize, packages -------------------------------------------------
def test_shutdown_powers_off_after_shutdown_delay():
    spec = scenario(
        fleet=client(
            client={"shutdown_delay": 300}, handlers={"ShutdownRequest": {"duration": 10}}
        ),
        workload={"batches": [batch("ShutdownRequest")]},
    )
    _, recs = run(spec)
    assert moves(recs, "a1")[-1] == (130.0, "In Progress", "Succeeded")
    assert [f["t"] for f in of(recs, "fault", fault="offline")] == [370.0]  # before: 190


def test_resynchronize_is_answered_at_once_with_a_burst_of_client_data():
    # Handled at 60 by the broker itself (no handler time): the answer and 20 plugin messages
    # are queued and the exchange after the loop is urgent: 120 takes the answer and 9 more,
    # 180 the next 10, 240 the last one (before: a 10 s handler -> 130, no burst).
    spec = scenario(
        fleet=client(max_messages_per_exchange=10),
        workload={"batches": [batch("ResynchronizeRequest")]},
    )
    r, recs = run(spec)
    assert moves(recs, "a1")[-1] == (120.0, "In Progress", "Succeeded")
    assert r.counters["background_messages"] == 20 and r.counters["resynchronizations"] == 1
    assert r.counters["exchanges_urgent"] == 4  # 60, 120, 180, 240


def test_package_changes_run_one_at_a_time():
    # Two 100 s package changes handed out at 60: the changer runs them 60..160, 160..260
    # (before: side by side, both done at 160).
    spec = scenario(
        fleet=client(handlers={"ChangePackagesRequest": {"duration": 100}}),
        workload={"batches": [batch("ChangePackagesRequest", count=2)]},
    )
    _, recs = run(spec)
    assert [x["t"] for x in of(recs, "result")] == [220.0, 320.0]


def test_package_change_with_reboot_if_necessary_reboots_5_s_after_its_result():
    # a1 done at 160: the changer stops the exchanger and reboots at 165; back at 195, the
    # urgent first exchange (255) carries a1's persisted result. a2 is a persisted task: the
    # changer runs it again from 195 (done 295, reboot at 300, back 330, result out at 390).
    spec = scenario(
        fleet=client(
            client={"packages_reboot": 1.0}, handlers={"ChangePackagesRequest": {"duration": 100}}
        ),
        workload={"batches": [batch("ChangePackagesRequest", count=2)]},
    )
    r, recs = run(spec)
    assert [f["t"] for f in of(recs, "fault", fault="restart")] == [165.0, 300.0]
    assert [x["t"] for x in of(recs, "result")] == [255.0, 390.0]
    assert r.counters["reboots"] == 2


# --- the week of failures -------------------------------------------------------------------------
def test_after_a_week_of_failures_the_store_drops_new_messages():
    # Offline from 100 for 8 days. a2's result (6 days) is kept and goes out when the computer
    # is back; a3's (7.5 days) comes after a week of failed exchanges: dropped, a3 never ends.
    day = 86400.0

    def offline(sim: Simulation):
        yield sim.env.timeout(100.0)
        sim.fleet.offline(0, 100.0, 100.0 + 8 * day, sim.t_stop)

    spec = scenario(
        duration=10 * day,
        fleet=client(handlers={"CreateUserRequest": {"duration": 6 * day}}),
        workload={
            "batches": [
                batch("CreateUserRequest"),
                batch(handler={"duration": 7.5 * day}),
            ]
        },
    )
    from activitykit.sim import simulate

    w = MemoryTraceWriter()
    r = simulate(Scenario.model_validate(spec), writer=w, setup=lambda s: s.process(offline))
    recs = w.records
    assert moves(recs, "a1")[-1][2] == "Succeeded"
    assert moves(recs, "a2") == [(60.0, "Queued", "In Progress")]
    assert r.counters["store_blackholes"] == 1 and r.counters["store_dropped"] == 1


# --- per-group load ------------------------------------------------------------------------------
def test_exchanges_and_pings_are_counted_per_group():
    a = dict(FRESH, name="a", computers=3)
    b = dict(FRESH, name="b", computers=2, ping_interval=60, exchange_interval=1800)
    r, _ = run(scenario(fleet={"groups": [a, b]}))
    c = r.counters
    assert c["pings.a"] == 3 * 119 and c["pings.b"] == 2 * 59  # 30..3570, 60..3540
    assert c["exchanges.a"] == 3 * 4 and c["exchanges.b"] == 2 * 2  # 60, 960, ... / 60, 1860
    assert c["pings"] == c["pings.a"] + c["pings.b"]
    assert c["exchanges"] == c["exchanges.a"] + c["exchanges.b"]


# --- counting instead of simulating stays exact -------------------------------------------------
@pytest.mark.parametrize(
    "client",
    [
        {"round_trip": 0.5, "message_handling": 0.3, "packages_reboot": 0.2},
        # pings answered after an exchange's answer: held until its messages are handled
        {"round_trip": 0.5, "ping_round_trip": 0.3, "message_handling": 0.3},
        # each ping draws its round trip: the counted walk and the events see the same draws
        {
            "round_trip": 0.5,
            "ping_round_trip": {"dist": "lognormal", "mean": 0.4, "sigma": 1.0},
            "message_handling": 0.3,
        },
    ],
    ids=["one-round-trip", "ping-round-trip", "drawn-ping-round-trip"],
)
def test_counting_pings_gives_the_trace_of_simulating_every_ping(client: dict) -> None:
    from test_sim import rich_scenario

    spec = rich_scenario(seed=5)
    spec["cancellations"] = {"probability": 0.0}
    g = spec["fleet"]["groups"][0]
    g["offline"] = {"rate_per_day": 0}
    g["client"] = client
    traces, counters = [], []
    for every in (False, True):
        w = MemoryTraceWriter()
        sim = Simulation(Scenario.model_validate(copy.deepcopy(spec)), writer=w)
        if every:
            sim.fleet.ping_every_time()
        counters.append(sim.run().counters)
        traces.append(w.records)
    assert len(traces[0]) > 1000
    assert traces[0] == traces[1]
    lazy, every = counters
    assert every["pings_simulated"] > 10 * lazy["pings_simulated"]
    for k in (
        "exchanges_urgent",
        "exchanges_regular",
        "pings",
        "pings_found",
        "ping_loops_started",
    ):
        assert lazy[k] == every[k], k


def test_drawn_ping_round_trips_come_from_the_seed() -> None:
    """Same seed, same draws (byte-identical trace); another seed, other draws: whether a
    computer starts its second ping loop changes with them."""
    group = dict(
        FRESH,
        computers=30,
        exchange_interval=20,
        urgent_exchange_interval=10,
        ping_interval=5,
        client={
            "round_trip": 0.008,
            "ping_round_trip": {"dist": "lognormal", "mean": 0.0062, "sigma": 0.71},
        },
    )
    spec = scenario(
        duration=600,
        fleet={"groups": [group]},
        workload={
            "arrivals": [{"name": "s", "type": "ExecuteScriptRequest", "rate": 0.5, "stop": 500}]
        },
    )
    (a, ta), (b, tb) = run(dict(spec, seed=1)), run(dict(spec, seed=1))
    assert ta == tb and a.counters == b.counters
    loops = {run(dict(spec, seed=s))[0].counters["ping_loops_started"] for s in (1, 2, 3)}
    assert len(loops) > 1 and min(loops) > 0 and max(loops) < 30 * 5, loops
