"""JSON from outside (a sweep's manifest, a replay file, an IUT's reply lines) parsed with
orjson: nesting deeper than 1024 levels is a ``JSONDecodeError`` there, where the standard
library's parser would recurse until Python's stack runs out (a RecursionError)."""

from __future__ import annotations

import orjson

__all__ = ["MAX_NESTING", "reason"]

#: orjson's own limit on nesting.
MAX_NESTING = 1024


def reason(exc: orjson.JSONDecodeError) -> str:
    """Why the text is not JSON, as a message says it."""
    if exc.msg.startswith("depth limit"):
        return f"nested deeper than {MAX_NESTING} levels"
    return exc.msg
