"""One writer per output directory: an flock on ``.<name>.lock`` beside it.

A run directory and a sweep directory are each written by one process at a time; a second
``activitykit run`` or ``sweep`` into the same place is refused at once with a message that
names the process holding it, instead of both "succeeding" with one's files lost.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError

__all__ = ["dir_lock", "lock_path"]


def lock_path(target: Path) -> Path:
    """The lock file of ``target``: a hidden sibling, so the directory can be replaced."""
    target = Path(os.path.abspath(target))
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def dir_lock(target: Path, what: str) -> Iterator[None]:
    """Hold the lock of ``target`` (``what``: "run" or "sweep", for the message)."""
    target = Path(os.path.abspath(target))
    if target == target.parent:  # (no lock is made beside the root, nor anything in it)
        raise InputError(
            f"the file system's root cannot be a {what} directory; name a directory below it",
            source=str(target),
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError):
        raise InputError(
            f"a parent of the {what} directory is a file, not a directory", source=str(target)
        ) from None
    lock = lock_path(target)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            raise InputError(
                f"another {what} (pid {holder}) is writing this {what} directory (lock "
                f"{lock}); wait for it to finish or choose another --out",
                source=str(target),
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race a waiter)
