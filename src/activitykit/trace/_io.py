"""Getting a trace file's bytes and telling its format: shared by every reader.

Every file is read from a regular file only (``regular_file``): a FIFO or a device cannot
be read twice (the format is told from the first bytes, the fast path may hand over to the
careful one) and a device never ends. Nothing here reads a file whole without a bound.
Text traces (JSON Lines, CSV) are read as line-aligned blocks of at most ``BLOCK_BYTES``
(``text_blocks``), so memory follows the reader's own state rather than the file: a sparse
file or a gzip that inflates to gigabytes of blank lines cost one block at a time and are
refused (binary data, a line beyond ``MAX_LINE_BYTES``) or judged empty. Parquet is read
where it lies (pyarrow seeks to what it needs). Documents read whole (a Landscape export, a
manifest: ``read_json_document``) are capped (``read_document``, the size known before the
content is read unless gzip hides it), checked as text and parsed by ``parse_json``, which
refuses nesting beyond ``MAX_JSON_DEPTH`` levels instead of recursing; everything decoded is
capped at ``MAX_TRACE_BYTES``.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import orjson

from .._files import regular_file as _regular_file
from .._json import _REFUSED, _json_loads, reason
from .._json import MAX_NESTING as MAX_JSON_DEPTH
from .._json import loads as _loads
from ..errors import InputError
from .writers import TraceFormatError, format_for_path

__all__ = [
    "BLOCK_BYTES",
    "INPUT_FORMATS",
    "MAX_JSON_DEPTH",
    "MAX_LINE_BYTES",
    "MAX_TRACE_BYTES",
    "decode_text",
    "is_gzip",
    "line_too_long",
    "parse_json",
    "read_document",
    "read_head",
    "read_json_document",
    "regular_file",
    "resolve_format",
    "text_blocks",
]

#: Formats a reader can be asked for explicitly (``--input-format``).
INPUT_FORMATS: tuple[str, ...] = ("jsonl", "csv", "parquet", "landscape")
#: Bytes read (after gunzip) per step of a text trace. The fast path parses blocks on every
#: core at once, one block per core: the last block is parsed alone while the other cores
#: wait (0.3 s with 16 MiB blocks on a 2M-record trace, measured), so smaller blocks end a
#: big trace sooner; 8 MiB costs no more CPU time per byte than 16 MiB (measured).
BLOCK_BYTES = 8 * 2**20
#: The longest line a text trace may have (a real record has well under 1 KiB).
MAX_LINE_BYTES = 2**20
#: Decoded bytes of any trace: far beyond a real one (2M records are about 400 MB of JSON
#: Lines), it stops a gzip bomb or an endless device from running for hours.
MAX_TRACE_BYTES = 32 * 2**30


def _mib(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 2**30 else f"{n / 2**20:g} MiB"


def regular_file(path: Path) -> os.stat_result:
    """``path``'s status; InputError unless it is a regular file (``_files.regular_file``)."""
    return _regular_file(path, "a trace")


def is_gzip(path: Path) -> bool:
    """Does the (regular) file start with gzip's magic bytes?"""
    try:
        with path.open("rb") as f:
            return _gzip_magic(f)
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=str(path)) from None


def _gzip_magic(f: BinaryIO) -> bool:
    """Does ``f`` start with gzip's magic bytes? ``f`` is left at its start."""
    gz = f.read(2) == b"\x1f\x8b"
    f.seek(0)
    return gz


def _open(path: Path) -> tuple[BinaryIO, bool]:
    """The regular file opened for reading, transparently gunzipped, and whether it is gzip
    (told from the same handle: the file judged is the file read); OS errors -> InputError."""
    regular_file(path)
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=str(path)) from None
    try:
        gz = _gzip_magic(raw)
    except OSError as exc:
        raw.close()
        raise InputError(f"cannot read the file: {exc.strerror}", source=str(path)) from None
    return (gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw), gz  # type: ignore[return-value]


def _chunks(path: Path, size: int | None = None) -> Iterator[bytes]:
    """The decoded bytes of ``path`` in pieces of at most ``size``; capped at MAX_TRACE_BYTES."""
    return _read(_open(path)[0], path, size)


def _read(f: BinaryIO, path: Path, size: int | None = None) -> Iterator[bytes]:
    """``_chunks`` from the opened ``f`` (closed at the end)."""
    total = 0
    try:
        while True:
            try:
                chunk = f.read(size or BLOCK_BYTES)
            except (OSError, EOFError, zlib.error) as exc:
                raise InputError(f"broken gzip data: {exc}", source=str(path)) from None
            if not chunk:
                return
            total += len(chunk)
            if total > MAX_TRACE_BYTES:
                raise InputError(
                    f"more than {_mib(MAX_TRACE_BYTES)} of trace data (decoded), the limit "
                    "for a trace: is this the right file?",
                    source=str(path),
                )
            yield chunk
    finally:
        f.close()


def read_head(path: Path, size: int = 4096) -> bytes:
    """The first ``size`` decoded bytes (what tells a format)."""
    for chunk in _chunks(path, size):
        return chunk
    return b""


def read_document(path: Path, limit: int, what: str) -> bytes:
    """The bytes of ``path`` (a regular file, gunzipped when gzip), read as one document
    (``what`` names it for the message); refused beyond ``limit`` bytes, from the file's
    size before its content is read unless gzip hides the size."""
    f, gz = _open(path)
    too_big = InputError(
        f"larger than {_mib(limit)}, the limit for {what} (read into memory as one document)",
        source=str(path),
    )
    if not gz and os.fstat(f.fileno()).st_size > limit:
        f.close()
        raise too_big
    parts: list[bytes] = []
    total = 0
    for chunk in _read(f, path):
        total += len(chunk)
        if total > limit:
            raise too_big
        parts.append(chunk)
    return b"".join(parts)


def parse_json(data: bytes | str, source: str, line: int | None, rule: str) -> object:
    """One JSON value (orjson: nesting beyond ``MAX_JSON_DEPTH`` levels is refused, not
    recursed into, and so are invalid UTF-8 and lone surrogates, which no text column could
    hold; ``NaN`` and ``Infinity`` are read, see ``_loads``); malformed JSON -> InputError
    naming ``source``, the line (``line``, else the document's own) and ``rule``, what the
    input must be."""
    try:
        return _loads(data)
    except orjson.JSONDecodeError as exc:
        msg = reason(exc)
        at = line if line is not None else exc.lineno
        raise InputError(f"malformed JSON ({msg}); {rule}", source=source, line=at) from None


def text_blocks(path: Path, *, cr: bool = False) -> Iterator[tuple[int, bytes]]:
    """``(first line number, block)`` over a text trace; each block ends after a line end
    (the last one may not). Binary data (a NUL byte) and lines longer than MAX_LINE_BYTES
    are refused here, at the block that holds them, so no device or bomb is read whole.

    ``cr``: a CR alone ends a line too (CSV: LF, CRLF or CR), for the cuts and the numbers;
    a JSON Lines line ends at LF only (a CR there is white space)."""
    source = str(path)
    carry = b""
    line = 1
    for chunk in _chunks(path):
        if b"\x00" in chunk:
            at = chunk.index(b"\x00")
            raise InputError(
                "binary data (a NUL byte) where a text trace was expected",
                source=source,
                line=line + _line_ends(carry + chunk[:at], cr),
            )
        # one copy at most: the carried start of a line joined to the chunk up to its last
        # newline (slicing ``carry + chunk`` again would copy every block twice)
        cut = chunk.rfind(b"\n") + 1
        if cr:
            # a CR after the last LF ends a line too, unless it is the chunk's last byte
            # (an LF may follow in the next chunk: a CRLF is never cut in two)
            cut = max(cut, chunk.rfind(b"\r", cut, len(chunk) - 1) + 1)
        if not cut:
            block, carry = b"", carry + chunk
        elif carry or cut < len(chunk):
            view = memoryview(chunk)
            block, carry = b"".join((carry, view[:cut])), bytes(view[cut:])
        else:
            block, carry = chunk, b""
        if block:
            yield line, block
            line += _line_ends(block, cr)
        if len(carry) > MAX_LINE_BYTES:
            raise line_too_long(source, line)
    if carry:
        yield line, carry


def _line_ends(data: bytes, cr: bool) -> int:
    """The line ends in ``data``: LFs, and with ``cr`` also CRs not followed by an LF."""
    n = _newlines(data)
    if cr and b"\r" in data:  # (a fast test) most CSVs end their lines with LF
        n += data.count(b"\r") - data.count(b"\r\n")
    return n


def _newlines(data: bytes) -> int:
    """``data.count(b"\\n")`` three times faster (measured): it runs on the thread that
    reads the blocks, holding the GIL the block parsers want."""
    step = 2**20  # the comparison's mask stays small and in cache
    return sum(
        int(np.count_nonzero(np.frombuffer(data, np.uint8, min(step, len(data) - at), at) == 10))
        for at in range(0, len(data), step)
    )


def line_too_long(source: str, line: int) -> InputError:
    """The error for a line beyond ``MAX_LINE_BYTES`` (both readers' one wording)."""
    return InputError(
        f"line longer than {_mib(MAX_LINE_BYTES)}, the limit for one record: is this a trace file?",
        source=source,
        line=line,
    )


def resolve_format(path: Path, input_format: str | None, head: bytes) -> str:
    """The format asked for, else the one the file name (and, for .json, ``head``) tells."""
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
        if stripped[:1] == b"[" or not looks_like_jsonl(head):
            return "landscape"
    return fmt


def looks_like_jsonl(head: bytes) -> bool:
    """Is the first line one trace record (an object with an ``event``)?"""
    first = head.lstrip().split(b"\n", 1)[0]
    try:
        obj = _loads(first)  # not json: 4 KiB of "[" would recurse past its limit
    except ValueError:
        return False
    return isinstance(obj, dict) and "event" in obj


def decode_text(
    data: bytes, source: str, first_line: int = 1, *, cr: bool = False, what: str | None = None
) -> str:
    """``data`` as text; binary data or bad UTF-8 -> InputError naming the line
    (``first_line`` is the number of the first line of ``data`` in its file; ``cr``: a CR
    alone ends a line, as in ``text_blocks``; ``what``: what the file should be, when it is
    no trace)."""
    if b"\x00" in data:
        line = _line_ends(data[: data.index(b"\x00")], cr) + first_line
        raise InputError(
            f"binary data (a NUL byte) where {what or 'a text trace'} was expected",
            source=source,
            line=line,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_ends(data[: exc.start], cr) + first_line
        raise InputError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); is this {what or 'a trace file'}?",
            source=source,
            line=line,
        ) from None


def read_json_document(
    path: Path,
    limit: int,
    what: str,
    rule: str,
    *,
    trace: bool,
    exact: Callable[[object], bool] | None = None,
) -> object:
    """The JSON value of the document at ``path`` (``read_document``: ``limit``, ``what``):
    binary data and bad UTF-8 are named with their line before parsing (orjson's error
    says only "line 1" of a document it was handed as bytes); malformed JSON as in
    ``parse_json`` (``rule``). ``trace``: the document is a trace (the messages say so).
    ``exact``: true of orjson's value when it rounded integers that matter (beyond 64 bits
    orjson gives floats): the document is then parsed again by ``_json_loads``."""
    source = str(path)
    text = decode_text(read_document(path, limit, what), source, what=None if trace else what)
    value = parse_json(text, source, None, rule)
    if exact is not None and exact(value):
        again = _json_loads(text)
        if again is not _REFUSED:
            return again
    return value
