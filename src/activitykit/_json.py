"""JSON from outside (a sweep's manifest, a replay file, an IUT's reply lines) parsed with
orjson: nesting deeper than 1024 levels is a ``JSONDecodeError`` there, where the standard
library's parser would recurse until Python's stack runs out (a RecursionError)."""

from __future__ import annotations

import orjson

__all__ = ["MAX_NESTING", "reason"]

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
