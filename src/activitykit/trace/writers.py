"""Trace writers: the only code in the kit that turns records into trace files.

Every writer is deterministic: the same records give byte-identical files (JSON with fixed
separators and key order as given, gzip with a zero mtime, Parquet with a fixed schema and
row-group size).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from .lines import LINE_OPTIONS, TraceFormatError, encode_line, unwritable
from .schema import ARROW_SCHEMA, FIELDS, LIST_FIELDS

if TYPE_CHECKING:
    import pyarrow.parquet as pq

__all__ = [
    "CsvTraceWriter",
    "JsonlTraceWriter",
    "MemoryTraceWriter",
    "ParquetTraceWriter",
    "TableTraceWriter",
    "TraceFormatError",
    "TraceWriter",
    "encode_line",
    "event_counts",
    "format_for_path",
    "open_writer",
    "write_trace",
]

Record = dict[str, Any]


class TraceWriter(Protocol):
    def write(self, record: Record) -> None: ...

    def close(self) -> None: ...


class _Base:
    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_many(self, records: Iterable[Record]) -> None:
        for r in records:
            self.write(r)

    def flush(self) -> None:
        """Hand what was written so far to the file, where the format allows it (a live
        run's trace is read while it grows); table formats write at close only."""

    def begin_close(self) -> None:
        """Every record is written: start what ``close`` does, without waiting for it, so
        that the producer's own end of run (a checker's report) overlaps it. Nothing but
        ``close`` may follow."""


class MemoryTraceWriter(_Base):
    """Keeps records in a list: for tests, notebooks and the conformance harness."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def write(self, record: Record) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass


class JsonlTraceWriter(_Base):
    """JSON Lines; ``.gz`` paths are gzip-compressed with a zero mtime (deterministic).

    orjson does the encoding: the simulator writes millions of records and the standard
    library's encoder was a quarter of its run time. Floats come out exactly as Python's
    ``repr`` prints them, so traces stay byte-identical across runs and platforms. Records
    are ~100 bytes: a 1 MiB buffer makes one system call per ~10,000 of them (the default
    8 KiB buffer cost a third of the writer's time in calls).
    """

    _BUFFER = 1 << 20

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        raw: IO[bytes]
        if self.path.suffix == ".gz":
            raw = gzip.GzipFile(self.path, "wb", mtime=0)
            self._fh: IO[bytes] = io.BufferedWriter(raw, buffer_size=self._BUFFER)
        else:
            raw = open(self.path, "wb", buffering=self._BUFFER)  # noqa: SIM115 - see close()
            self._fh = raw
        self._raw = raw

    def write(self, record: Record) -> None:
        try:
            self._fh.write(orjson.dumps(record, option=LINE_OPTIONS))
        except TypeError as exc:
            raise unwritable(record, exc) from None

    def write_line(self, line: bytes) -> None:
        """A record already encoded by ``encode_line`` (or with ``LINE_OPTIONS``)."""
        self._fh.write(line)

    def write_lines(self, lines: bytes | bytearray) -> None:
        """Records already encoded, whole lines one after another (a checker process's
        batch): one call for thousands of records."""
        self._fh.write(lines)

    def flush(self) -> None:
        # into the file; for .gz into the compressor only (a sync flush per call would cost
        # the compression), so a growing .gz trace shows its records in blocks
        if not self._raw.closed:
            self._fh.flush()

    def close(self) -> None:
        if not self._raw.closed:
            if self._fh is not self._raw:
                self._fh.flush()
            self._raw.close()


class TableTraceWriter(_Base):
    """Keeps the trace in memory as Arrow tables with the fixed ``ARROW_SCHEMA``.

    Records are batched into columns every ``batch_size`` records, so a long in-memory run
    holds compact columns rather than millions of dicts: less memory, and far less memory
    traffic when several runs share a machine (a sweep). ``table()`` returns the whole trace.

    A reader that needs only some of it says so: ``events`` keeps only records of those
    kinds and ``columns`` only those fields (the runner's summary reads about half the
    records and two thirds of the fields); ``counts`` then counts every record written.
    """

    def __init__(
        self,
        batch_size: int = 65_536,
        *,
        events: Iterable[str] | None = None,
        columns: Iterable[str] | None = None,
    ) -> None:
        self._rows = batch_size
        self._buf: list[Record] = []
        self._tables: list[pa.Table] = []
        self._keep = None if events is None else frozenset(events)
        self._schema = (
            ARROW_SCHEMA if columns is None else pa.schema([ARROW_SCHEMA.field(c) for c in columns])
        )
        #: with ``events``: records written per kind, kept or not (without, the table has
        #: them all, and the hot path of a Parquet trace pays for no counting)
        self.counts: dict[str, int] = {}

    def write(self, record: Record) -> None:
        if self._keep is not None:
            event = record["event"]
            self.counts[event] = self.counts.get(event, 0) + 1
            if event not in self._keep:
                return
        self._buf.append(record)
        if len(self._buf) >= self._rows:
            self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        # One C-level pass over the batch instead of a set difference per record.
        unknown = set().union(*self._buf) - FIELDS.keys()
        if unknown:
            bad = next(r for r in self._buf if not r.keys() <= FIELDS.keys())
            raise TraceFormatError(
                f"record has field(s) {sorted(unknown)} that the trace schema does not hold; "
                f"add them to activitykit.trace.schema.FIELDS: {bad!r}"
            )
        self._sink(pa.Table.from_pylist(self._buf, schema=self._schema))
        self._buf = []

    def _sink(self, table: pa.Table) -> None:
        self._tables.append(table)

    def table(self) -> pa.Table:
        """Every record written so far, as one table."""
        self._flush()
        if not self._tables:
            return self._schema.empty_table()
        return pa.concat_tables(self._tables)

    def close(self) -> None:
        self._flush()


class ParquetTraceWriter(_Base):
    """Parquet with the fixed ``ARROW_SCHEMA``; each batch of ``row_group_size`` records
    becomes a row group on disk.

    ``keep``: also keep the batches in memory, so that ``table()`` hands the trace to its
    summary and report without reading the file back (the batches are built for the file
    anyway). ``keep_events`` and ``keep_columns`` keep only those record kinds and fields
    (what a summary without a report reads), so that a million-computer run does not hold
    its whole trace twice; ``counts`` then counts every record written, by kind. The file
    is the same either way.

    The caller's thread only encodes each record as a line of JSON (orjson, as the JSON
    Lines writer), into one block per batch: turning dicts into Arrow columns
    (``Table.from_pylist``) held the GIL for ~2 s of a bench-fleet run's ~11. A background
    thread parses the blocks into Arrow tables against the schema (``pyarrow.json``, which
    releases the GIL), then encodes and compresses each row group, while the caller produces
    the next block: on a second core this costs the simulation nothing. A block is at most
    ``_BLOCK`` records (and one batch of ``write_lines``), so that what is left to parse
    when the caller closes the writer is small. Blocks are handled one at a time, in order,
    and a row group is written whole, so the file is byte-identical to a synchronous write
    of ``Table.from_pylist`` batches (tests/test_trace_writers.py). With a checker process,
    the caller's thread does not even write each line: the checker hands its batches on
    (``write_lines``). The JSON text is also the stricter check: a value of the wrong type
    is refused, not coerced (``True`` as a time, a string as ``depends_on``). NaN and
    infinities, which no field allows, become null, as in a JSON Lines trace. A refused
    record raises ``TraceFormatError`` at the next batch or at ``close``.
    """

    _BLOCK = 16_384
    _PARSE = pa_json.ParseOptions(explicit_schema=ARROW_SCHEMA, unexpected_field_behavior="error")

    def __init__(
        self,
        path: str | Path,
        row_group_size: int = 262_144,
        *,
        keep: bool = False,
        keep_events: Iterable[str] | None = None,
        keep_columns: Iterable[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self._rows = row_group_size
        self._block = io.BytesIO()
        self._n = 0  # records in the block
        self._left = row_group_size  # records the row group still takes
        self._batch = min(row_group_size, self._BLOCK)
        self._group: list[pa.Table] = []  # the row group's parsed blocks (background)
        self._keep_tables = keep
        self._keep_events = None if keep_events is None else pa.array(sorted(keep_events))
        self._keep_columns = None if keep_columns is None else list(keep_columns)
        self._tables: list[pa.Table] = []
        #: with ``keep_events``: records written per kind, kept or not
        self.counts: dict[str, int] = {}
        import pyarrow.parquet as pq  # on first use: 25 ms of every reader's start-up else

        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(
            self.path, ARROW_SCHEMA, compression="zstd"
        )
        self._pending: Future[None] | None = None
        self._pool: ThreadPoolExecutor | None = None

    def write(self, record: Record) -> None:
        try:
            self._block.write(orjson.dumps(record, option=LINE_OPTIONS))
        except TypeError as exc:
            raise unwritable(record, exc) from None
        self._n += 1
        if self._n >= self._batch or self._n >= self._left:
            self._flush()

    def write_line(self, line: bytes) -> None:
        """A record already encoded by ``encode_line`` (or with ``LINE_OPTIONS``)."""
        self._block.write(line)
        self._n += 1
        if self._n >= self._batch or self._n >= self._left:
            self._flush()

    def write_lines(self, lines: bytes | bytearray) -> None:
        """Records already encoded, whole lines one after another (a checker process's
        batch): one call for thousands of records. A row group still ends at its exact
        record, so the file is the one ``write_line`` would write."""
        n = lines.count(b"\n")
        while n and self._n + n >= self._left:  # the row group ends within these lines
            k = self._left - self._n
            cut = 0
            for _ in range(k):
                cut = lines.index(b"\n", cut) + 1
            self._block.write(lines[:cut])
            self._n += k
            self._flush()
            lines, n = lines[cut:], n - k
        if n:
            self._block.write(lines)
            self._n += n
            if self._n >= self._batch:
                self._flush()

    def _flush(self, *, end: bool = False) -> None:
        """The block to the background thread; ``end``: the row group ends with it,
        however short (the last one)."""
        if not self._n and not (end and self._left < self._rows):
            return
        assert self._writer is not None, "write after close"
        self._left -= self._n
        last = end or self._left <= 0  # the block that completes a row group
        if last:
            self._left = self._rows
        block, self._block, self._n = self._block.getvalue(), io.BytesIO(), 0
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="parquet-trace")
        self._wait()  # one block in flight: memory stays bounded, order kept
        self._pending = self._pool.submit(self._sink, block, last)

    def _sink(self, block: bytes, last: bool) -> None:
        """In the background thread: a block parsed; with the row group's ``last``, the
        row group written, and what is kept of it kept."""
        assert self._writer is not None
        if block:
            self._group.append(_parse_block(block, self._PARSE))
        if not last:
            return
        table, self._group = pa.concat_tables(self._group).combine_chunks(), []
        self._writer.write_table(table, self._rows)
        if self._keep_tables:
            if self._keep_events is not None:
                for name, n in event_counts(table).items():
                    self.counts[name] = self.counts.get(name, 0) + n
                table = table.filter(pc.is_in(table["event"], value_set=self._keep_events))
            if self._keep_columns is not None:
                table = table.select(self._keep_columns)
            self._tables.append(table)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # re-raises a failed block here, in the caller's thread

    def table(self) -> pa.Table:
        """The trace kept in memory (``keep=True``): every record, or those of
        ``keep_events`` with the fields of ``keep_columns``; ``counts`` then counts every
        record written, kept or not."""
        if not self._keep_tables:
            raise TypeError("this ParquetTraceWriter keeps nothing in memory; read the file back")
        if self._writer is not None:
            raise TypeError("close the ParquetTraceWriter before reading its table")
        if self._tables:
            return pa.concat_tables(self._tables)
        columns = self._keep_columns or ARROW_SCHEMA.names
        return pa.schema([ARROW_SCHEMA.field(c) for c in columns]).empty_table()

    def begin_close(self) -> None:
        # the last row group to the background thread, parsed and written meanwhile
        if self._writer is not None:
            self._flush(end=True)

    def close(self) -> None:
        if self._writer is not None:
            try:
                self._flush(end=True)
                self._wait()
            finally:
                if self._pool is not None:
                    self._pool.shutdown(wait=True)
                    self._pool = None
                self._writer.close()
                self._writer = None


def event_counts(table: pa.Table) -> dict[str, int]:
    """How many records of each kind ``table`` holds, by kind name (sorted)."""
    counts = pc.value_counts(table["event"]).to_pylist()
    return dict(sorted((str(c["values"]), int(c["counts"])) for c in counts))


def _parse_block(block: bytes, options: pa_json.ParseOptions) -> pa.Table:
    """JSON lines -> an Arrow table of the schema."""
    read = pa_json.ReadOptions(use_threads=False, block_size=min(len(block) + 1, 1 << 30))
    try:
        return pa_json.read_json(pa.BufferReader(block), read, options)
    except pa.ArrowInvalid:
        raise _refusal(block.splitlines(), options) from None


def _refusal(lines: list[bytes], options: pa_json.ParseOptions) -> TraceFormatError:
    """Why a block was refused, naming its first bad record (found by halving the block:
    a refused block is rare, and the records are not kept as dicts)."""
    read = pa_json.ReadOptions(use_threads=False)
    reason = ""
    while len(lines) > 1:
        half = lines[: len(lines) // 2]
        try:
            pa_json.read_json(pa.BufferReader(b"\n".join(half)), read, options)
            lines = lines[len(half) :]
        except pa.ArrowInvalid:
            lines = half
    record = orjson.loads(lines[0])
    unknown = record.keys() - FIELDS.keys() if isinstance(record, dict) else set()
    if unknown:
        return TraceFormatError(
            f"record has field(s) {sorted(unknown)} that the trace schema does not hold; "
            f"add them to activitykit.trace.schema.FIELDS: {record!r}"
        )
    try:
        pa_json.read_json(pa.BufferReader(lines[0]), read, options)
    except pa.ArrowInvalid as exc:
        reason = str(exc).removeprefix("JSON parse error: ")
    return TraceFormatError(
        f"record does not fit the trace schema ({reason or 'not a JSON object'}): {record!r}"
    )


class CsvTraceWriter(_Base):
    """CSV with one column per field of ``FIELDS``; list fields as JSON text."""

    def __init__(self, path: str | Path) -> None:
        import csv

        self.path = Path(path)
        self._fh = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        self._w = csv.DictWriter(self._fh, fieldnames=list(FIELDS), lineterminator="\n")
        self._w.writeheader()

    def write(self, record: Record) -> None:
        row = dict(record)
        for f in LIST_FIELDS & row.keys():
            row[f] = json.dumps(row[f])
        if "urgent" in row:
            row["urgent"] = "true" if row["urgent"] else "false"
        self._w.writerow(row)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


_BY_FORMAT = {
    "jsonl": JsonlTraceWriter,
    "parquet": ParquetTraceWriter,
    "csv": CsvTraceWriter,
}


def format_for_path(path: str | Path) -> str:
    """``jsonl`` / ``parquet`` / ``csv`` from a file name (``.jsonl.gz`` is jsonl)."""
    name = Path(path).name.lower()
    for suffix, fmt in (
        (".jsonl.gz", "jsonl"),
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".json", "jsonl"),
        (".parquet", "parquet"),
        (".pq", "parquet"),
        (".csv", "csv"),
    ):
        if name.endswith(suffix):
            return fmt
    raise TraceFormatError(
        f"cannot tell the trace format of {str(path)!r} from its extension; use .jsonl, "
        ".jsonl.gz, .csv or .parquet (or name the format explicitly)"
    )


def open_writer(path: str | Path, fmt: str | None = None) -> TraceWriter:
    fmt = fmt or format_for_path(path)
    try:
        return _BY_FORMAT[fmt](path)
    except KeyError:
        raise TraceFormatError(
            f"unknown trace format {fmt!r}; accepted: {', '.join(_BY_FORMAT)}"
        ) from None


def write_trace(records: Iterable[Record], path: str | Path, fmt: str | None = None) -> Path:
    """Write ``records`` to ``path`` in one go; returns the path."""
    w = open_writer(path, fmt)
    try:
        for r in records:
            w.write(r)
    finally:
        w.close()
    return Path(path)
