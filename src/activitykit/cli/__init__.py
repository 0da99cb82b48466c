"""The ``activitykit`` command.

Each subcommand lives in its own module here (``spec.py``, ``check.py``, ...) exposing
``register(subparsers)``, which adds its parser and sets ``func``. ``func(args)`` returns the
exit code. Modules import their heavy dependencies inside ``func`` so that ``--help`` is fast.

Exit codes across the kit: 0 success / conformant, 1 violations or deviations found,
2 bad input or usage.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..errors import InputError

__all__ = ["entry", "main"]

#: Subcommands in the order ``--help`` lists them.
COMMANDS = ("run", "live", "calibrate", "scenario", "check", "report", "conform", "sweep", "spec")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="activitykit",
        description="Simulate, check and conformance-test Landscape-style fleet activities.",
    )
    parser.add_argument("--version", action="version", version=f"activitykit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a subcommand not built yet
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """Run one command; its exit code. ``own_process``: the process ends with the command
    (``entry``), so a command may tune process-wide settings for its own speed; a test or a
    notebook calling ``main`` keeps its process as it was.

    Failures of the place it runs in rather than of its input (standard output that takes
    nothing, memory that ran out) end every command the same way: ``_environment``.
    """
    from ._environment import StdoutError, flush_stdout, out_of_memory, stdout_failed

    command = "activitykit"
    try:
        try:
            args = build_parser().parse_args(argv)
        finally:  # --help, --version: argparse's text, out before its SystemExit
            flush_stdout()
        command = f"activitykit {args.command}"
        args.own_process = own_process
        code = _run(command, args)
        flush_stdout()  # a failure to write the output is the command's, not the exit's
        return code
    except StdoutError as exc:
        return stdout_failed(command, exc)
    except MemoryError as exc:
        return out_of_memory(command, exc)


def _run(command: str, args: argparse.Namespace) -> int:
    """``args.func(args)``; bad input is a message and exit 2."""
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # a path the user named, and what is wrong with it: its name and the reason say it
        if exc.filename is None or not (isinstance(exc, _PATH_ERRORS) or exc.errno in _PATH_ERRNOS):
            raise
        reason = exc.strerror
        if exc.errno == errno.ENAMETOOLONG:
            reason += " (at most 255 bytes per name, 4096 per path)"
        print(f"{command}: error: {exc.filename}: {reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


#: Errors of a path (not of the data in a file), reported as the path and the reason.
_PATH_ERRORS: tuple[type[OSError], ...] = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
_PATH_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ELOOP, errno.EROFS})


def entry() -> NoReturn:
    """The ``activitykit`` command: ``main`` and the process's exit with its code.

    The process ends here, so the interpreter's last collection pass at exit would traverse
    every object still alive only for the memory to go back to the system anyway (0.2 s of
    a 10 s bench-fleet run); ``gc.freeze`` skips it. Reference counting, ``atexit`` handlers
    and finalizers still run. Not in ``main``: tests and notebooks call it in a process
    that goes on.
    """
    import gc

    from ._environment import install_stdout

    install_stdout()
    code = main(own_process=True)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
