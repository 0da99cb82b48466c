"""Output directories named on the command line, checked before any work starts.

A run or a sweep that fails only when it writes (after minutes of simulation) because
``--out`` names a file, or a path below a file, wastes the work; an empty ``--out ""``
would silently mean the current directory's default. Both are refused up front.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

__all__ = ["out_dir"]


def out_dir(text: str | None, default: Path, option: str = "--out") -> Path:
    """The directory ``text`` names (``default`` when the option was not given), checked.

    Refused: an empty or blank path; a path that exists and is not a directory; a path below
    a file (nothing can be created there). A directory that does not exist yet is fine.
    """
    if text is not None and not text.strip():
        raise InputError(
            f"{option} {text!r}: an empty path; name a directory, or leave {option} out for "
            f"the default ({default})"
        )
    path = Path(text) if text is not None else default
    for part in (path, *path.parents):
        if not part.exists():
            continue
        if part.is_dir():
            break
        if part == path:
            raise InputError(f"{option} {path}: exists and is not a directory; name a directory")
        raise InputError(
            f"{option} {path}: {part} is a file, so no directory can be created below it; "
            "name a directory"
        )
    return path
