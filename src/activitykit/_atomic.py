"""Files replaced whole: a reader, or a run killed half-way, sees the old file or the new one.

Every file the kit rewrites in place (a run's ``manifest.json``, a sweep's ``sweep.json``,
``runs.parquet`` and ``points.parquet``) goes through ``write_atomic``: the content is
written to a temporary sibling (same directory, so same file system) and renamed over the
target with ``os.replace``, which POSIX makes atomic.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomic", "write_text_atomic"]


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, then rename it to ``path``.

    On any failure (a full disk, an interrupt) the temporary file is removed and ``path`` is
    left as it was.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """``path.write_text(text)`` (UTF-8), atomically."""
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
