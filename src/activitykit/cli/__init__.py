"""The ``activitykit`` command.

Each subcommand lives in its own module here (``spec.py``, ``check.py``, ...) exposing
``register(subparsers)``, which adds its parser and sets ``func``. ``func(args)`` returns the
exit code. Modules import their heavy dependencies inside ``func`` so that ``--help`` is fast.

Exit codes across the kit: 0 success / conformant, 1 violations or deviations found,
2 bad input or usage.
"""

from __future__ import annotations

import argparse
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
    notebook calling ``main`` keeps its process as it was."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.own_process = own_process
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"activitykit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (
        FileNotFoundError,
        FileExistsError,
        IsADirectoryError,
        NotADirectoryError,
        PermissionError,
    ) as exc:  # a path the user named; its name and the reason say it all
        print(f"activitykit {args.command}: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"activitykit {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `activitykit ... | head`
        return 0


def entry() -> NoReturn:
    """The ``activitykit`` command: ``main`` and the process's exit with its code.

    The process ends here, so the interpreter's last collection pass at exit would traverse
    every object still alive only for the memory to go back to the system anyway (0.2 s of
    a 10 s bench-fleet run); ``gc.freeze`` skips it. Reference counting, ``atexit`` handlers
    and finalizers still run. Not in ``main``: tests and notebooks call it in a process
    that goes on.
    """
    import gc

    code = main(own_process=True)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
