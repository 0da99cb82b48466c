"""A problem found in a scenario: the path of the field at fault and the rule it breaks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from ._yaml import Path

__all__ = ["Problem", "format_path"]


class Problem(NamedTuple):
    """One thing wrong with a scenario: the field at fault and the rule it breaks."""

    loc: Path
    message: str

    def __str__(self) -> str:
        return f"{format_path(self.loc)}: {self.message}"


def format_path(loc: Iterable[str | int]) -> str:
    """``("fleet", "groups", 0, "name")`` -> ``fleet.groups[0].name``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"
