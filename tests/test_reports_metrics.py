"""Key figures and the activity table on hand-built traces whose numbers are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from activitykit.reports import KEY_FIGURE_NAMES, activity_table, key_figures


def mv(t: float, act: str, src: str, dst: str) -> dict:
    return {"t": t, "event": "transition", "activity": act, "from": src, "to": dst}


def client(t: float, act: str, typ: str = "ExecuteScriptRequest", state: str = "Queued") -> dict:
    return {
        "t": t,
        "event": "created",
        "activity": act,
        "kind": "client",
        "type": typ,
        "computer": "c1",
        "state": state,
    }


def server(t: float, act: str, typ: str = "GenerateUsgReportActivity") -> dict:
    return {
        "t": t,
        "event": "created",
        "activity": act,
        "kind": "server",
        "type": typ,
        "state": "Queued",
    }


def three_clients() -> list[dict]:
    """a1, a2, a3 created at 0; start at 5, 10, 15; end-to-end 10, 20, 30."""
    recs = [client(0, "a1"), client(0, "a2"), client(0, "a3")]
    for i, act in enumerate(("a1", "a2", "a3"), start=1):
        recs.append(mv(5 * i, act, "Queued", "In Progress"))
    for i, act in enumerate(("a1", "a2", "a3"), start=1):
        recs.append(mv(10 * i, act, "In Progress", "Succeeded"))
    return sorted(recs, key=lambda r: r["t"])


def test_activity_table_first_entry_times_and_latencies():
    recs = [*three_clients(), mv(40, "a3", "Succeeded", "Succeeded")]  # nonsense re-entry
    table = activity_table(recs).set_index("id")
    assert list(table.index) == ["a1", "a2", "a3"]
    assert table.loc["a2", "t_queued"] == 0
    assert table.loc["a2", "t_in_progress"] == 10
    assert table.loc["a3", "t_succeeded"] == 30  # FIRST entry, not the later one
    assert table.loc["a3", "final_t"] == 40  # but final_t is when its last state began
    assert np.isnan(table.loc["a1", "t_failed"])
    assert table["to_start"].tolist() == [5, 10, 15]
    assert table["run"].tolist() == [5, 10, 25]
    assert table["state"].tolist() == ["Succeeded"] * 3
    assert table["finished"].all()


def test_percentiles_of_10_20_30():
    fig = key_figures(three_clients())
    # numpy linear interpolation: p50 = 20, p90 = 20 + 0.8*10 = 28, p99 = 20 + 0.98*10 = 29.8
    assert fig["all.total.p50"] == pytest.approx(20)
    assert fig["all.total.p90"] == pytest.approx(28)
    assert fig["all.total.p99"] == pytest.approx(29.8)
    assert fig["all.total.mean"] == pytest.approx(20)
    assert fig["client.to_start.p50"] == pytest.approx(10)
    assert fig["client.run.mean"] == pytest.approx(10)
    assert math.isnan(fig["server.total.p50"])
    # 3 finished in a 30 s trace: 3 * 3600 / 30 = 360 per hour
    assert fig["all.throughput_per_hour"] == pytest.approx(360)
    assert fig["client.throughput_per_hour"] == pytest.approx(360)
    assert fig["server.throughput_per_hour"] == 0
    assert (fig["all.created"], fig["all.finished"], fig["all.unfinished"]) == (3, 3, 0)
    assert list(fig) == list(KEY_FIGURE_NAMES)


def test_warmup_and_end_window():
    recs = three_clients()
    recs.insert(0, client(-0.0, "early"))  # created at 0 like the others
    late = [
        client(12, "b1"),
        mv(14, "b1", "Queued", "In Progress"),
        mv(20, "b1", "In Progress", "Failed"),
    ]
    recs = sorted(recs + late, key=lambda r: r["t"])
    fig = key_figures(recs, warmup=11)
    assert fig["all.total.p50"] == pytest.approx(8)  # only b1 (created at 12) counts
    # finished in [11, 30]: b1 at 20, a2 at 20, a3 at 30 -> 3 in 19 s
    assert fig["all.throughput_per_hour"] == pytest.approx(3 * 3600 / 19)
    assert fig["all.unfinished"] == 1  # "early" never moved
    cut = key_figures(recs, end=15)
    assert cut["all.finished"] == 1  # a1 at 10
    assert cut["all.created"] == 5
    # 1 of 5 finished by 15 s: p50 is a lower bound, the median of (10, ages 15, 15, 15, 3)
    assert cut["all.total.p50"] == pytest.approx(15)


def test_queue_wait_and_utilisation_with_a_crash():
    recs = [
        server(0, "s1"),
        {"t": 0, "event": "enqueue", "activity": "s1"},
        server(0, "s2"),
        {"t": 0, "event": "enqueue", "activity": "s2"},
        {"t": 10, "event": "consume", "activity": "s1", "handler": "h1", "attempt": 1},
        mv(10, "s1", "Queued", "In Progress"),
        {"t": 20, "event": "consume", "activity": "s2", "handler": "h2", "attempt": 1},
        mv(20, "s2", "Queued", "In Progress"),
        {"t": 30, "event": "fault", "fault": "handler_crash", "handler": "h1"},
        {"t": 50, "event": "consume", "activity": "s1", "handler": "h2", "attempt": 2},
        mv(60, "s2", "In Progress", "Succeeded"),
        {"t": 60, "event": "ack", "activity": "s2"},
        mv(100, "s1", "In Progress", "Succeeded"),
        {"t": 100, "event": "ack", "activity": "s1"},
    ]
    fig = key_figures(recs, handlers=2)
    assert fig["server.queue_wait.mean"] == pytest.approx(15)  # (10 + 20) / 2
    # h1 busy 10..30 (crash) = 20; h2 busy 20..60 and 50..100 overlap -> 20..100 = 80
    assert fig["server.job_handler_utilisation"] == pytest.approx(100 / (2 * 100))
    assert fig["server.run.p50"] == pytest.approx((40 + 90) / 2)


def test_canceled_then_result_counts_the_last_state():
    recs = [
        client(0, "a"),
        mv(5, "a", "Queued", "In Progress"),
        mv(8, "a", "In Progress", "Canceled"),
        mv(20, "a", "Canceled", "Succeeded"),
    ]
    row = activity_table(recs).iloc[0]
    assert row["state"] == "Succeeded" and row["t_canceled"] == 8 and row["final_t"] == 20
    assert row["total"] == 20


def test_empty_and_unsorted_input():
    assert key_figures([])["all.created"] == 0
    assert math.isnan(key_figures([])["all.total.p50"])
    frame = pd.DataFrame.from_records(three_clients()[::-1])
    assert key_figures(frame)["all.total.p90"] == pytest.approx(28)
