"""Errors shared across the kit.

``InputError`` marks bad input from a user (a scenario, a trace, an argument, an
implementation under test): its message already names the file, line or field and the rule,
so the CLI prints it as it is and exits 2, without a traceback.
"""

from __future__ import annotations

import traceback

__all__ = ["InputError", "error_text"]


class InputError(ValueError):
    """Bad user input; the message is complete and meant for a human."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(where + message)
        self.source = source
        self.line = line


def error_text(exc: BaseException) -> str:
    """What a failed run records: the exception line first (what a table shows), then, for a
    bug rather than bad input, the innermost frames."""
    head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    if isinstance(exc, InputError):
        return head
    frames = traceback.format_tb(exc.__traceback__)[-3:]
    return head + ("\n" + "".join(frames).rstrip() if frames else "")
