"""The trace writers: round trips, determinism, and refusal of fields the format cannot hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from activitykit.trace import (
    FIELDS,
    JsonlTraceWriter,
    ParquetTraceWriter,
    TableTraceWriter,
    TraceFormatError,
    read_records,
    write_trace,
)

RECORDS = [
    {"t": 0.0, "event": "created", "activity": "a1", "kind": "client",
     "type": "ExecuteScriptRequest", "computer": "c1", "state": "Queued"},
    {"t": 0.0, "event": "created", "activity": "a2", "kind": "server",
     "type": "ArchiveRequest", "state": "Waiting", "depends_on": ["a1"]},
    {"t": 61.5, "event": "exchange", "computer": "c1", "urgent": True},
    {"t": 61.5, "event": "deliver", "activity": "a1", "computer": "c1", "operation_id": 1},
    {"t": 61.5, "event": "transition", "activity": "a1", "from": "Queued", "to": "In Progress"},
]  # fmt: skip


def _rows(table) -> list[dict]:
    return [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]


@pytest.mark.parametrize("batch", [1, 2, 100])
def test_table_writer_round_trip_across_batches(batch: int) -> None:
    w = TableTraceWriter(batch_size=batch)
    for r in RECORDS:
        w.write(r)
    w.close()
    table = w.table()
    assert table.schema.names == list(FIELDS)
    assert _rows(table) == RECORDS


def test_table_writer_empty() -> None:
    assert TableTraceWriter().table().num_rows == 0
    kept = TableTraceWriter(events=["fault"], columns=["t", "event"]).table()
    assert kept.num_rows == 0 and kept.schema.names == ["t", "event"]


@pytest.mark.parametrize("batch", [1, 3])
def test_table_writer_keeps_only_the_kinds_and_fields_asked_for_but_counts_all(batch: int) -> None:
    w = TableTraceWriter(batch_size=batch, events=["created", "transition"], columns=["t", "to"])
    w.write_many(RECORDS)
    w.close()
    table = w.table()
    assert table.schema.names == ["t", "to"]
    assert table.to_pylist() == [
        {"t": r["t"], "to": r.get("to")} for r in RECORDS if r["event"] in ("created", "transition")
    ]
    assert w.counts == {"created": 2, "exchange": 1, "deliver": 1, "transition": 1}
    assert sum(w.counts.values()) == len(RECORDS)


@pytest.mark.parametrize(
    "make",
    [lambda p: TableTraceWriter(batch_size=2), lambda p: ParquetTraceWriter(p / "t.parquet", 2)],
)
def test_unknown_field_is_refused_with_the_record(make, tmp_path: Path) -> None:
    w = make(tmp_path)
    w.write(RECORDS[0])
    with pytest.raises(TraceFormatError, match=r"\['colour'\].*'colour': 'red'"):
        w.write({"t": 1.0, "event": "progress", "activity": "a1", "colour": "red"})
        w.close()


@pytest.mark.parametrize("at", [0, 3, 4])
def test_parquet_writer_refuses_a_value_of_the_wrong_type_naming_the_record(
    at: int, tmp_path: Path
) -> None:
    # not coerced: an id written as a number, a time as a boolean, depends_on as a string
    bad = [
        {"t": 1.0, "event": "cancel", "activity": 7},
        {"t": True, "event": "cancel", "activity": "a1"},
        {"t": 1.0, "event": "created", "activity": "a3", "depends_on": "a1"},
    ]
    for record in bad:
        w = ParquetTraceWriter(tmp_path / "t.parquet", 100)
        with pytest.raises(TraceFormatError, match="does not fit the trace schema") as err:
            w.write_many([*RECORDS[:at], record, *RECORDS[at:]])
            w.close()
        assert repr(record) in str(err.value)


def test_parquet_writer_matches_table_writer(tmp_path: Path) -> None:
    path = write_trace(RECORDS, tmp_path / "t.parquet")
    assert _rows(pq.read_table(path)) == RECORDS
    with pytest.raises(TypeError, match="read the file back"):
        ParquetTraceWriter(tmp_path / "u.parquet").table()


@pytest.mark.parametrize("name", ["t.jsonl", "t.jsonl.gz"])
def test_jsonl_is_byte_identical_and_reads_back(name: str, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write_trace(RECORDS, a / name)
    write_trace(RECORDS, b / name)
    assert (a / name).read_bytes() == (b / name).read_bytes()
    assert [r for _, r in read_records(a / name)] == RECORDS


def test_jsonl_numpy_scalars_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with JsonlTraceWriter(path) as w:
        w.write({"t": np.float64(2.5), "event": "consume", "activity": "a2",
                 "handler": "h1", "attempt": np.int64(1)})  # fmt: skip
        with pytest.raises(TraceFormatError, match="cannot be written as JSON"):
            w.write({"t": 3.0, "event": "cancel", "activity": {"a2"}})
    assert path.read_text() == (
        '{"t":2.5,"event":"consume","activity":"a2","handler":"h1","attempt":1}\n'
    )


@pytest.mark.parametrize("batch", [1, 2, 100])
def test_parquet_writer_keeps_what_it_wrote_and_writes_the_same_bytes(
    batch: int, tmp_path: Path
) -> None:
    # The row groups are written by a background thread: the file must be byte for byte
    # what a writer on the caller's thread writes, whatever the number of row groups.
    import pyarrow as pa

    from activitykit.trace import ARROW_SCHEMA

    w = ParquetTraceWriter(tmp_path / "kept.parquet", batch, keep=True)
    w.write_many(RECORDS)
    w.close()
    assert _rows(w.table()) == RECORDS
    ref = pq.ParquetWriter(tmp_path / "ref.parquet", ARROW_SCHEMA, compression="zstd")
    for i in range(0, len(RECORDS), batch):
        chunk = pa.Table.from_pylist(RECORDS[i : i + batch], schema=ARROW_SCHEMA)
        ref.write_table(chunk, row_group_size=batch)
    ref.close()
    assert (tmp_path / "kept.parquet").read_bytes() == (tmp_path / "ref.parquet").read_bytes()
    assert pq.ParquetFile(tmp_path / "kept.parquet").num_row_groups == -(-len(RECORDS) // batch)


@pytest.mark.parametrize(("block", "rows", "n"), [(2, 5, 8), (2, 4, 8), (3, 4, 10), (4, 3, 7)])
def test_parquet_writer_row_groups_of_several_blocks_are_the_same_bytes(
    block: int, rows: int, n: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks smaller than a row group, ending on a row group's end or not, the last row
    # group short or whole: the file is that of whole from_pylist row groups.
    import pyarrow as pa

    from activitykit.trace import ARROW_SCHEMA

    monkeypatch.setattr(ParquetTraceWriter, "_BLOCK", block)
    records = [{**RECORDS[i % len(RECORDS)], "t": float(i)} for i in range(n)]
    w = ParquetTraceWriter(tmp_path / "w.parquet", rows, keep=True)
    w.write_many(records)
    w.close()
    assert _rows(w.table()) == records
    ref = pq.ParquetWriter(tmp_path / "ref.parquet", ARROW_SCHEMA, compression="zstd")
    for i in range(0, n, rows):
        ref.write_table(pa.Table.from_pylist(records[i : i + rows], schema=ARROW_SCHEMA), rows)
    ref.close()
    assert (tmp_path / "w.parquet").read_bytes() == (tmp_path / "ref.parquet").read_bytes()
    assert pq.ParquetFile(tmp_path / "w.parquet").num_row_groups == -(-n // rows)


@pytest.mark.parametrize(
    ("chunk", "block", "rows", "n"),
    [(1, 2, 5, 8), (3, 2, 4, 9), (4, 3, 4, 13), (7, 100, 3, 20), (50, 4, 6, 20)],
)
def test_parquet_writer_batches_of_lines_end_row_groups_where_single_lines_do(
    chunk: int, block: int, rows: int, n: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A checker process hands the writer its batches of encoded lines (write_lines): a
    # batch that crosses a row group's end is cut at that record, so the file is the one
    # written record by record, and so is what the writer keeps.
    from activitykit.trace.writers import encode_line

    monkeypatch.setattr(ParquetTraceWriter, "_BLOCK", block)
    records = [{**RECORDS[i % len(RECORDS)], "t": float(i)} for i in range(n)]
    lines = [encode_line(r) for r in records]
    one = ParquetTraceWriter(tmp_path / "one.parquet", rows, keep=True)
    for line in lines:
        one.write_line(line)
    one.close()
    many = ParquetTraceWriter(tmp_path / "many.parquet", rows, keep=True)
    for i in range(0, n, chunk):
        many.write_lines(bytearray(b"".join(lines[i : i + chunk])))
    many.write_lines(b"")
    many.begin_close()  # (what a simulation calls once its last record is out)
    many.close()
    assert (tmp_path / "many.parquet").read_bytes() == (tmp_path / "one.parquet").read_bytes()
    assert pq.ParquetFile(tmp_path / "many.parquet").num_row_groups == -(-n // rows)
    assert _rows(many.table()) == records


@pytest.mark.parametrize("batch", [1, 3, 100])
def test_parquet_writer_keeps_only_the_kinds_and_fields_asked_for_but_writes_all(
    batch: int, tmp_path: Path
) -> None:
    w = ParquetTraceWriter(
        tmp_path / "t.parquet", batch, keep=True,
        keep_events=["created", "transition"], keep_columns=["t", "event", "to"],
    )  # fmt: skip
    w.write_many(RECORDS)
    w.close()
    assert w.table().to_pylist() == [
        {"t": r["t"], "event": r["event"], "to": r.get("to")}
        for r in RECORDS
        if r["event"] in ("created", "transition")
    ]
    assert w.counts == {"created": 2, "exchange": 1, "deliver": 1, "transition": 1}
    assert _rows(pq.read_table(tmp_path / "t.parquet")) == RECORDS
    empty = ParquetTraceWriter(tmp_path / "e.parquet", keep=True, keep_columns=["t", "to"])
    empty.close()
    assert empty.table().schema.names == ["t", "to"] and empty.table().num_rows == 0
