"""A record as one line of JSON: the one encoding of the line writers and the checker process.

Its own module, apart from ``writers``, because the checker process encodes and decodes
lines only: it needs orjson here, and none of the writers' pyarrow (a tenth of a second of
its start, which it would take from the simulation it runs beside).
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["LINE_OPTIONS", "TraceFormatError", "encode_line", "unwritable"]

Record = dict[str, Any]


class TraceFormatError(ValueError):
    """An unknown trace format, or a record the chosen format cannot hold."""


#: A record as one line of JSON, as a JSON Lines trace holds it (numpy scalars allowed; floats
#: as ``repr`` prints them): the one encoding of the writers that encode lines and of the
#: checker process, so that a simulator feeding both encodes each record once.
LINE_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY


def unwritable(record: Record, exc: Exception) -> TraceFormatError:
    """The error for a record that is not JSON (a type no trace field holds)."""
    return TraceFormatError(f"record cannot be written as JSON ({exc}): {record!r}")


def encode_line(record: Record) -> bytes:
    """``record`` as one line of a JSON Lines trace (what ``write_line`` takes)."""
    try:
        return orjson.dumps(record, option=LINE_OPTIONS)
    except TypeError as exc:
        raise unwritable(record, exc) from None
