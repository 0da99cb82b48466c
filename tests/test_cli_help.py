"""Examples printed by ``--help`` work on the bundled scenarios users try them on."""

from __future__ import annotations

import json
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


ROOT = Path(__file__).parents[1]
_FOREIGN = re.compile(r"SPEC\.md|TRACE\.md|shared/")


def _all_help() -> dict[str, str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    out = {"activitykit": build_parser().format_help()}
    for name, p in sub.choices.items():
        out[name] = p.format_help()
        for action in p._actions:  # nested commands (scenario schema|validate|show, ...)
            if isinstance(action.choices, dict):
                for sub_name, q in action.choices.items():
                    out[f"{name} {sub_name}"] = q.format_help()
    return out


def test_user_facing_text_points_at_the_projects_own_docs() -> None:
    # Help texts, docs and notebook prose once sent users to SPEC.md and TRACE.md, files the
    # project does not ship; the reference model is docs/spec.md.
    texts = {f"help of {k}": v for k, v in _all_help().items()}
    for path in [*ROOT.glob("docs/*.md"), ROOT / "README.md"]:
        texts[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    for nb in ROOT.glob("notebooks/*.ipynb"):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        texts[nb.name] = "".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
    bad = {k: _FOREIGN.findall(v) for k, v in texts.items() if _FOREIGN.search(v)}
    assert bad == {}
    assert (ROOT / "docs" / "spec.md").is_file()
    assert "docs/spec.md" in _all_help()["spec"]


def _parsers() -> dict[str, object]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    out: dict[str, object] = {}
    for name, p in sub.choices.items():
        out[name] = p
        for action in p._actions:
            if isinstance(action.choices, dict):
                for sub_name, q in action.choices.items():
                    out[f"{name} {sub_name}"] = q
    return out


def _set_actions() -> dict[str, object]:
    found = {}
    for name, p in _parsers().items():
        for action in p._actions:  # type: ignore[attr-defined]
            if "--set" in action.option_strings:
                found[name] = action
    return found


def test_every_set_option_is_the_shared_one() -> None:
    # --set was declared four times with different dests (sweep's was args.set) and wording.
    actions = _set_actions()
    assert set(actions) >= {"run", "live", "sweep", "scenario show"}
    for name, action in actions.items():
        assert action.dest == "overrides", name
        assert action.metavar == "KEY=VALUE", name
        assert action.help.startswith("override a scenario setting"), name
    args = build_parser().parse_args(["run", "x.yaml", "--set", "duration=10", "--set", "seed=2"])
    assert args.overrides == ["duration=10", "seed=2"]
    assert build_parser().parse_args(["sweep", "x.yaml"]).overrides == []


#: The scenarios each command's example is meant for (live runs real seconds: live-smoke).
_EXAMPLE_TARGETS = {"live": [ROOT / "scenarios" / "live-smoke.yaml"]}


@pytest.mark.parametrize("command", ["run", "live", "sweep", "scenario show"])
def test_each_set_example_loads(command: str) -> None:
    text = _set_actions()[command].help
    overrides = re.findall(r"--set\s+([a-z][\w.]*=[^\s,)]+)", text)
    assert overrides, f"{command} --set help has no example"
    for path in _EXAMPLE_TARGETS.get(command, SCENARIOS):
        load_scenario(path, overrides)
