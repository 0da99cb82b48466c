"""Output directories named on the command line, checked before any work starts.

A run or a sweep that fails only when it writes (after minutes of simulation) because
``--out`` names a file, or a path below a file, wastes the work; an empty ``--out ""``
would silently mean the current directory's default. Both are refused up front, and so is
a name too long for the file system (``--out`` of 300 letters, or a default name made of a
400-digit ``--seed``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

__all__ = ["out_dir"]

#: Bytes a writer adds to the directory's own name for its siblings: a run is staged in
#: ``.<name>.partial``, and ``.<name>.lock``, ``<name>.failed`` are shorter.
_SIBLING = len("..partial")
#: Room kept in the whole path for what is written below the directory (a staged run's
#: ``.<name>.partial/<name>/`` adds the name once more, a sweep's ``runs/<run id>/``...).
_BELOW = 64


def out_dir(text: str | None, default: Path, option: str = "--out", default_from: str = "") -> Path:
    """The directory ``text`` names (``default`` when the option was not given), checked.

    Refused: an empty or blank path; a path that exists and is not a directory; a path below
    a file (nothing can be created there); a name or a path longer than the file system
    takes. A directory that does not exist yet is fine. ``default_from``: what the default
    is made of (say "the scenario file's name and --seed"), named when it is too long.
    """
    if text is not None and not text.strip():
        raise InputError(
            f"{option} {text!r}: an empty path; name a directory, or leave {option} out for "
            f"the default ({default})"
        )
    path = Path(text) if text is not None else default
    _fits(path, option if text is not None else None, default_from)
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


def _fits(path: Path, option: str | None, default_from: str) -> None:
    """Refuse a path whose names or length the file system would refuse (ENAMETOOLONG)."""
    full = Path(os.path.abspath(path))
    anchor = next((p for p in full.parents if _is_dir(p)), Path("/"))
    name_max = os.pathconf(anchor, "PC_NAME_MAX")
    path_max = os.pathconf(anchor, "PC_PATH_MAX")
    own = len(os.fsencode(full.name))
    where = f"{option} {_shown(path)}" if option else f"the default directory {_shown(path)}"
    way_out = (
        f"name a shorter {option}"
        if option
        else f"give --out DIR (the default is made of {default_from or 'the command'})"
    )
    long = [p for p in full.parts[1:-1] if len(os.fsencode(p)) > name_max]
    if long:
        raise InputError(
            f"{where}: the name {_shown(long[0])} has {len(os.fsencode(long[0])):,} bytes; "
            f"names here have at most {name_max}: {way_out}"
        )
    if own + _SIBLING > name_max:
        raise InputError(
            f"{where}: its name has {own:,} bytes; at most {name_max - _SIBLING} fit here "
            f"({name_max} per name, less room for the .<name>.partial beside it): {way_out}"
        )
    total = len(os.fsencode(full)) + own + _SIBLING + _BELOW
    if total >= path_max:
        raise InputError(
            f"{where}: the path is too long ({len(os.fsencode(full)):,} bytes; with what is "
            f"written below it, paths here have at most {path_max - 1}): {way_out}"
        )


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long to look up: not the existing directory sought
        return False


def _shown(path: Path | str, limit: int = 80) -> str:
    text = str(path)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
