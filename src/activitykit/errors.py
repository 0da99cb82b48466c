"""Errors shared across the kit.

``InputError`` marks bad input from a user (a scenario, a trace, an argument, an
implementation under test): its message already names the file, line or field and the rule,
so the CLI prints it as it is and exits 2, without a traceback.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad user input; the message is complete and meant for a human."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(where + message)
        self.source = source
        self.line = line
