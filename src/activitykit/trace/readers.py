"""Trace readers: JSON Lines (optionally gzip), CSV, Parquet and Landscape API exports.

Two paths, one contract (the rules of ``schema``, applied by ``validate``):

- ``read_records`` is the *careful* path. It parses one record at a time and validates it
  with ``validate_record``, so the first bad record raises an ``InputError`` that names the
  file, the line (row) and the rule that was broken.
- ``read_table`` is the *fast* path the batch checker and the reports use. ``_fast`` reads
  the file into columns block by block (the kit's own plain lines cut out by position,
  anything else by pyarrow's JSON reader with the explicit schema) and ``validate_table``
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
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from .._cpus import usable_cpus
from ..errors import InputError
from ._fast import fast_csv, fast_jsonl
from ._io import (
    INPUT_FORMATS,
    MAX_LINE_BYTES,
    decode_text,
    is_gzip,
    line_too_long,
    parse_json,
    read_document,
    read_head,
    regular_file,
    resolve_format,
    text_blocks,
)
from .landscape import landscape_records, load_document
from .schema import FIELDS, LIST_FIELDS
from .validate import (
    ALL_FIELDS,
    Fallback,
    Monotone,
    Record,
    _bad,
    dictionary,
    validate_record,
    validate_table,
)

__all__ = [
    "INPUT_FORMATS",
    "MAX_GZIP_PARQUET_BYTES",
    "read_records",
    "read_table",
    "table_from_records",
]


#: A gzipped Parquet file is inflated into memory before pyarrow can seek in it.
MAX_GZIP_PARQUET_BYTES = 2 * 2**30

# The csv module refuses a field beyond 128 KiB, pyarrow's reader (the fast path) does not:
# a field as long as a line may be (the limit is process-wide: raised, never lowered).
csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))


def _csv_lines(path: Path, source: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a CSV trace, block by block (a line keeps its line end:
    LF, CRLF or CR). A leading UTF-8 byte order mark (spreadsheets write one) is dropped."""
    for first, block in text_blocks(path, cr=True):
        text = decode_text(block, source, first, cr=True)
        if first == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield from enumerate(io.StringIO(text, newline=""), start=first)


def _jsonl_records(
    path: Path, source: str, fields: frozenset[str] = ALL_FIELDS
) -> Iterator[tuple[int, Record]]:
    rule = "each line must be one JSON object"
    for first, block in text_blocks(path):
        if block.isspace():
            continue
        text = decode_text(block, source, first)
        for n, raw in enumerate(text.split("\n"), start=first):
            if not raw.strip():
                continue
            if len(raw) > MAX_LINE_BYTES:
                raise line_too_long(source, n)
            obj = parse_json(raw, source, n, rule)
            yield n, validate_record(obj, source, n, fields)


def _csv_integer(s: str) -> int | float:
    """An integer literal's value (``s``: ASCII digits after at most one sign); beyond the
    4,300 digits ``int()`` converts, a float (infinite), which the field's rule names as a
    number beyond 64 bits, as orjson's value of the same literal in JSON Lines is."""
    try:
        return int(s)
    except ValueError:
        return float(s)


def _digits(s: str) -> bool:
    """ASCII digits after at most one sign (``str.isdigit`` takes other scripts' too)."""
    body = s[1:] if s[:1] in ("+", "-") else s
    return body.isascii() and body.isdigit()


def _csv_value(name: str, v: str, source: str, line: int) -> object:
    typ = FIELDS[name]
    s = v.strip()
    if name in LIST_FIELDS:
        return parse_json(s, source, line, f"field {name!r} must hold a JSON list")
    if name == "operation_id":
        return _csv_integer(s) if _digits(s) and s[:1] != "+" else s
    if name == "urgent":
        low = s.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        return v
    if str(typ) in ("double", "int64"):
        if "_" in s or not s.isascii():  # int() and float() read "9_999" and "٦٨" too
            return v  # validate_record reports the wrong type with the field name
        try:
            # an integer literal stays an integer, so a 400-digit one is named as such
            if _digits(s):
                return _csv_integer(s)
            return int(s) if str(typ) == "int64" else float(s)
        except ValueError:
            return v  # validate_record reports the wrong type with the field name
    return v


def _csv_records(
    path: Path, source: str, fields: frozenset[str] = ALL_FIELDS
) -> Iterator[tuple[int, Record]]:
    lines = _csv_lines(path, source)
    reader = csv.reader(text for _, text in lines)
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
    twice = sorted({h for h in header if h in FIELDS and header.count(h) > 1})
    if twice:
        where = ", ".join(
            f"{h!r} (columns {', '.join(str(i + 1) for i, x in enumerate(header) if x == h)})"
            for h in twice
        )
        raise _bad(source, 1, f"CSV header names {where} more than once; each field has one column")
    cols = [(i, h) for i, h in enumerate(header) if h in FIELDS]
    # a record is named by the physical line it starts on: a quoted field may hold newlines,
    # so the reader's count of lines read (``line_num``) is followed, not the rows
    n = reader.line_num
    try:
        for row in reader:
            n, after = n + 1, reader.line_num
            if not row or all(not c.strip() for c in row):
                n = after
                continue
            if len(row) > len(header):
                raise _bad(source, n, f"{len(row)} cells but the header has {len(header)}")
            rec: Record = {}
            for i, name in cols:
                if i < len(row) and row[i] != "":
                    rec[name] = _csv_value(name, row[i], source, n)
            yield n, validate_record(rec, source, n, fields)
            n = after
    except csv.Error as exc:
        raise _bad(source, n + 1, f"malformed CSV: {exc}") from None


def _parquet_table(path: Path, fields: frozenset[str] = ALL_FIELDS) -> pa.Table:
    """The Parquet file's columns that are trace fields in ``fields`` (only those are read).

    A regular file, read where it lies (Parquet seeks to its footer, then to the columns
    wanted), so a file's size costs no memory; a gzipped one is inflated first, capped."""
    import pyarrow.parquet as pq  # on first use: 25 ms of every check start-up otherwise

    regular_file(path)
    try:
        if is_gzip(path):
            data = read_document(path, MAX_GZIP_PARQUET_BYTES, "a gzipped Parquet file")
            schema = pq.read_schema(pa.BufferReader(data))
            names = [n for n in schema.names if n in fields or n not in FIELDS]
            return pq.read_table(pa.BufferReader(data), columns=names)
        names = [n for n in pq.read_schema(path).names if n in fields or n not in FIELDS]
        return pq.read_table(path, columns=names, memory_map=True)
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
    # No trace field is of an Arrow temporal type (times are seconds, numbers): as text,
    # such a value is refused by its field's rule, with its row, where to_pylist would
    # raise on one in nanoseconds
    for i, field in enumerate(table.schema):
        if pa.types.is_temporal(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
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
    source = str(path)
    fmt = resolve_format(path, input_format, read_head(path))
    if fmt == "landscape":
        doc = load_document(path)
        for n, rec in landscape_records(doc, source):
            yield n, {k: v for k, v in rec.items() if k in fields}
        return
    if fmt == "parquet":
        gen = _parquet_records(_parquet_table(path), source, fields)
    elif fmt == "csv":
        gen = _csv_records(path, source, fields)
    else:
        gen = _jsonl_records(path, source, fields)
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
    path: str | Path,
    input_format: str | None = None,
    *,
    fields: frozenset[str] = ALL_FIELDS,
    encode: frozenset[str] = frozenset(),
) -> pa.Table:
    """The whole trace at ``path`` as a validated pyarrow Table (fields present + ``line``).

    Uses pyarrow's readers on every core and vectorised validation; on anything it cannot
    vouch for it re-reads the file record by record (``read_records``), so it raises the
    same precise ``InputError`` or returns the same values. Text columns of states, kinds,
    statuses, events and (fast path) ``encode`` come dictionary-encoded. ``fields`` limits
    what is read.
    """
    path = Path(path)
    fmt = resolve_format(path, input_format, read_head(path))
    try:
        if fmt in ("jsonl", "csv"):
            return _fast_text(path, fmt, fields, encode)
        if fmt == "parquet":
            table = _parquet_table(path, fields)
            lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
            return validate_table(table, lines, fields)
    except Fallback:
        pass
    return table_from_records(read_records(path, fmt, fields=fields))


#: Blocks parsed at once by ``_fast_text``, one per core, each on one thread (pyarrow and
#: numpy release the GIL; line numbers and validation run on the block's thread too).
_WORKERS = max(2, min(usable_cpus(), 8))
#: Blocks read ahead of the one awaited: one more than the workers, so a worker that ends
#: its block finds the next one read and waiting (not the file read after the wait).
_IN_FLIGHT = _WORKERS + 1


def _utf8(block: bytes) -> bool:
    """Is ``block`` UTF-8 text? The plain parser cuts text without decoding it, and pyarrow's
    readers judge only the columns they convert. Arrow's check, in place: ``bytes.decode``
    took three to four times as long on 8 MiB of non-ASCII text (measured), and made a
    block-sized string for nothing."""
    offsets = pa.py_buffer(np.array([0, len(block)], dtype=np.int64))
    text = pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(block))
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _parse_block(
    fmt: str,
    first: int,
    block: bytes,
    header: bytes,
    fields: frozenset[str],
    encode: frozenset[str],
):
    """One block's validated table (``None``: nothing in it), lines numbered in the file."""
    if not block.isascii() and not _utf8(block):  # (isascii: a fast test)
        raise Fallback  # the careful path names the line
    if fmt == "csv":
        if first == 1:
            table, lines = fast_csv(block, fields)
        else:
            # the header heads every block; data line k (k >= 2) is file line first+k-2
            table, lines = fast_csv(header + block, fields)
            lines = lines + (first - 2)
    else:
        table, lines = fast_jsonl(block, fields)
        lines = lines + (first - 1)
    if not table.num_rows:
        return None
    table = validate_table(table, lines, fields)
    # a field no record of the block has is left out, as the careful path leaves it out of
    # the whole trace: 7.8M records of one kind carry a dozen empty columns otherwise (0.5
    # GiB of buffers, measured); ``_same_types`` brings back the ones another block has
    empty = [
        i
        for i, name in enumerate(table.column_names)
        if name not in ("t", "event", "line") and table.column(i).null_count == table.num_rows
    ]
    if empty:
        table = table.drop_columns([table.column_names[i] for i in empty])
    for name in encode & set(table.column_names):
        i = table.column_names.index(name)
        table = table.set_column(i, name, dictionary(table.column(i)))
    return table


def _fast_text(path: Path, fmt: str, fields: frozenset[str], encode: frozenset[str]) -> pa.Table:
    """The fast path over a JSON Lines or CSV trace, one block (``text_blocks``) at a time:
    memory holds the columns read so far and ``_IN_FLIGHT`` blocks, never the file. Blocks
    are parsed in worker threads but judged in file order: the first block that raises
    decides, as if they were read one by one, and an error reading a later block waits
    until the earlier ones have been judged."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    parts: list[pa.Table] = []
    header = b""
    last_t = -np.inf

    def collect(future) -> None:
        nonlocal last_t
        part = future.result()
        if part is None:
            return
        t = part.column("t")
        if t[0].as_py() < last_t:
            raise Fallback  # t decreases across blocks: the careful path names the lines
        last_t = t[-1].as_py()
        parts.append(part)

    blocks = text_blocks(path, cr=fmt == "csv")
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="trace-block") as pool:
        try:
            while True:
                try:
                    first, block = next(blocks)
                except StopIteration:
                    break
                except InputError:
                    for future in pending:  # an earlier block's verdict comes first
                        collect(future)
                    pending.clear()
                    raise
                if fmt == "csv" and not header:
                    header = block.split(b"\n", 1)[0].removeprefix(b"\xef\xbb\xbf") + b"\n"
                elif block.isspace():
                    continue  # blank lines only: nothing to parse, and no rows to number
                pending.append(pool.submit(_parse_block, fmt, first, block, header, fields, encode))
                if len(pending) >= _IN_FLIGHT:
                    collect(pending.popleft())
            while pending:
                collect(pending.popleft())
        finally:
            for future in pending:
                future.cancel()
            blocks.close()
        if fmt == "csv" and not header:
            raise Fallback  # an empty file: the careful path's (empty) table
        if not parts:
            raise Fallback
        if len(parts) == 1:
            return parts[0]
        return _join(parts, pool)


def _join(parts: list[pa.Table], pool) -> pa.Table:
    """The blocks' tables as one table of one chunk per column, dictionaries unified: the
    columns joined on the workers at once, the biggest first (``Table.combine_chunks`` joins
    one column after the other: a quarter second of one core on a 2M-record trace)."""
    table = pa.concat_tables(_same_types(parts))

    def whole(col: pa.ChunkedArray) -> pa.Array:
        if pa.types.is_dictionary(col.type):
            col = col.unify_dictionaries()
        return col.combine_chunks()

    order = sorted(range(table.num_columns), key=lambda i: -table.column(i).nbytes)
    joined = {i: pool.submit(whole, table.column(i)) for i in order}
    return pa.Table.from_arrays(
        [joined[i].result() for i in range(table.num_columns)], schema=table.schema
    )


def _same_types(parts: list[pa.Table]) -> list[pa.Table]:
    """Blocks' tables with the same columns, one type each: a column a block lacks (it had no
    value of it) is all missing there, and a column that is dictionary-encoded in some
    blocks and plain text in others (a block without a value of it) becomes plain text."""
    have = {n for p in parts for n in p.column_names}
    names = [n for n in (*FIELDS, "line") if n in have]
    type_of = {n: p.schema.field(n).type for p in reversed(parts) for n in p.column_names}
    out = [
        p
        if p.column_names == names
        else pa.table(
            {
                n: p.column(n) if n in p.column_names else pa.nulls(p.num_rows, type_of[n])
                for n in names
            }
        )
        for p in parts
    ]
    for i, name in enumerate(names):
        types = {p.schema.field(i).type for p in out}
        if len(types) == 1:
            continue
        plain = {tp.value_type if pa.types.is_dictionary(tp) else tp for tp in types}
        if len(plain) != 1:
            raise Fallback  # e.g. integer ids in one block, text ids in another
        want = plain.pop()
        out = [
            p if p.schema.field(i).type == want else p.set_column(i, name, p.column(i).cast(want))
            for p in out
        ]
    return out
