"""Small input files read whole, but never more than a cap.

A scenario or a replay file has kilobytes; a device, a log or a trace passed by mistake
must be refused at once instead of filling memory (``/dev/zero``) or waiting for ever.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import InputError

__all__ = ["read_text_bounded"]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a pipe"),
    (stat.S_ISSOCK, "a socket"),
)


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
    directories are refused before they are opened (a pipe would block until written).
    """
    if regular_only:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            kind = next((k for test, k in _KINDS if test(mode)), "not a file")
            raise InputError(
                f"not a regular file ({kind}); {what} is a file on disk", source=str(path)
            )
    with open(path, "rb") as f:
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
        raise InputError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", source=str(Path(path))
        ) from None
