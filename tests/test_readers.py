"""Trace readers: every format, the fast and careful paths agree, bad input names file and line."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from activitykit.check import check
from activitykit.check.synth import synth_trace
from activitykit.errors import InputError
from activitykit.trace import (
    as_frame,
    landscape_records,
    read_records,
    read_table,
    validate_record,
    write_trace,
)

DATA = Path(__file__).parent / "data" / "traces"


def _records(path: Path, **kw) -> list[tuple[int, dict]]:
    return list(read_records(path, **kw))


def _frame_records(df: pd.DataFrame) -> list[tuple[int, dict]]:
    out = []
    for row in df.to_dict(orient="records"):
        line = int(row.pop("line"))
        rec = {}
        for k, v in row.items():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            if hasattr(v, "tolist"):
                v = v.tolist()
            if k == "operation_id":
                v = int(v)
            rec[k] = v
        out.append((line, rec))
    return out


def test_jsonl_example() -> None:
    recs = _records(DATA / "example.jsonl")
    assert [n for n, _ in recs] == list(range(1, 8))
    assert recs[3][1] == {
        "t": 61.5,
        "event": "transition",
        "activity": "a1",
        "from": "Queued",
        "to": "In Progress",
    }
    assert _frame_records(as_frame(DATA / "example.jsonl")) == recs


def test_csv_reader_normalises_and_numbers_file_lines() -> None:
    path = DATA / "mixed.csv"
    recs = dict(_records(path))
    assert 9 not in recs  # the blank line
    assert recs[4]["state"] == "Waiting" and recs[4]["depends_on"] == ["s1"]
    assert recs[6]["to"] == "In Progress" and recs[6]["cause"] == "picked up"
    assert recs[14]["status"] == "succeeded" and recs[14]["operation_id"] == 7
    assert recs[11]["urgent"] is True
    assert "extra_column" not in recs[2]
    assert _frame_records(as_frame(path)) == list(recs.items())
    assert check(path).ok


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz", "csv", "parquet"])
def test_round_trip_every_format(tmp_path: Path, suffix: str) -> None:
    records = list(synth_trace(60, seed=3, epoch=20))
    path = write_trace(records, tmp_path / f"trace.{suffix}")
    careful = _records(path)
    assert [r for _, r in careful] == records
    fast = _frame_records(as_frame(path))
    assert fast == careful
    assert read_table(path).num_rows == len(records)


def test_unknown_and_misplaced_fields_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"t": 0, "event": "created", "activity": "a", "kind": "server", "type": "ArchiveRequest",'
        ' "state": "queued", "vendor": {"x": 1}, "value": "not-a-number"}\n'
        "\n"
        '{"t": 1, "event": "exchange", "computer": "c1", "note": "hi"}\n',
        encoding="utf-8",
    )
    recs = _records(path)
    assert recs == [
        (
            1,
            {
                "t": 0.0,
                "event": "created",
                "activity": "a",
                "kind": "server",
                "type": "ArchiveRequest",
                "state": "Queued",
            },
        ),
        (3, {"t": 1.0, "event": "exchange", "computer": "c1"}),
    ]
    assert _frame_records(as_frame(path)) == recs


def test_field_limit_is_honoured_for_each_fresh_set() -> None:
    # A field set freed after one call may leave its id() to the next, different, set.
    rec = {"t": 0, "event": "created", "activity": "a", "kind": "server", "type": "T"}
    rec |= {"state": "Queued", "parent": "g"}
    base = {"t", "event", "activity", "kind", "type", "state"}
    for _ in range(3):
        assert "parent" not in validate_record(rec, fields=frozenset(base))
        assert validate_record(rec, fields=frozenset(base | {"parent"}))["parent"] == "g"


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_fleet_group_is_kept_on_created_records_only(tmp_path: Path, suffix: str) -> None:
    """One rule table: both paths keep ``group`` where ``created`` defines it, drop it
    elsewhere (a ``group`` on a transition is ignored like any field its kind lacks)."""
    created = {"t": 0.0, "event": "created", "activity": "a1", "computer": "c1", "group": "lab"}
    created |= {"kind": "client", "type": "ExecuteScriptRequest", "state": "Queued"}
    move = {"t": 1.0, "event": "transition", "activity": "a1", "from": "Queued"}
    move |= {"to": "Canceled"}
    path = write_trace([created, {**move, "group": "stray"}], tmp_path / f"t.{suffix}")
    careful = _records(path)
    assert [r for _, r in careful] == [created, move]
    assert _frame_records(as_frame(path)) == careful
    assert read_table(path).column("group").to_pylist() == ["lab", None]


def test_gzip_is_detected_by_content(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(gzip.compress((DATA / "example.jsonl").read_bytes()))
    assert len(_records(path)) == 7


# -- bad input ------------------------------------------------------------------------------------
BAD_LINES = {
    "malformed JSON": ('{"t": 1, "event": "exchange", "computer": "c1"', "malformed JSON"),
    "missing field": (
        '{"t": 1, "event": "transition", "activity": "a1", "from": "Queued"}',
        "missing required field 'to'",
    ),
    "wrong type": (
        '{"t": "soon", "event": "exchange", "computer": "c1"}',
        "field 't' must be a number",
    ),
    "unknown state": (
        '{"t": 1, "event": "transition", "activity": "a1", "from": "Queued", "to": "Running"}',
        "unknown state 'Running'",
    ),
    "decreasing t": (
        '{"t": 0.5, "event": "exchange", "computer": "c1"}',
        "t=0.5 is smaller than t=1",
    ),
    "not an object": ("[1, 2]", "must be a JSON object"),
    "bad status": (
        '{"t": 2, "event": "result", "activity": "a", "computer": "c", '
        '"operation_id": 1, "status": "done"}',
        "field 'status'",
    ),
    "unknown kind": (
        '{"t": 1, "event": "created", "activity": "a", "kind": "robot", "type": "X",'
        ' "state": "Queued"}',
        "unknown activity kind",
    ),
    "client without computer": (
        '{"t": 1, "event": "created", "activity": "a", "kind": "client",'
        ' "type": "X", "state": "Queued"}',
        "'computer' for a client",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_jsonl_line_names_file_line_and_rule(tmp_path: Path, case: str) -> None:
    line, message = BAD_LINES[case]
    path = tmp_path / "bad.jsonl"
    good = '{"t": 1, "event": "exchange", "computer": "c1"}'
    path.write_text(f"{good}\n\n{line}\n{good}\n", encoding="utf-8")
    for read in (lambda: _records(path), lambda: as_frame(path), lambda: check(path)):
        with pytest.raises(InputError) as err:
            read()
        assert str(err.value).startswith(f"{path}:3: ")
        assert message in str(err.value)


def test_lines_holding_other_than_one_object_are_refused_on_every_path(tmp_path: Path) -> None:
    # pyarrow reads objects, not lines: an object broken over two lines and two objects on
    # one line give as many rows as lines, and must not slip through the fast path
    good = '{"t": 1, "event": "exchange", "computer": "c1"}'
    path = tmp_path / "split.jsonl"
    path.write_text(
        f'{good}\n{{"t": 1, "event": "exchange",\n "computer": "c1"}}\n{good} {good}\n',
        encoding="utf-8",
    )
    for read in (lambda: _records(path), lambda: read_table(path), lambda: check(path)):
        with pytest.raises(InputError) as err:
            read()
        assert str(err.value).startswith(f"{path}:2: malformed JSON")


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b'{"t": 0, "event": "fault"}\n' + bytes(range(256)) * 4)
    with pytest.raises(InputError, match=rf"{path}:2: binary data"):
        check(path)
    path.write_bytes(b'{"t": 0, "event": "fault"}\n\xff\xfe garbage\n')
    with pytest.raises(InputError, match=rf"{path}:2: not UTF-8"):
        as_frame(path)


def test_missing_unreadable_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        check(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="is a directory"):
        check(tmp_path)
    other = tmp_path / "trace.txt"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="cannot tell the trace format"):
        check(other)
    with pytest.raises(InputError, match="unknown input format 'xml'"):
        check(other, input_format="xml")
    pq = tmp_path / "trace.parquet"
    pq.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        check(pq)
    gz = tmp_path / "trace.jsonl.gz"
    gz.write_bytes(gzip.compress(b"{}")[:12])
    with pytest.raises(InputError, match="broken gzip"):
        check(gz)


def test_bad_csv_cell(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "t,event,computer,activity\n0,exchange,c1,\nlater,exchange,c1,\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match=rf"{path}:3: field 't' must be a number"):
        check(path)
    path.write_text("event,computer\nexchange,c1\n", encoding="utf-8")
    with pytest.raises(InputError, match="no 't' column"):
        check(path)


def test_input_format_override(tmp_path: Path) -> None:
    path = tmp_path / "trace.log"
    path.write_bytes((DATA / "example.jsonl").read_bytes())
    assert check(path, input_format="jsonl").ok


# -- Landscape export ------------------------------------------------------------------------------
def test_landscape_export_records() -> None:
    path = DATA / "landscape_export.json"
    recs = _records(path)
    by_activity: dict[str, list[dict]] = {}
    for _n, r in recs:
        by_activity.setdefault(r["activity"], []).append(r)
    script = by_activity["101"]
    assert [r["event"] for r in script] == ["created", "transition", "transition"]
    assert script[0]["computer"] == "12" and script[0]["kind"] == "client"
    assert [(r.get("from"), r.get("to")) for r in script[1:]] == [
        ("Queued", "In Progress"),
        ("In Progress", "Succeeded"),
    ]
    assert script[1]["t"] == 60.0 and script[2]["t"] == 210.0
    assert by_activity["100"] == [
        {"t": 5.0, "event": "group", "activity": "100", "type": "ActivityGroup"}
    ]
    assert by_activity["102"][0]["parent"] == "100"
    approved = by_activity["105"]
    assert approved[0]["state"] == "Blocked"
    assert [r["event"] for r in approved] == [
        "created",
        "approve",
        "transition",
        "transition",
        "transition",
    ]
    assert by_activity["106"][0]["state"] == "Scheduled"
    assert by_activity["107"][0]["kind"] == "server"
    canceled = by_activity["108"]
    assert canceled[-1]["from"] == "Queued" and canceled[-1]["to"] == "Canceled"
    rep = check(path)
    assert rep.ok
    assert rep.summary["groups"] == 1 and rep.summary["activities"] == 8
    assert set(rep.summary["rules_skipped"]) == {"C1", "C2", "C3", "C5"}
    assert rep.unfinished["activity"].tolist() == ["102", "104", "106"]
    assert check(path, input_format="landscape").summary == rep.summary


def test_landscape_export_violations() -> None:
    rep = check(DATA / "landscape_bad_export.json")
    assert {(v.rule, v.activity) for v in rep.violation_list} == {
        ("T3", "201"),  # reported succeeded but never delivered
        ("T2", "202"),  # completed before it was delivered
        ("C6", "203"),  # delivered before its deliver_after_time
    }


def test_landscape_export_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": 1, "activity_status": "succeeded"}]), encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}:1: missing required field 'creation_time'"):
        check(path)
    path.write_text(
        json.dumps([{"id": 1, "activity_status": "exploded", "creation_time": 0}]),
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="unknown state 'exploded'"):
        check(path)
    path.write_text('[{"id": 1,', encoding="utf-8")
    with pytest.raises(InputError, match="malformed JSON"):
        check(path)
    wrapped = {
        "activities": [
            {
                "id": 7,
                "activity_status": "undelivered",
                "creation_time": "2024-01-01T00:00:00",
                "computer_id": 3,
            }
        ]
    }
    path.write_text(json.dumps(wrapped), encoding="utf-8")
    assert check(path).unfinished["state"].tolist() == ["Queued"]
    first = next(iter(landscape_records(wrapped["activities"])))
    assert first[1]["state"] == "Queued"
