"""Property tests: valid walks conform, single corruptions are caught, both drivers agree.

Traces come from ``activitykit.check.synth.synth_trace`` (random conformant life-cycles of
client and server activities with every record kind); Hypothesis draws the seed, the size
and the corruption, and shrinks a failure to a small trace.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from activitykit.check import Checker, check
from activitykit.check.synth import synth_trace
from activitykit.errors import InputError
from activitykit.model import State, machine
from activitykit.trace import write_trace

STATES = [s.value for s in State]
PROFILES = ["result-wins", "cancel-sticky"]
CAUSES = {"created", "transition", "deliver", "result", "consume", "cancel", "approve"}
SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def traces(draw: st.DrawFn, max_activities: int = 25) -> tuple[str, list[dict[str, Any]]]:
    profile = draw(st.sampled_from(PROFILES))
    records = list(
        synth_trace(
            draw(st.integers(1, max_activities)),
            seed=draw(st.integers(0, 2**32 - 1)),
            profile=profile,
            epoch=draw(st.integers(1, 12)),
        )
    )
    return profile, records


def both(records: list[dict[str, Any]], profile: str, max_age: float | None = None):
    """Batch and online reports on the same records (online told the kinds present)."""
    batch = check(records, profile=profile, max_age=max_age)
    online = Checker(profile, max_age, kinds={r["event"] for r in records})
    for n, r in enumerate(records, start=1):
        online.feed(r, n)
    return batch, online.finish()


def keys(report) -> list[tuple[str, str | None, int | None]]:
    return [v.key for v in report.violation_list]


# -- valid walks ---------------------------------------------------------------------------------
@SETTINGS
@given(traces())
def test_valid_walks_produce_no_violation(trace) -> None:
    profile, records = trace
    batch, online = both(records, profile, max_age=None)
    assert batch.ok, batch.to_text(5)
    assert online.ok, online.to_text(5)
    assert batch.summary == online.summary
    strict = Checker(profile)  # every kind expected, as in the simulator
    assert [v for r in records for v in strict.feed(r)] == []


# -- single corruptions are caught ------------------------------------------------
def _activity_of(records: list[dict[str, Any]], i: int) -> str:
    return records[i]["activity"]


@SETTINGS
@given(traces(), st.data())
def test_changed_to_before_a_later_move_is_caught(trace, data) -> None:
    profile, records = trace
    later: dict[str, int] = {}
    candidates = []
    for i in range(len(records) - 1, -1, -1):
        r = records[i]
        if r["event"] == "transition":
            if r["activity"] in later:
                candidates.append(i)
            later[r["activity"]] = i
    assume(candidates)
    i = data.draw(st.sampled_from(sorted(candidates)))
    bad = copy.deepcopy(records)
    bad[i]["to"] = data.draw(st.sampled_from([s for s in STATES if s != records[i]["to"]]))
    batch, online = both(bad, profile)
    assert keys(batch) == keys(online)
    assert _activity_of(records, i) in {v.activity for v in batch.violation_list}


@SETTINGS
@given(traces(), st.data())
def test_changed_to_outside_the_table_is_caught(trace, data) -> None:
    profile, records = trace
    moves = [i for i, r in enumerate(records) if r["event"] == "transition"]
    assume(moves)
    i = data.draw(st.sampled_from(moves))
    r = records[i]
    kind = next(
        x["kind"] for x in records if x["event"] == "created" and x["activity"] == r["activity"]
    )
    allowed = {s.value for s in machine(kind, profile).transitions[State(r["from"])]}
    refused = [s for s in STATES if s not in allowed]
    bad = copy.deepcopy(records)
    bad[i]["to"] = data.draw(st.sampled_from(refused))
    batch, _ = both(bad, profile)
    assert ("T3", r["activity"], i + 1) in keys(batch)


@SETTINGS
@given(traces(), st.data())
def test_dropped_deliver_is_caught(trace, data) -> None:
    profile, records = trace
    delivers = [i for i, r in enumerate(records) if r["event"] == "deliver"]
    # with its only deliver gone a trace no longer records deliveries, and C1 is not judged
    assume(len(delivers) >= 2)
    i = data.draw(st.sampled_from(delivers))
    bad = records[:i] + records[i + 1 :]
    batch, online = both(bad, profile)
    assert keys(batch) == keys(online)
    assert ("C1", records[i]["activity"]) in {(v.rule, v.activity) for v in batch.violation_list}


@SETTINGS
@given(traces(), st.data())
def test_effect_moved_before_its_cause_is_caught(trace, data) -> None:
    profile, records = trace
    last: dict[str, int] = {}
    pairs = []
    for i, r in enumerate(records):
        a = r.get("activity")
        if a is None or r["event"] in ("exchange", "fault"):
            continue
        j = last.get(a)
        if (
            r["event"] == "transition"
            and j is not None
            and records[j]["event"] in CAUSES
            and records[j]["t"] == r["t"]
        ):
            pairs.append((j, i))
        last[a] = i
    assume(pairs)
    j, i = data.draw(st.sampled_from(pairs))
    bad = [*records[:j], records[i], *records[j:i], *records[i + 1 :]]
    batch, online = both(bad, profile)
    assert keys(batch) == keys(online)
    assert records[i]["activity"] in {v.activity for v in batch.violation_list}


def test_moving_a_record_back_in_time_is_bad_input() -> None:
    records = list(synth_trace(10, seed=5))
    i = next(k for k in range(1, len(records)) if records[k]["t"] > records[k - 1]["t"])
    bad = [*records[: i - 1], records[i], records[i - 1], *records[i + 1 :]]
    with pytest.raises(InputError, match=f"<records>:{i + 1}: t="):
        check(bad)


# -- the two drivers agree on anything --------------------------------------------
def _corrupt(records: list[dict[str, Any]], data: st.DataObject) -> list[dict[str, Any]]:
    out = copy.deepcopy(records)
    for _ in range(data.draw(st.integers(1, 3))):
        if not out:
            break
        i = data.draw(st.integers(0, len(out) - 1))
        r = out[i]
        how = data.draw(
            st.sampled_from(
                [
                    "to",
                    "from",
                    "drop",
                    "dup",
                    "swap",
                    "computer",
                    "op",
                    "state",
                    "status",
                    "activity",
                ]
            )
        )
        if how == "to" and r["event"] == "transition":
            r["to"] = data.draw(st.sampled_from(STATES))
        elif how == "from" and r["event"] == "transition":
            r["from"] = data.draw(st.sampled_from(STATES))
        elif how == "drop":
            del out[i]
        elif how == "dup":
            out.insert(i, copy.deepcopy(r))
        elif how == "swap" and i + 1 < len(out) and out[i + 1]["t"] == r["t"]:
            out[i], out[i + 1] = out[i + 1], out[i]
        elif how == "computer" and "computer" in r:
            r["computer"] = data.draw(st.sampled_from(["c0", "c1", "cX"]))
        elif how == "op" and "operation_id" in r:
            r["operation_id"] = data.draw(st.integers(0, 5))
        elif how == "state" and r["event"] == "created":
            r["state"] = data.draw(st.sampled_from(STATES))
        elif how == "status" and r["event"] == "result":
            r["status"] = data.draw(st.sampled_from(["succeeded", "failed"]))
        elif how == "activity" and "activity" in r:
            r["activity"] = data.draw(st.sampled_from(["a1", "a2", "g3", "zz"]))
    return out


@settings(max_examples=80, deadline=None)
@given(traces(), st.data(), st.sampled_from([None, 0.0, 300.0]))
def test_online_and_batch_drivers_agree(trace, data, max_age) -> None:
    profile, records = trace
    bad = _corrupt(records, data)
    try:
        batch, online = both(bad, profile, max_age)
    except InputError:
        return  # the corruption broke the t order; both drivers refuse it (tested elsewhere)
    assert keys(batch) == keys(online)
    assert [v.message for v in batch.violation_list] == [v.message for v in online.violation_list]
    assert batch.summary == online.summary
    assert batch.unfinished.equals(online.unfinished)


@SETTINGS
@given(traces(), st.data())
def test_transitions_judged_in_halves_agree_with_the_online_driver(trace, data) -> None:
    """Big traces judge their transitions in two halves at once: forced here on small ones,
    the report is still the online driver's (violations, messages, order, summary)."""
    from activitykit.check import batch as batch_driver

    profile, records = trace
    bad = _corrupt(records, data)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(batch_driver, "SPLIT_TRANSITIONS", 2)
        try:
            batch, online = both(bad, profile, 0.0)
        except InputError:
            return
    assert keys(batch) == keys(online)
    assert [v.message for v in batch.violation_list] == [v.message for v in online.violation_list]
    assert batch.summary == online.summary
    assert batch.unfinished.equals(online.unfinished)


@SETTINGS
@given(
    traces(max_activities=15), st.data(), st.sampled_from(["jsonl", "jsonl.gz", "parquet", "csv"])
)
def test_fast_file_path_agrees_with_records(tmp_path: Path, trace, data, suffix: str) -> None:
    profile, records = trace
    bad = _corrupt(records, data)
    try:
        expected = check(bad, profile=profile)
    except InputError:
        return
    path = write_trace(bad, tmp_path / f"trace.{suffix}")
    got = check(path, profile=profile)
    shift = 1 if suffix == "csv" else 0  # CSV lines count the header
    assert [(v.rule, v.activity, v.line - shift) for v in got.violation_list] == keys(expected)
    assert got.summary == expected.summary
    if suffix != "csv":
        assert [v.message for v in got.violation_list] == [
            v.message for v in expected.violation_list
        ]
        assert [v.record for v in got.violation_list] == [v.record for v in expected.violation_list]


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(traces(max_activities=60), st.data(), st.sampled_from([None, 100.0]))
def test_online_and_batch_drivers_agree_thoroughly(trace, data, max_age) -> None:
    test_online_and_batch_drivers_agree.hypothesis.inner_test(trace, data, max_age)


@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES)
def test_large_synthetic_trace_is_conformant_in_every_format(tmp_path: Path, profile: str) -> None:
    records = list(synth_trace(20_000, seed=11, profile=profile))
    expected = check(records, profile=profile)
    assert expected.ok
    for suffix in ("jsonl.gz", "parquet", "csv"):
        got = check(write_trace(records, tmp_path / f"big.{suffix}"), profile=profile)
        assert got.ok and got.summary == expected.summary
