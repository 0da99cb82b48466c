"""Options that several subcommands share, declared once so their spelling and meaning agree."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["add_set_option", "bounded_float", "bounded_int", "seed_arg"]


def seed_arg(text: str) -> int:
    """``--seed N``: a scenario's seed, 0 to 2^63 - 1 (what a scenario's ``seed`` allows)."""
    from ..scenario.schema import MAX_SEED

    value, shown = _whole_number(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{shown}: a seed is 0 to {MAX_SEED} (64 bits)")
    return value


def _whole_number(text: str) -> tuple[int, str]:
    """``text`` as an int, and how a message shows it: a long text is not echoed back whole
    (nor parsed: Python refuses ints of over 4,300 digits)."""
    short = len(text) <= 30
    try:
        value = int(text)
    except ValueError:
        what = repr(text) if short else f"a text of {len(text)} characters"
        raise argparse.ArgumentTypeError(f"{what} is not a whole number") from None
    return value, text if short else f"a number of {len(text)} digits"


def bounded_float(
    low: float, high: float, unit: str = "", *, low_ok: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number above ``low`` (or equal, with ``low_ok``) and at most
    ``high``. NaN and infinity are refused: a NaN compares false with every bound, and an
    infinite wait never ends."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        above = value >= low if low_ok else value > low
        if not (math.isfinite(value) and above and value <= high):
            least = f"at least {low:g}" if low_ok else f"greater than {low:g}"
            raise argparse.ArgumentTypeError(
                f"{text}: must be a finite number {least} and at most {high:g}{unit}"
            )
        return value

    return parse


def bounded_int(low: int, high: int, why: str) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``; ``why`` (shown when it is
    too big) says what the upper bound protects."""

    def parse(text: str) -> int:
        value, shown = _whole_number(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{shown}: must be at least {low}")
        if value > high:
            raise argparse.ArgumentTypeError(f"{shown}: must be at most {high:,} ({why})")
        return value

    return parse


def add_set_option(parser: argparse.ArgumentParser, example: str, *, note: str = "") -> None:
    """Add the repeatable ``--set KEY=VALUE`` scenario override to ``parser``.

    Values land in ``args.overrides`` (a list, in command-line order), which
    :func:`activitykit.scenario.load_scenario` applies on top of the scenario file. Only the
    help example differs per command (``example``: one or more ``--set KEY=VALUE`` words that
    must be valid on that command's typical scenario; ``note``: what the override applies to,
    when that is not just "the scenario").
    """
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a scenario setting{note} (repeatable; dotted keys, list items by "
        f"index), e.g. {example}",
    )


def write_junit(path: str, write: Callable[[str], object]) -> None:
    """``write(path)`` of a command's JUnit XML; a file that cannot be written (a full disk,
    a directory of that name) is named, the same way by every command."""
    from ..errors import InputError

    try:
        write(path)
    except OSError as exc:
        raise InputError(
            f"cannot write the JUnit file: {exc.strerror or exc}", source=path
        ) from None
