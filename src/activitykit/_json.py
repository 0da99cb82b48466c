"""JSON from outside (traces, manifests, a replay file, an IUT's reply lines) parsed with
orjson: nesting deeper than 1024 levels is a ``JSONDecodeError`` there, where the standard
library's parser would recurse until Python's stack runs out (a RecursionError)."""

from __future__ import annotations

import json

import orjson

__all__ = ["MAX_NESTING", "loads", "reason"]

#: The deepest nesting a JSON value may have: orjson's own limit (it refuses deeper values
#: instead of recursing), named here so that every message says the same.
MAX_NESTING = 1024

#: orjson's wording where it says less than it means (by the start of its message).
_PLAIN = (
    ("depth limit", f"nested deeper than {MAX_NESTING} levels"),
    (
        "number is infinity when parsed as double",
        "a number beyond any finite float, such as an integer of hundreds of digits",
    ),
)


def reason(exc: orjson.JSONDecodeError) -> str:
    """Why the text is not JSON, as a message says it."""
    return next((plain for start, plain in _PLAIN if exc.msg.startswith(start)), exc.msg)


def loads(data: bytes | str) -> object:
    """orjson's value of ``data``; the literals ``NaN``, ``Infinity`` and ``-Infinity`` (which
    Python's ``json.dumps`` writes, and orjson refuses) are accepted as the floats they name,
    as pyarrow's reader (NaN) and the kit's readers always did. Raises orjson's error."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # the rare line with such a literal is parsed again by json, which accepts them; only
        # then, so the common path pays nothing (a test for the words on orjson's error only)
        marks = (b"NaN", b"Infinity") if isinstance(data, bytes) else ("NaN", "Infinity")
        if any(m in data for m in marks):  # type: ignore[operator]
            value = _json_loads(data)
            if value is not _REFUSED:
                return value
        raise


#: ``_json_loads``'s answer where orjson's error stands.
_REFUSED = object()


def _json_loads(data: bytes | str) -> object:
    """json's value of ``data`` (NaN and Infinity accepted, integers exact at any size), or
    ``_REFUSED`` where it is not one orjson would accept but for those literals and its
    rounding of integers beyond 64 bits: malformed, nested deeper than ``MAX_NESTING``
    (json recurses; Python's recursion limit stops it first, at a depth near 1000 that
    depends on the stack, so nesting that deep is refused as orjson does, a little sooner),
    or a lone surrogate (json keeps it; no text column could hold it). Slow: for the rare
    input orjson cannot give as it is, never the common path."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text)
    except (ValueError, RecursionError):  # (ValueError: also an integer of 4300+ digits)
        return _REFUSED
    if "\\u" in text:  # an escape: a lone surrogate may be among the strings
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError as exc:
            if "surrogates" in str(exc):
                return _REFUSED
    return value
