"""Trace readers: JSON Lines (optionally gzip), CSV, Parquet and Landscape API exports.

Two paths, one contract:

- ``read_records`` is the *careful* path. It parses one record at a time and validates it
  with ``validate_record``, so the first bad record raises an ``InputError`` that names the
  file, the line (row) and the rule that was broken.
- ``read_frame`` is the *fast* path the batch checker uses. It lets pyarrow parse the whole
  file into columns with the explicit ``ARROW_SCHEMA`` and validates the columns with vector
  operations. Anything unusual (a type pyarrow refuses, a bad state name, a missing field,
  blank lines it cannot number) sends it back to the careful path, which either produces
  the same frame or raises the precise error. Both paths therefore accept exactly the same
  inputs and give the same values.

Records come out normalised: state names in spec spelling ("in_progress" -> "In Progress"),
kinds lower case, result statuses "succeeded"/"failed" (6/5 accepted), unknown fields
dropped. Line numbers are physical lines for JSON Lines, file lines for CSV (the header is
line 1), 1-based rows for Parquet and 1-based entries for a Landscape export.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import InputError
from ..model import (
    CATALOG,
    START_STATES,
    Kind,
    State,
    UnknownKindError,
    UnknownStateError,
    parse_kind,
    parse_state,
)
from .schema import FIELDS, LIST_FIELDS
from .writers import TraceFormatError, format_for_path

__all__ = [
    "CHECK_FIELDS",
    "COMMON_FIELDS",
    "EVENT_FIELDS",
    "INPUT_FORMATS",
    "REQUIRED",
    "frame_from_records",
    "landscape_records",
    "read_frame",
    "read_records",
    "read_table",
    "table_from_records",
    "validate_record",
]

Record = dict[str, Any]

#: Formats a reader can be asked for explicitly (``--input-format``).
INPUT_FORMATS: tuple[str, ...] = ("jsonl", "csv", "parquet", "landscape")

#: Fields each event kind must carry (beyond ``t`` and ``event``). Client ``created`` records
#: also need ``computer``; ``progress_of`` needs ``threshold``. Unknown event kinds are kept
#: (TRACE.md lets producers add kinds) and ignored by the rules.
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "created": ("activity", "kind", "type", "state"),
    "transition": ("activity", "from", "to"),
    "deliver": ("activity", "computer", "operation_id"),
    "result": ("activity", "computer", "operation_id", "status"),
    "exchange": ("computer",),
    "consume": ("activity",),
    "enqueue": ("activity",),
    "approve": ("activity",),
    "cancel": ("activity",),
    "progress": ("activity", "value"),
    "group": ("activity",),
    "ack": ("activity",),
    "fault": (),
}

#: Fields every record may carry.
COMMON_FIELDS: tuple[str, ...] = ("t", "event", "activity", "computer")
#: Fields each event kind defines (TRACE.md plus the kit extensions of ``schema.py``). A
#: field on a record whose kind does not define it is ignored, like an unknown field.
EVENT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "created": (
        "kind",
        "type",
        "state",
        "deliver_after",
        "depends_on",
        "progress_of",
        "threshold",
        "parent",
    ),
    "transition": ("from", "to", "cause"),
    "deliver": ("operation_id",),
    "result": ("operation_id", "status"),
    "exchange": ("urgent",),
    "consume": ("handler", "attempt"),
    "progress": ("value",),
    "group": ("type", "children"),
    "fault": ("fault", "handler"),
    "ack": ("handler",),
}
#: The fields the checker reads; ``check`` validates only these.
CHECK_FIELDS: frozenset[str] = frozenset(COMMON_FIELDS) | {
    "kind",
    "type",
    "state",
    "deliver_after",
    "depends_on",
    "progress_of",
    "threshold",
    "from",
    "to",
    "operation_id",
    "status",
    "value",
}
#: Fields found only on created/progress/group records: the fast reader parses them from
#: those lines alone (parsing cost grows with the number of schema fields).
_COLD_FIELDS = frozenset(
    {
        "type",
        "deliver_after",
        "depends_on",
        "progress_of",
        "threshold",
        "parent",
        "value",
        "children",
    }
)
_COLD_EVENTS = ("created", "progress", "group")
_ALL_FIELDS = frozenset(FIELDS)
_ALLOWED: dict[tuple[str, frozenset[str]], frozenset[str]] = {}


def _allowed(event: str, fields: frozenset[str]) -> frozenset[str]:
    # keyed by the set itself, not its id(): a freed set's id is reused by the next one
    key = (event, fields)
    got = _ALLOWED.get(key)
    if got is None:
        got = (frozenset(COMMON_FIELDS) | frozenset(EVENT_FIELDS.get(event, ()))) & fields
        _ALLOWED[key] = got
    return got


_STATE_FIELDS = ("state", "from", "to")
#: Field types from the schema: floats, and integers (``operation_id`` may also be text).
_NUMBER_FIELDS = frozenset(n for n, ty in FIELDS.items() if pa.types.is_floating(ty))
_INT_FIELDS = frozenset(n for n, ty in FIELDS.items() if pa.types.is_integer(ty)) - {"operation_id"}
_STATUS: Mapping[Any, str] = {
    "succeeded": "succeeded",
    "failed": "failed",
    "6": "succeeded",
    "5": "failed",
    6: "succeeded",
    5: "failed",
}


def _bad(source: str, line: int | None, message: str) -> InputError:
    return InputError(message, source=source, line=line)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def validate_record(
    raw: object,
    source: str = "<records>",
    line: int | None = None,
    fields: frozenset[str] = _ALL_FIELDS,
) -> Record:
    """Check one record against TRACE.md and return it normalised.

    Keeps the fields its event kind defines (``COMMON_FIELDS`` + ``EVENT_FIELDS``), limited
    to ``fields``; everything else is dropped like an unknown field. Raises ``InputError``
    naming ``source:line``, the field and the rule on anything a checker cannot judge: not
    an object, a missing required field, a wrong type, an unknown state or kind name, a
    non-finite time.
    """
    if not isinstance(raw, Mapping):
        raise _bad(source, line, f"a record must be a JSON object, got {type(raw).__name__}")
    event = raw.get("event")
    keep = _allowed(event, fields) if isinstance(event, str) else COMMON_FIELDS
    rec: Record = {}
    for name in FIELDS:
        if name not in keep:
            continue
        v = raw.get(name)
        if v is None or (isinstance(v, float) and math.isnan(v) and name != "t"):
            continue
        rec[name] = v
    if "t" not in rec:
        raise _bad(source, line, "missing required field 't' (every record needs a time)")
    if event is None:
        raise _bad(source, line, "missing required field 'event' (every record needs a kind)")
    if not isinstance(event, str):
        raise _bad(source, line, f"field 'event' must be a string, got {event!r}")
    for name in REQUIRED.get(event, ()):
        if name not in rec:
            raise _bad(
                source,
                line,
                f"missing required field {name!r} for a {event!r} record "
                f"(TRACE.md: {event} needs {', '.join(REQUIRED[event])})",
            )
    for name, v in rec.items():
        if name in _NUMBER_FIELDS:
            if not _is_number(v):
                raise _bad(source, line, f"field {name!r} must be a number, got {v!r}")
            if not math.isfinite(v):
                raise _bad(source, line, f"field {name!r} must be a finite number, got {v!r}")
            rec[name] = float(v)
        elif name in _INT_FIELDS:
            if not isinstance(v, int) or isinstance(v, bool):
                raise _bad(source, line, f"field {name!r} must be an integer, got {v!r}")
        elif name == "operation_id":
            if isinstance(v, float) and v.is_integer():
                rec[name] = v = int(v)
            if not (isinstance(v, int | str) and not isinstance(v, bool)):
                raise _bad(
                    source, line, f"field 'operation_id' must be an integer or a string, got {v!r}"
                )
        elif name == "urgent":
            if not isinstance(v, bool):
                raise _bad(source, line, f"field 'urgent' must be true or false, got {v!r}")
        elif name in LIST_FIELDS:
            if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
                raise _bad(source, line, f"field {name!r} must be a list of strings, got {v!r}")
            rec[name] = list(v)
        elif not isinstance(v, str) and name != "status":  # status: text or 6/5, see below
            raise _bad(source, line, f"field {name!r} must be a string, got {v!r}")
    for name in _STATE_FIELDS:
        if name in rec:
            try:
                rec[name] = parse_state(rec[name]).value
            except UnknownStateError as exc:
                raise _bad(source, line, f"field {name!r}: {exc}") from None
    if "kind" in rec:
        try:
            rec["kind"] = parse_kind(rec["kind"]).value
        except UnknownKindError as exc:
            raise _bad(source, line, f"field 'kind': {exc}") from None
    if event == "created":
        if rec["kind"] == Kind.CLIENT and "computer" not in rec:
            raise _bad(
                source, line, "missing required field 'computer' for a client 'created' record"
            )
        if "progress_of" in rec and "threshold" not in rec:
            raise _bad(source, line, "field 'progress_of' needs a 'threshold' (0..1) beside it")
    if "status" in rec:
        st = rec["status"]
        key = st.strip().lower() if isinstance(st, str) else st
        if key not in _STATUS:
            raise _bad(
                source, line, f"field 'status' must be succeeded/failed (or 6/5), got {st!r}"
            )
        rec["status"] = _STATUS[key]
    return rec


class _Monotone:
    """Raises on a ``t`` smaller than the previous record's (TRACE.md: non-decreasing)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.last = -math.inf
        self.last_line: int | None = None

    def __call__(self, rec: Record, line: int) -> None:
        t = rec["t"]
        if t < self.last:
            raise _bad(
                self.source,
                line,
                f"t={t:g} is smaller than t={self.last:g} on line {self.last_line}; records "
                "must be in non-decreasing t order (sort the trace by t, keeping file order "
                "for equal times)",
            )
        self.last, self.last_line = t, line


# -- format detection ------------------------------------------------------------------------


def _open_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip; missing/unreadable files -> InputError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a trace file", source=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=str(path)) from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError(f"broken gzip data: {exc}", source=str(path)) from None
    return data


def _resolve_format(path: Path, input_format: str | None, head: bytes) -> str:
    if input_format is not None:
        fmt = input_format.strip().lower()
        if fmt not in INPUT_FORMATS:
            raise InputError(
                f"unknown input format {input_format!r}; accepted: {', '.join(INPUT_FORMATS)}"
            )
        return fmt
    try:
        fmt = format_for_path(path)
    except TraceFormatError as exc:
        raise InputError(str(exc)) from None
    if fmt == "jsonl" and path.name.lower().endswith(".json") and head.lstrip()[:1] in (b"[", b"{"):
        # A .json file holding one JSON document (a list, or an object wrapping one) is a
        # Landscape API export; a JSON Lines file has one object per line instead.
        stripped = head.lstrip()
        if stripped[:1] == b"[" or not _looks_like_jsonl(head):
            return "landscape"
    return fmt


def _looks_like_jsonl(head: bytes) -> bool:
    """Is the first line one trace record (an object with an ``event``)?"""
    first = head.lstrip().split(b"\n", 1)[0]
    try:
        obj = json.loads(first)
    except ValueError:
        return False
    return isinstance(obj, dict) and "event" in obj


# -- careful path -----------------------------------------------------------------------------


def _decode_text(data: bytes, source: str) -> str:
    if b"\x00" in data[:65536]:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise _bad(source, line, "binary data (a NUL byte) where a text trace was expected")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _bad(
            source, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); is this a trace file?"
        ) from None


def _jsonl_records(
    data: bytes, source: str, fields: frozenset[str] = _ALL_FIELDS
) -> Iterator[tuple[int, Record]]:
    text = _decode_text(data, source)
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
    data: bytes, source: str, fields: frozenset[str] = _ALL_FIELDS
) -> Iterator[tuple[int, Record]]:
    text = _decode_text(data, source)
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
            raise _bad(source, 1, f"CSV header has no {need!r} column (TRACE.md fields)")
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


def _parquet_table(path: Path, data: bytes):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"not a readable Parquet file: {exc}", source=str(path)) from None


def _parquet_records(
    table, source: str, fields: frozenset[str] = _ALL_FIELDS
) -> Iterator[tuple[int, Record]]:
    names = [n for n in table.column_names if n in FIELDS]
    if "t" not in names or "event" not in names:
        raise _bad(source, None, "Parquet file has no 't' and 'event' columns (TRACE.md fields)")
    table = table.select(names)
    n = 0
    for batch in table.to_batches(65536):
        for row in batch.to_pylist():
            n += 1
            yield n, validate_record(row, source, n, fields)


def read_records(
    path: str | Path, input_format: str | None = None, *, fields: frozenset[str] = _ALL_FIELDS
) -> Iterator[tuple[int, Record]]:
    """Yield ``(line, record)`` for every record of the trace at ``path``, validated.

    The format comes from the extension (``.jsonl``, ``.jsonl.gz``, ``.csv``, ``.parquet``;
    a ``.json`` file holding a list is a Landscape export), or from ``input_format``
    (one of ``INPUT_FORMATS``). Raises ``InputError`` at the first bad record, naming the
    file, the line and the rule; decreasing ``t`` is one such rule. ``fields`` limits the
    fields read (and validated) to a subset of ``FIELDS``.
    """
    path = Path(path)
    data = _open_bytes(path)
    source = str(path)
    fmt = _resolve_format(path, input_format, data[:4096])
    if fmt == "landscape":
        for n, rec in landscape_records(_load_json_document(data, source), source):
            yield n, {k: v for k, v in rec.items() if k in fields}
        return
    if fmt == "parquet":
        gen = _parquet_records(_parquet_table(path, data), source, fields)
    elif fmt == "csv":
        gen = _csv_records(data, source, fields)
    else:
        gen = _jsonl_records(data, source, fields)
    order = _Monotone(source)
    for n, rec in gen:
        order(rec, n)
        yield n, rec


def table_from_records(pairs: Iterable[tuple[int, Record]]):
    """A pyarrow Table (``FIELDS`` columns present, in order, plus ``line``) from validated pairs.

    ``operation_id`` is an integer column unless some id is text; then every id is text
    (ids compare by their text, so 7 and "7" are the same id either way).
    """
    import pyarrow as pa

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


def frame_from_records(pairs: Iterable[tuple[int, Record]]):
    """``table_from_records`` as a pandas DataFrame."""
    return table_from_records(pairs).to_pandas()


# -- fast path --------------------------------------------------------------------------------


class _Fallback(Exception):
    """The fast path met something it will not judge; the careful path takes over."""


def _line_starts(data: bytes) -> np.ndarray:
    """Byte offset of the start of every physical line, plus ``len(data)`` at the end."""
    buf = np.frombuffer(data, dtype=np.uint8)
    step = 1 << 24  # chunks keep the temporary mask small (no 1-byte-per-byte copy of the file)
    parts = [np.zeros(1, dtype=np.int64)]
    for at in range(0, len(buf), step):
        parts.append(np.flatnonzero(buf[at : at + step] == 10).astype(np.int64) + (at + 1))
    if len(buf) and buf[-1] != 10:
        parts.append(np.array([len(buf)], dtype=np.int64))
    return np.concatenate(parts)


def _nonblank_lines(data: bytes, starts: np.ndarray | None = None) -> np.ndarray:
    """1-based numbers of the lines of ``data`` that are not empty (a lone "\\r" is empty)."""
    if starts is None:
        starts = _line_starts(data)
    buf = np.frombuffer(data, dtype=np.uint8)
    first, after = starts[:-1], starts[1:]
    length = after - first - (buf[np.maximum(after - 1, 0)] == 10) if len(buf) else after - first
    one = length == 1
    cr = np.zeros(len(first), dtype=bool)
    cr[one] = buf[first[one]] == 13
    # whitespace-only lines are rare; if pyarrow skips them the row count below differs
    # and the careful path numbers the lines instead.
    return np.flatnonzero((length > 0) & ~cr) + 1


def _read_json(data, fields: list[str]):
    import pyarrow as pa
    import pyarrow.json as pj

    return pj.read_json(
        pa.BufferReader(data),
        read_options=pj.ReadOptions(block_size=1 << 22, use_threads=True),
        parse_options=pj.ParseOptions(
            explicit_schema=pa.schema([pa.field(f, FIELDS[f]) for f in fields]),
            unexpected_field_behavior="ignore",
        ),
    )


def _fast_jsonl(data: bytes, fields: frozenset[str] = _ALL_FIELDS):
    """Two passes: the common fields on every line, then the fields that only created,
    progress and group records carry on those lines alone (far cheaper than one pass with
    every field in the schema). Rows are numbered with their physical lines."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not data or b"\x00" in data:
        raise _Fallback
    hot = [f for f in FIELDS if f in fields and f not in _COLD_FIELDS]
    cold = [f for f in FIELDS if f in fields and f in _COLD_FIELDS]
    try:
        table = _read_json(data, hot)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise _Fallback from None
    starts = _line_starts(data)
    lines = _nonblank_lines(data, starts)
    if len(lines) != table.num_rows or not table.num_rows:
        raise _Fallback
    ev = pc.dictionary_encode(table.column("event").combine_chunks())
    table = table.set_column(table.column_names.index("event"), "event", ev)
    if cold and table.num_rows:
        names = ev.dictionary.to_pylist()
        lut = np.array([e in _COLD_EVENTS for e in names] + [False], dtype=bool)
        rows = np.flatnonzero(lut[ev.indices.fill_null(-1).to_numpy()])
        every = pa.LargeStringArray.from_buffers(
            len(starts) - 1, pa.py_buffer(starts), pa.py_buffer(data)
        )
        picked = every.take(pa.array(lines[rows] - 1))
        offsets = np.frombuffer(picked.buffers()[1], dtype=np.int64)
        body = picked.buffers()[2]
        if len(rows):
            body = body.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
            if body.size and body[body.size - 1] != 10:
                body = pa.py_buffer(body.to_pybytes() + b"\n")
        try:
            sub = _read_json(body, cold) if len(rows) else None
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            raise _Fallback from None
        if sub is not None and sub.num_rows != len(rows):
            raise _Fallback
        n = table.num_rows
        where = np.full(n, -1, dtype=np.int32)
        where[rows] = np.arange(len(rows), dtype=np.int32)
        missing = where < 0
        for f in cold:
            typ = FIELDS[f]
            part = sub.column(f).combine_chunks() if sub is not None else None
            if part is None or part.null_count == len(part):
                col = pa.nulls(n, typ)
            elif pa.types.is_floating(typ):
                # spread the few values over the rows without a gather of every row
                full = np.full(n, np.nan)
                full[rows] = part.to_numpy(zero_copy_only=False)
                col = pa.array(full, mask=missing | np.isnan(full))
            elif pa.types.is_string(typ):
                # the parsed values become the dictionary; rows point into it (no string copy)
                col = pa.DictionaryArray.from_arrays(pa.array(where, mask=missing), part)
            else:
                col = part.take(pa.array(where, mask=missing))
            table = table.append_column(f, col)
        table = table.select([f for f in FIELDS if f in table.column_names])
    return table, lines


def _fast_csv(data: bytes, fields: frozenset[str] = _ALL_FIELDS):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if b"\x00" in data:
        raise _Fallback
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    names = [h.strip() for h in next(csv.reader([header]))] if header.strip() else []
    if "t" not in names or "event" not in names or len(set(names)) != len(names):
        raise _Fallback
    types = {
        n: (pa.string() if n in LIST_FIELDS else FIELDS[n])
        for n in names
        if n in FIELDS and n in fields
    }
    try:
        table = pcsv.read_csv(
            pa.BufferReader(data),
            convert_options=pcsv.ConvertOptions(
                column_types=types,
                include_columns=list(types),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                true_values=["true"],
                false_values=["false"],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise _Fallback from None
    lines = _nonblank_lines(data)[1:]
    if len(lines) != table.num_rows:
        raise _Fallback
    for n in LIST_FIELDS & set(table.column_names):
        try:
            parsed = [None if v is None else json.loads(v) for v in table.column(n).to_pylist()]
            arr = pa.array(parsed, type=FIELDS[n])
        except (ValueError, pa.ArrowInvalid, pa.ArrowTypeError):
            raise _Fallback from None
        table = table.set_column(table.column_names.index(n), n, arr)
    return table, lines


def _dictionary(col, parse=None):
    """The column dictionary-encoded; with ``parse``, its dictionary mapped to canonical names.

    The checker reads the integer codes straight from these columns, so each text column is
    hashed once. ``parse`` raising (an unknown name) sends the caller to the careful path.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    enc = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    if parse is None:
        return enc
    values = enc.dictionary.to_pylist()
    canon = [parse(v) for v in values]
    if canon == values:
        return enc
    return pa.DictionaryArray.from_arrays(enc.indices, pa.array(canon, pa.string()))


def _status(v: Any) -> str:
    key = v.strip().lower() if isinstance(v, str) else v
    return _STATUS[key]


def _validate_table(table, lines: np.ndarray, fields: frozenset[str] = _ALL_FIELDS):
    """Vectorised twin of ``validate_record`` + the t-order rule; raises ``_Fallback`` on doubt.

    Returns the table with only ``FIELDS`` columns (canonical types and names) plus ``line``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    names = [n for n in FIELDS if n in table.column_names and n in fields]
    if "t" not in names or "event" not in names:
        raise _Fallback
    table = table.select(names)
    for n in names:
        want = FIELDS[n]
        have = table.schema.field(n).type
        if have.equals(want) or (n == "operation_id" and pa.types.is_string(have)):
            continue
        if (
            pa.types.is_dictionary(have)
            and pa.types.is_string(have.value_type)
            and (pa.types.is_string(want))
        ):
            continue
        numeric = pa.types.is_integer(have) or pa.types.is_floating(have)
        if pa.types.is_string(want):
            # only a numeric status (6/5) is turned into text; other text fields must be text
            if not (
                pa.types.is_large_string(have) or (n == "status" and pa.types.is_integer(have))
            ):
                raise _Fallback
            want = pa.string()
        elif (pa.types.is_integer(want) or pa.types.is_floating(want)) and not numeric:
            raise _Fallback
        try:
            table = table.set_column(names.index(n), n, pc.cast(table.column(n), want))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            raise _Fallback from None
    t = table.column("t").to_numpy()
    if len(t) and (not np.isfinite(t).all() or (np.diff(t) < 0).any()):
        raise _Fallback
    for n in _NUMBER_FIELDS - {"t"}:
        if n in names:
            col = table.column(n).to_numpy()
            if np.isinf(col).any():
                raise _Fallback
    if table.column("event").null_count:
        raise _Fallback
    table = table.set_column(names.index("event"), "event", _dictionary(table.column("event")))
    evc = table.column("event").chunk(0) if table.num_rows else None
    kinds = evc.dictionary.to_pylist() if evc is not None else []
    idx = evc.indices.to_numpy() if evc is not None else np.zeros(0, dtype=np.int32)
    valid: dict[str, np.ndarray] = {}

    def ok(name: str) -> np.ndarray:
        if name not in valid:
            valid[name] = (
                table.column(name).is_valid().to_numpy(zero_copy_only=False)
                if name in names
                else np.zeros(len(idx), dtype=bool)
            )
        return valid[name]

    # a field on a record whose kind does not define it is ignored (as validate_record does)
    for n in names:
        col = table.column(n)
        if n in COMMON_FIELDS or col.null_count == len(col):
            continue
        here = np.array([n in EVENT_FIELDS.get(e, ()) for e in kinds], dtype=bool)[idx]
        stray = ok(n) & ~here
        if stray.any():
            cleared = pc.if_else(pa.array(here), col, pa.scalar(None, col.type))
            table = table.set_column(names.index(n), n, cleared)
            valid[n] = ok(n) & here
    parsers = {
        "kind": lambda v: parse_kind(v).value,
        "status": _status,
        **{n: (lambda v: parse_state(v).value) for n in _STATE_FIELDS},
    }
    try:
        for n, parse in parsers.items():
            if n in names:
                table = table.set_column(names.index(n), n, _dictionary(table.column(n), parse))
    except (UnknownStateError, UnknownKindError, KeyError, AttributeError, TypeError):
        raise _Fallback from None
    # required fields: one pass per field over the rows of the kinds that need it
    for f in {f for k in kinds for f in REQUIRED.get(k, ())}:
        if f in names and not table.column(f).null_count:
            continue
        need = np.array([f in REQUIRED.get(k, ()) for k in kinds], dtype=bool)[idx]
        if (need & ~ok(f)).any():
            raise _Fallback
    if "created" in kinds:
        created = np.flatnonzero(idx == kinds.index("created"))
        kcol = table.column("kind").chunk(0)
        knames = kcol.dictionary.to_pylist()
        client = np.array([k == "client" for k in knames] + [False], dtype=bool)[
            kcol.indices.take(pa.array(created)).fill_null(-1).to_numpy()
        ]
        if not ok("computer")[created[client]].all():
            raise _Fallback
        if (ok("progress_of")[created] & ~ok("threshold")[created]).any():
            raise _Fallback
    return table.append_column("line", pa.array(np.asarray(lines, dtype=np.int64)))


def read_table(
    path: str | Path, input_format: str | None = None, *, fields: frozenset[str] = _ALL_FIELDS
):
    """The whole trace at ``path`` as a validated pyarrow Table (fields present + ``line``).

    Uses pyarrow's multithreaded readers and vectorised validation; on anything it cannot
    vouch for it re-reads the file record by record (``read_records``), so it raises the
    same precise ``InputError`` or returns the same values. Text columns that name states,
    kinds, statuses and events come dictionary-encoded. ``fields`` limits what is read.
    """
    path = Path(path)
    data = _open_bytes(path)
    fmt = _resolve_format(path, input_format, data[:4096])
    try:
        if fmt == "jsonl":
            return _validate_table(*_fast_jsonl(data, fields), fields)
        if fmt == "csv":
            return _validate_table(*_fast_csv(data, fields), fields)
        if fmt == "parquet":
            table = _parquet_table(path, data)
            lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
            return _validate_table(table, lines, fields)
    except _Fallback:
        pass
    del data
    return table_from_records(read_records(path, fmt, fields=fields))


def read_frame(path: str | Path, input_format: str | None = None):
    """The whole trace at ``path`` as a DataFrame: one column per field present, plus ``line``.

    Same reading and validation as ``read_table``; missing values are None/NaN.
    """
    import pyarrow as pa

    table = read_table(path, input_format)
    keep = [
        f.name
        for f in table.schema
        if f.name in ("t", "event", "line") or table.column(f.name).null_count < table.num_rows
    ]
    table = table.select(keep)
    plain = [
        pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(plain)).to_pandas()


# -- Landscape API export ---------------------------------------------------------------------


def _load_json_document(data: bytes, source: str) -> list[Any]:
    text = _decode_text(data, source)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        msg = str(exc).split(":")[0]
        raise _bad(source, line, f"malformed JSON ({msg}) in a Landscape export") from None
    if isinstance(doc, Mapping):
        for key in ("activities", "results", "result"):
            if isinstance(doc.get(key), list):
                return doc[key]
    if not isinstance(doc, list):
        raise _bad(
            source,
            None,
            "a Landscape export must be a JSON list of activity objects "
            "(or an object with an 'activities' or 'results' list)",
        )
    return doc


#: Landscape statuses (legacy API, UI and kit names) -> kit states.
_TIME_FIELDS = (
    "creation_time",
    "delivery_time",
    "completion_time",
    "approval_time",
    "deliver_after_time",
)


def _timestamp(v: object, field: str, source: str, entry: int) -> float | None:
    if v is None or v == "":
        return None
    if _is_number(v):
        return float(v)  # seconds since the epoch
    if isinstance(v, str):
        s = v.strip()
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            pass
        else:
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)  # Landscape reports UTC
            return dt.timestamp()
    raise _bad(
        source, entry, f"field {field!r} must be an ISO 8601 time or epoch seconds, got {v!r}"
    )


def _landscape_kind(obj: Mapping[str, Any]) -> str:
    typ = obj.get("type")
    if isinstance(typ, str) and typ in CATALOG:
        return CATALOG[typ].kind.value
    return Kind.CLIENT.value if obj.get("computer_id") is not None else Kind.SERVER.value


def landscape_records(
    activities: list[Any], source: str = "<landscape export>"
) -> Iterator[tuple[int, Record]]:
    """Derive TRACE.md records from a Landscape API activities export.

    Each activity yields a ``created`` record at its ``creation_time`` (Blocked when it has
    an ``approval_time`` or is still unapproved, Scheduled when ``deliver_after_time`` lies
    after its creation, Waiting when its status says so, else Queued), an ``approve`` and a
    Blocked -> Queued move at ``approval_time``, a move to In Progress at ``delivery_time``
    and a move to its final status at ``completion_time``. Parents (activities other
    entries name as ``parent_id``, without a computer) become ``group`` records.
    Records are ordered by time, each activity's in life-cycle order, so a timestamp that
    runs backwards shows up as a T1/T2 violation. The line of every record is the 1-based
    position of its activity in the export.
    """
    parents = {
        str(a.get("parent_id"))
        for a in activities
        if isinstance(a, Mapping) and a.get("parent_id") is not None
    }
    raw: list[tuple[float, int, int, int, Record]] = []  # (t, entry, step, seq, rec)
    origin: float | None = None
    parsed: list[tuple[int, Mapping[str, Any], dict[str, float | None]]] = []
    for entry, obj in enumerate(activities, start=1):
        if not isinstance(obj, Mapping):
            raise _bad(source, entry, "each entry of a Landscape export must be a JSON object")
        if obj.get("id") is None:
            raise _bad(source, entry, "missing required field 'id' of a Landscape activity")
        times = {f: _timestamp(obj.get(f), f, source, entry) for f in _TIME_FIELDS}
        if times["creation_time"] is None:
            raise _bad(source, entry, "missing required field 'creation_time'")
        if obj.get("activity_status") is None:
            raise _bad(source, entry, "missing required field 'activity_status'")
        parsed.append((entry, obj, times))
        ct = times["creation_time"]
        origin = ct if origin is None else min(origin, ct)
    for entry, obj, times in parsed:
        assert origin is not None
        rel = {f: (None if v is None else v - origin) for f, v in times.items()}
        aid = str(obj["id"])
        status_name = obj["activity_status"]
        try:
            status = parse_state(status_name)
        except UnknownStateError as exc:
            raise _bad(source, entry, f"field 'activity_status': {exc}") from None
        if aid in parents and obj.get("computer_id") is None:
            raw.append(
                (
                    rel["creation_time"],
                    entry,
                    0,
                    0,
                    {
                        "t": rel["creation_time"],
                        "event": "group",
                        "activity": aid,
                        "type": str(obj.get("type") or "ActivityGroup"),
                    },
                )
            )
            continue
        kind = _landscape_kind(obj)
        created: Record = {
            "t": rel["creation_time"],
            "event": "created",
            "activity": aid,
            "kind": kind,
            "type": str(obj.get("type") or "unknown"),
        }
        if obj.get("computer_id") is not None:
            created["computer"] = str(obj["computer_id"])
        elif kind == Kind.CLIENT:
            created["computer"] = "unknown"
        da = rel["deliver_after_time"]
        if status in START_STATES and rel["approval_time"] is None:
            start = status
        elif rel["approval_time"] is not None:
            start = State.BLOCKED
        elif da is not None and da > rel["creation_time"]:
            start = State.SCHEDULED
        else:
            start = State.QUEUED
        created["state"] = start.value
        if da is not None:
            created["deliver_after"] = da
        if obj.get("parent_id") is not None:
            created["parent"] = str(obj["parent_id"])
        steps: list[tuple[float, Record]] = [(rel["creation_time"], created)]
        state = start
        if rel["approval_time"] is not None:
            at = rel["approval_time"]
            steps.append((at, {"t": at, "event": "approve", "activity": aid}))
            nxt = State.SCHEDULED if status == State.SCHEDULED else State.QUEUED
            if nxt is State.QUEUED:
                steps.append((at, _move(at, aid, state, nxt)))
                state = nxt
        if rel["delivery_time"] is not None:
            dt = rel["delivery_time"]
            steps.append((dt, _move(dt, aid, state, State.IN_PROGRESS)))
            state = State.IN_PROGRESS
        if status in (State.SUCCEEDED, State.FAILED, State.CANCELED) and status != state:
            end = rel["completion_time"]
            if end is None:
                # no completion time: the move happened at an unknown time; place it at the
                # latest time the export gives for this activity.
                end = max(v for v in rel.values() if v is not None)
            steps.append((end, _move(end, aid, state, status)))
        elif status is State.IN_PROGRESS and state is not State.IN_PROGRESS:
            at = rel["completion_time"] or max(v for v in rel.values() if v is not None)
            steps.append((at, _move(at, aid, state, status)))
        for seq, (t, rec) in enumerate(steps):
            raw.append((t, entry, 1, seq, rec))
    raw.sort(key=lambda x: (x[0], x[1], x[2], x[3]))
    for _t, entry, _s, _q, rec in raw:
        yield entry, validate_record(rec, source, entry)


def _move(t: float, aid: str, src: State, dst: State) -> Record:
    return {"t": t, "event": "transition", "activity": aid, "from": src.value, "to": dst.value}
