"""The fast parsers: pyarrow reads a block of a JSON Lines or CSV trace into columns.

They parse with the explicit schema of ``schema.FIELDS`` and number the rows with their
physical lines; ``validate.validate_table`` then judges the columns. Anything unusual (a
type pyarrow refuses, lines it cannot number one record each) raises ``Fallback``, and the
reader goes the careful way, record by record.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pj

from ._io import MAX_LINE_BYTES
from .schema import COMMON_FIELDS, EVENT_FIELDS, FIELDS, LIST_FIELDS
from .validate import ALL_FIELDS, Fallback

__all__ = ["fast_csv", "fast_jsonl", "nonblank_lines"]

#: Events whose records carry fields no other record has: the JSON Lines parser reads those
#: fields from these lines alone (parsing cost grows with the number of schema fields).
_COLD_EVENTS = ("created", "progress", "group")
#: Fields only those events define. ``kind`` and ``state`` stay in the first pass: few
#: distinct values, so one dictionary-encode of a full column beats a per-row dictionary.
_COLD_FIELDS = frozenset(
    f
    for f in FIELDS
    if f not in COMMON_FIELDS
    and all(e in _COLD_EVENTS for e, fs in EVENT_FIELDS.items() if f in fs)
) - {"kind", "state"}


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


def _content(data: bytes, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first byte, length) of every line without its newline and a final "\\r"."""
    buf = np.frombuffer(data, dtype=np.uint8)
    first, after = starts[:-1], starts[1:]
    if not len(buf):
        return first, after - first
    length = after - first - (buf[np.maximum(after - 1, 0)] == 10)
    cr = np.zeros(len(first), dtype=bool)
    some = np.flatnonzero(length > 0)
    cr[some] = buf[first[some] + length[some] - 1] == 13
    return first, length - cr


def nonblank_lines(data: bytes, starts: np.ndarray | None = None) -> np.ndarray:
    """1-based numbers of the lines of ``data`` that are not empty (a lone "\\r" is empty)."""
    if starts is None:
        starts = _line_starts(data)
    _, length = _content(data, starts)
    # whitespace-only lines are rare; if pyarrow skips them the row count differs and the
    # careful path numbers the lines instead.
    return np.flatnonzero(length > 0) + 1


def _record_lines(data: bytes, starts: np.ndarray, rows: int) -> np.ndarray:
    """The line of each of the ``rows`` records pyarrow read, when each non-empty line holds
    exactly one; else ``Fallback``.

    pyarrow reads objects, not lines: it reads ``{...} {...}`` on one line as two rows and
    an object broken over two lines as one, and the two can cancel out in a row count.
    A line that starts with "{" and ends with "}" cannot end inside an object that goes on
    to the next line (that line would start with "{" right after a "}", which is not JSON),
    so on such lines one row per line is exactly "as many rows as lines"."""
    if len(starts) > 1 and int(np.diff(starts).max()) > MAX_LINE_BYTES:
        raise Fallback  # the careful path names the over-long line
    first, length = _content(data, starts)
    full = np.flatnonzero(length > 0)
    if len(full) != rows:
        raise Fallback
    buf = np.frombuffer(data, dtype=np.uint8)
    begin = first[full]
    if not ((buf[begin] == 123).all() and (buf[begin + length[full] - 1] == 125).all()):
        raise Fallback  # "{" ... "}" on every line, or the careful path judges the lines
    return full + 1


def _read_json(data, fields: list[str]):
    # one thread per block: the caller parses a block on every core, and pyarrow's own
    # threads would cut each block again (about 15% more CPU time, measured)
    return pj.read_json(
        pa.BufferReader(data),
        read_options=pj.ReadOptions(block_size=1 << 22, use_threads=False),
        parse_options=pj.ParseOptions(
            explicit_schema=pa.schema([pa.field(f, FIELDS[f]) for f in fields]),
            unexpected_field_behavior="ignore",
        ),
    )


def fast_jsonl(data: bytes, fields: frozenset[str] = ALL_FIELDS):
    """The block's records as columns, and the line of each. Two passes: the common fields
    on every line, then the fields that only created, progress and group records carry on
    those lines alone (far cheaper than one pass with every field in the schema: parsing
    cost grows with the number of schema fields on every line)."""

    if not data or b"\x00" in data:
        raise Fallback
    wanted = [f for f in FIELDS if f in fields]
    cold = [f for f in wanted if f in _COLD_FIELDS]
    try:
        table = _read_json(data, [f for f in wanted if f not in cold])
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise Fallback from None
    starts = _line_starts(data)
    lines = _record_lines(data, starts, table.num_rows)
    if not table.num_rows:
        raise Fallback
    if cold:
        table = _cold_pass(data, table, starts, lines, cold)
    return table, lines


def _cold_pass(data: bytes, table: pa.Table, starts: np.ndarray, lines: np.ndarray, cold):
    """``table`` with the ``cold`` fields, read from the lines of the events that carry them."""
    ev = pc.dictionary_encode(table.column("event").combine_chunks())
    table = table.set_column(table.column_names.index("event"), "event", ev)
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
        raise Fallback from None
    if sub is not None and sub.num_rows != len(rows):
        raise Fallback
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
            # the parsed values become the dictionary; rows point into it (no string
            # copy). A dictionary holds no nulls (blocks' dictionaries are unified later)
            ok = part.is_valid().to_numpy(zero_copy_only=False)
            at = np.where(missing, 0, where)
            keep = ~missing & ok[at]
            index = (np.cumsum(ok) - 1)[at].astype(np.int32)
            col = pa.DictionaryArray.from_arrays(pa.array(index, mask=~keep), part.drop_null())
        else:
            col = part.take(pa.array(where, mask=missing))
        table = table.append_column(f, col)
    return table.select([f for f in FIELDS if f in table.column_names])


def fast_csv(data: bytes, fields: frozenset[str] = ALL_FIELDS):

    if b"\x00" in data:
        raise Fallback
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace").removeprefix("\ufeff")
    names = [h.strip() for h in next(csv.reader([header]))] if header.strip() else []
    if "t" not in names or "event" not in names or len(set(names)) != len(names):
        raise Fallback
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
        raise Fallback from None
    lines = nonblank_lines(data)[1:]
    if len(lines) != table.num_rows:
        raise Fallback
    for n in LIST_FIELDS & set(table.column_names):
        try:
            parsed = [None if v is None else json.loads(v) for v in table.column(n).to_pylist()]
            arr = pa.array(parsed, type=FIELDS[n])
        except (ValueError, pa.ArrowInvalid, pa.ArrowTypeError):
            raise Fallback from None
        table = table.set_column(table.column_names.index(n), n, arr)
    return table, lines
