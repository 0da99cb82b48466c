"""Options that several subcommands share, declared once so their spelling and meaning agree."""

from __future__ import annotations

import argparse

__all__ = ["add_set_option"]


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
