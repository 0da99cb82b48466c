"""Trace readers: JSON Lines (optionally gzip), CSV, Parquet and Landscape API exports.

Two paths, one contract (the rules of ``schema``, applied by ``validate``):

- ``read_records`` is the *careful* path. It parses one record at a time and validates it
  with ``validate_record``, so the first bad record raises an ``InputError`` that names the
  file, the line (row) and the rule that was broken.
- ``read_table`` is the *fast* path the batch checker and the reports use. pyarrow parses
  the whole file into columns with the explicit schema (``_fast``) and ``validate_table``
  validates the columns with vector operations. Anything unusual sends it back to the
  careful path, which either produces the same table or raises the precise error. Both
  paths therefore accept exactly the same inputs and give the same values.

Line numbers are physical lines for JSON Lines, file lines for CSV (the header is line 1),
1-based rows for Parquet and 1-based entries for a Landscape export. ``trace.frame.as_frame``
turns any of them into the kit's DataFrame.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ._fast import fast_csv, fast_jsonl
from ._io import INPUT_FORMATS, decode_text, open_bytes, resolve_format
from .landscape import landscape_records, load_document
from .schema import FIELDS, LIST_FIELDS
from .validate import ALL_FIELDS, Fallback, Monotone, Record, _bad, validate_record, validate_table

__all__ = [
    "INPUT_FORMATS",
    "read_records",
    "read_table",
    "table_from_records",
]


def _jsonl_records(
    data: bytes, source: str, fields: frozenset[str] = ALL_FIELDS
) -> Iterator[tuple[int, Record]]:
    text = decode_text(data, source)
    loads = json.loads
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = loads(raw)
        except ValueError as exc:
            msg = str(exc).split(":")[0]
            raise _bad(
                source, n, f"malformed JSON ({msg}); each line must be one JSON object"
            ) from None
        yield n, validate_record(obj, source, n, fields)


def _csv_value(name: str, v: str, source: str, line: int) -> object:
    typ = FIELDS[name]
    s = v.strip()
    if name in LIST_FIELDS:
        try:
            return json.loads(s)
        except ValueError:
            raise _bad(source, line, f"field {name!r} must hold a JSON list, got {v!r}") from None
    if name == "operation_id":
        return int(s) if s.lstrip("-").isdigit() else s
    if name == "urgent":
        low = s.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        return v
    if str(typ) in ("double", "int64"):
        try:
            return int(s) if str(typ) == "int64" else float(s)
        except ValueError:
            return v  # validate_record reports the wrong type with the field name
    return v


def _csv_records(
    data: bytes, source: str, fields: frozenset[str] = ALL_FIELDS
) -> Iterator[tuple[int, Record]]:
    text = decode_text(data, source)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise _bad(source, 1, f"malformed CSV header: {exc}") from None
    header = [h.strip() for h in header]
    for need in ("t", "event"):
        if need not in header:
            raise _bad(
                source, 1, f"CSV header has no {need!r} column (every trace record has them)"
            )
    cols = [(i, h) for i, h in enumerate(header) if h in FIELDS]
    n = 1
    try:
        for row in reader:
            n += 1
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) > len(header):
                raise _bad(source, n, f"{len(row)} cells but the header has {len(header)}")
            rec: Record = {}
            for i, name in cols:
                if i < len(row) and row[i] != "":
                    rec[name] = _csv_value(name, row[i], source, n)
            yield n, validate_record(rec, source, n, fields)
    except csv.Error as exc:
        raise _bad(source, n + 1, f"malformed CSV: {exc}") from None


def _parquet_table(path: Path, data: bytes, fields: frozenset[str] = ALL_FIELDS) -> pa.Table:
    """The Parquet file's columns that are trace fields in ``fields`` (only those are read)."""
    try:
        buf = pa.BufferReader(data)
        names = [n for n in pq.read_schema(buf).names if n in fields or n not in FIELDS]
        return pq.read_table(pa.BufferReader(data), columns=names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"not a readable Parquet file: {exc}", source=str(path)) from None


def _parquet_records(
    table, source: str, fields: frozenset[str] = ALL_FIELDS
) -> Iterator[tuple[int, Record]]:
    names = [n for n in table.column_names if n in FIELDS]
    if "t" not in names or "event" not in names:
        raise _bad(
            source,
            None,
            "Parquet file has no 't' and 'event' columns (every trace record has them)",
        )
    table = table.select(names)
    n = 0
    for batch in table.to_batches(65536):
        for row in batch.to_pylist():
            n += 1
            yield n, validate_record(row, source, n, fields)


def read_records(
    path: str | Path, input_format: str | None = None, *, fields: frozenset[str] = ALL_FIELDS
) -> Iterator[tuple[int, Record]]:
    """Yield ``(line, record)`` for every record of the trace at ``path``, validated.

    The format comes from the extension (``.jsonl``, ``.jsonl.gz``, ``.csv``, ``.parquet``;
    a ``.json`` file holding a list is a Landscape export), or from ``input_format``
    (one of ``INPUT_FORMATS``). Raises ``InputError`` at the first bad record, naming the
    file, the line and the rule; decreasing ``t`` is one such rule. ``fields`` limits the
    fields read (and validated) to a subset of ``FIELDS``.
    """
    path = Path(path)
    data = open_bytes(path)
    source = str(path)
    fmt = resolve_format(path, input_format, data[:4096])
    if fmt == "landscape":
        for n, rec in landscape_records(load_document(data, source), source):
            yield n, {k: v for k, v in rec.items() if k in fields}
        return
    if fmt == "parquet":
        gen = _parquet_records(_parquet_table(path, data), source, fields)
    elif fmt == "csv":
        gen = _csv_records(data, source, fields)
    else:
        gen = _jsonl_records(data, source, fields)
    order = Monotone(source)
    for n, rec in gen:
        order(rec, n)
        yield n, rec


def table_from_records(pairs: Iterable[tuple[int, Record]]) -> pa.Table:
    """A pyarrow Table (``FIELDS`` columns present, in order, plus ``line``) from validated pairs.

    ``operation_id`` is an integer column unless some id is text; then every id is text
    (ids compare by their text, so 7 and "7" are the same id either way).
    """
    lines: list[int] = []
    recs: list[Record] = []
    for n, r in pairs:
        lines.append(n)
        recs.append(r)
    present = set().union(*(r.keys() for r in recs)) if recs else set()
    present |= {"t", "event"}
    fields = []
    for name in FIELDS:
        if name not in present:
            continue
        typ = FIELDS[name]
        if name == "operation_id" and any(isinstance(r.get(name), str) for r in recs):
            typ = pa.string()
        fields.append(pa.field(name, typ))
    schema = pa.schema(fields)
    cols = {}
    for f in schema:
        vals = [r.get(f.name) for r in recs]
        if f.name == "operation_id" and f.type == pa.string():
            vals = [None if v is None else str(v) for v in vals]
        cols[f.name] = pa.array(vals, type=f.type)
    cols["line"] = pa.array(lines, type=pa.int64())
    return pa.table(cols)


def read_table(
    path: str | Path, input_format: str | None = None, *, fields: frozenset[str] = ALL_FIELDS
) -> pa.Table:
    """The whole trace at ``path`` as a validated pyarrow Table (fields present + ``line``).

    Uses pyarrow's multithreaded readers and vectorised validation; on anything it cannot
    vouch for it re-reads the file record by record (``read_records``), so it raises the
    same precise ``InputError`` or returns the same values. Text columns that name states,
    kinds, statuses and events come dictionary-encoded. ``fields`` limits what is read.
    """
    path = Path(path)
    data = open_bytes(path)
    fmt = resolve_format(path, input_format, data[:4096])
    try:
        if fmt == "jsonl":
            return validate_table(*fast_jsonl(data, fields), fields)
        if fmt == "csv":
            return validate_table(*fast_csv(data, fields), fields)
        if fmt == "parquet":
            table = _parquet_table(path, data, fields)
            lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
            return validate_table(table, lines, fields)
    except Fallback:
        pass
    del data
    return table_from_records(read_records(path, fmt, fields=fields))
