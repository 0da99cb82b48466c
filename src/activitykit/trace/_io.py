"""Getting a trace file's bytes and telling its format: shared by every reader."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from ..errors import InputError
from .writers import TraceFormatError, format_for_path

__all__ = ["INPUT_FORMATS", "decode_text", "open_bytes", "resolve_format"]

#: Formats a reader can be asked for explicitly (``--input-format``).
INPUT_FORMATS: tuple[str, ...] = ("jsonl", "csv", "parquet", "landscape")


def open_bytes(path: Path) -> bytes:
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
        obj = json.loads(first)
    except ValueError:
        return False
    return isinstance(obj, dict) and "event" in obj


def decode_text(data: bytes, source: str) -> str:
    """``data`` as text; binary data or bad UTF-8 -> InputError naming the line."""
    if b"\x00" in data[:65536]:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise InputError(
            "binary data (a NUL byte) where a text trace was expected", source=source, line=line
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); is this a trace file?",
            source=source,
            line=line,
        ) from None
