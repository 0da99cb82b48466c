"""Examples printed by ``--help`` work on the bundled scenarios users try them on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from activitykit.cli import build_parser
from activitykit.scenario import load_scenario

SCENARIOS = sorted((Path(__file__).parents[1] / "scenarios").glob("*.yaml"))


def _run_help() -> str:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["run"].format_help()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_run_help_set_example_applies_to_every_bundled_scenario(path: Path) -> None:
    # The old example, --set duration=600, failed on the tour's baseline.yaml (warm-up 900 s).
    overrides = re.findall(r"--set\s+([a-z][\w.]*=[^\s,]+)", _run_help())  # not KEY=VALUE
    assert overrides, "run --help shows no --set example"
    load_scenario(path, overrides)  # raises InputError naming the broken rule if not
