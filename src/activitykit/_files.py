"""Small input files read whole, but never more than a cap.

A scenario or a replay file has kilobytes; a device, a log or a trace passed by mistake
must be refused at once instead of filling memory (``/dev/zero``) or waiting for ever.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import InputError

__all__ = ["read_text_bounded", "regular_file"]

_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def regular_file(path: str | os.PathLike[str], what: str) -> os.stat_result:
    """``path``'s status (symbolic links followed); InputError unless it is a regular file.

    Checked before opening: opening a FIFO waits for a writer, a device never ends, and a
    file may be opened more than once (a trace's first bytes tell its format). ``what``
    names the kind of file in the message ("a trace")."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=str(path)) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"is a directory, not {what}", source=str(path))
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _NOT_REGULAR if test(st.st_mode)), "not a file")
        raise InputError(
            f"is {kind}, not a regular file: {what} is read from a file on disk (save the "
            "data to a file first)",
            source=str(path),
        )
    return st


def read_text_bounded(
    path: str | os.PathLike[str],
    limit: int,
    what: str,
    *,
    note: str = "",
    regular_only: bool = False,
) -> str:
    """The UTF-8 text of the file at ``path``; refused beyond ``limit`` bytes (no more is
    read), or when not UTF-8. ``what`` names the kind of file in the messages ("a scenario
    file"), ``note`` adds why the limit is ample. ``regular_only``: devices, pipes and
    directories are refused before they are opened (``regular_file``).
    """
    if regular_only:
        regular_file(path, what)
    # Opened without waiting: a FIFO that no one writes to yet would block the open for ever
    # (read, it then ends at once, as empty); a pipe someone writes into is read as a file.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise InputError(f"is a directory, not {what}", source=str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        size = f"{limit // 2**20} MiB" if limit % 2**20 == 0 else f"{limit:,} bytes"
        raise InputError(
            f"larger than {size}, the limit for {what}{note}: is this the right file?",
            source=str(path),
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # named by line and column (counted in bytes) as every other error in such a file
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        raise InputError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at column "
            f"{exc.start - line_start + 1}: {exc.reason}); is this {what}?",
            source=str(Path(path)),
            line=data.count(b"\n", 0, exc.start) + 1,
        ) from None
