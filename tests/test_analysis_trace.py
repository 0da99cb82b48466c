"""Trace -> latency extraction and Little's law on hand-built traces with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from activitykit.analysis import LatencyInputError, in_system, isolated, latencies, littles_law

# The example of TRACE.md, plus a server activity.
EXAMPLE = [
    {"t": 0, "event": "created", "activity": "a1", "kind": "client",
     "type": "ExecuteScriptRequest", "computer": "c7", "state": "Queued"},
    {"t": 5, "event": "created", "activity": "s1", "kind": "server",
     "type": "GenerateUsgReportActivity", "state": "Queued"},
    {"t": 5, "event": "enqueue", "activity": "s1"},
    {"t": 7, "event": "consume", "activity": "s1", "handler": "jh-0", "attempt": 1},
    {"t": 7, "event": "transition", "activity": "s1", "from": "Queued", "to": "In Progress"},
    {"t": 12, "event": "transition", "activity": "s1", "from": "In Progress", "to": "Failed"},
    {"t": 61.5, "event": "exchange", "computer": "c7", "urgent": True},
    {"t": 61.5, "event": "deliver", "activity": "a1", "computer": "c7", "operation_id": 1},
    {"t": 61.5, "event": "transition", "activity": "a1", "from": "Queued", "to": "In Progress"},
    {"t": 150.2, "event": "exchange", "computer": "c7", "urgent": True},
    {"t": 150.2, "event": "result", "activity": "a1", "computer": "c7", "operation_id": 1,
     "status": "succeeded"},
    {"t": 150.2, "event": "transition", "activity": "a1", "from": "In Progress",
     "to": "Succeeded"},
]  # fmt: skip


def test_latencies_of_the_trace_md_example() -> None:
    lat = latencies(EXAMPLE)
    assert list(lat.index) == ["a1", "s1"]
    a1, s1 = lat.loc["a1"], lat.loc["s1"]
    assert (a1.kind, a1.computer, a1.start_state, a1.end_state) == (
        "client", "c7", "Queued", "Succeeded"
    )  # fmt: skip
    assert a1.delivered == 61.5 and a1.wait == 61.5
    assert a1.run == pytest.approx(150.2 - 61.5)
    assert a1.total == pytest.approx(150.2)
    assert math.isnan(a1.queue_wait)
    assert (s1.queue_wait, s1.wait, s1.run, s1.end_state) == (2.0, 2.0, 5.0, "Failed")


def test_latencies_accept_a_dataframe_and_leave_unfinished_nan() -> None:
    lat = latencies(pd.DataFrame.from_records(EXAMPLE[:9]))
    assert math.isnan(lat.loc["a1", "ended"]) and lat.loc["a1", "in_progress"] == 61.5


def test_first_end_counts_under_result_wins() -> None:
    recs = [
        *EXAMPLE[:1],
        {"t": 10, "event": "transition", "activity": "a1", "from": "Queued",
         "to": "In Progress"},
        {"t": 20, "event": "cancel", "activity": "a1"},
        {"t": 20, "event": "transition", "activity": "a1", "from": "In Progress",
         "to": "Canceled"},
        {"t": 90, "event": "transition", "activity": "a1", "from": "Canceled",
         "to": "Succeeded"},
    ]  # fmt: skip
    lat = latencies(recs)
    assert (lat.loc["a1", "ended"], lat.loc["a1", "end_state"]) == (20.0, "Canceled")
    t, n = in_system(recs)
    assert list(t) == [0.0, 20.0] and list(n) == [1.0, 0.0]


def test_empty_trace() -> None:
    assert latencies([]).empty


@pytest.mark.parametrize(
    ("records", "words"),
    [
        ([EXAMPLE[0], EXAMPLE[0]], "more than one created"),
        ([EXAMPLE[0], {"t": 1, "event": "enqueue", "activity": "zz"}], "no created"),
        ([{"event": "created"}], "'t'"),
        (
            [EXAMPLE[0], {"t": -5, "event": "transition", "activity": "a1", "from": "Queued",
                          "to": "In Progress"}],
            "back in time",
        ),
    ],
)  # fmt: skip
def test_bad_traces_are_named(records: list[dict], words: str) -> None:
    with pytest.raises(LatencyInputError, match=words):
        latencies(records)


def _deterministic_trace(n: int, gap: float, stay: float) -> list[dict]:
    recs = []
    for i in range(n):
        recs.append(
            {
                "t": i * gap,
                "event": "created",
                "activity": f"s{i}",
                "kind": "server",
                "type": "GenerateUsgReportActivity",
                "state": "Queued",
            }
        )
        recs.append(
            {
                "t": i * gap + stay,
                "event": "transition",
                "activity": f"s{i}",
                "from": "In Progress",
                "to": "Succeeded",
            }
        )
    return sorted(recs, key=lambda r: r["t"])  # fmt: skip


def test_littles_law_on_a_deterministic_stream() -> None:
    # One arrival every 10 s, each staying 25 s: L = 2.5 = (1/10) * 25.
    chk = littles_law(_deterministic_trace(1000, 10.0, 25.0), start=100.0, end=9000.0)
    assert chk.lam == pytest.approx(0.1)
    assert chk.w == pytest.approx(25.0)
    assert chk.l == pytest.approx(2.5, rel=1e-3)
    assert chk.relative_error < 1e-3
    assert chk.unfinished == 2  # created at 8980 and 8990, still inside at 9000


def test_littles_law_on_random_overlapping_stays_by_kind() -> None:
    rng = np.random.default_rng(0)
    recs = []
    arrivals = np.cumsum(rng.exponential(2.0, 6_000))
    stays = rng.exponential(30.0, arrivals.size)
    for i, (a, s) in enumerate(zip(arrivals, stays, strict=True)):
        kind = "client" if i % 2 else "server"
        recs.append(
            {"t": a, "event": "created", "activity": f"x{i}", "kind": kind, "state": "Queued"}
        )
        recs.append({"t": a + s, "event": "transition", "activity": f"x{i}", "from": "Queued",
                     "to": "Canceled"})  # fmt: skip
    recs.sort(key=lambda r: r["t"])
    for kind in ("client", "server", None):
        chk = littles_law(recs, kind=kind, start=1000.0, end=float(arrivals[-1]))
        assert chk.relative_error < 0.02, chk
    assert littles_law(recs, kind="client", start=1000.0).l == pytest.approx(7.5, rel=0.1)


def test_littles_law_catches_a_trace_that_counts_a_stay_twice() -> None:
    recs = _deterministic_trace(1000, 10.0, 25.0)
    # Every activity ends at the right time, but its creation is also logged under a
    # second id that never ends: those pile up in L, far above lambda*W.
    extra = [dict(r, activity=r["activity"] + "b") for r in recs if r["event"] == "created"]
    recs = sorted(recs + extra, key=lambda r: r["t"])
    chk = littles_law(recs, start=100.0, end=9000.0)
    assert chk.relative_error > 0.5


def test_littles_law_needs_a_window() -> None:
    with pytest.raises(LatencyInputError, match="positive length"):
        littles_law(EXAMPLE, start=200.0)


def test_in_system_refuses_an_end_before_its_creation() -> None:
    recs = [
        {"t": 0, "event": "transition", "activity": "a1", "from": "In Progress", "to": "Failed"},
        EXAMPLE[0],
    ]
    with pytest.raises(LatencyInputError, match="before its created record"):
        in_system(recs)


def test_isolated_keeps_only_lonely_client_activities() -> None:
    rows = [("a", "c1", 0.0), ("b", "c1", 500.0), ("c", "c1", 5000.0), ("d", "c2", 100.0)]
    lat = pd.DataFrame(
        {"kind": "client", "computer": [r[1] for r in rows], "created": [r[2] for r in rows]},
        index=[r[0] for r in rows],
    )
    lat.loc["s"] = ["server", None, 50.0]
    assert sorted(isolated(lat, 1000.0).index) == ["c", "d"]
    assert sorted(isolated(lat, 100.0).index) == ["a", "b", "c", "d"]
    with pytest.raises(LatencyInputError, match="window"):
        isolated(lat, -1.0)
