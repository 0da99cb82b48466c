"""``activitykit scenario schema | validate | show``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from activitykit.cli import main
from activitykit.scenario import Scenario, load_scenario, loads_scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"


def test_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "schema"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["$schema"].endswith("2020-12/schema")
    assert doc["additionalProperties"] is False
    assert set(doc["properties"]) == set(Scenario.model_fields)
    assert "FleetGroup" in doc["$defs"]


def test_validate_reports_each_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nfleet:\n  groups:\n    - computers: -1\n", encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    assert main(["scenario", "validate", str(BASELINE), str(bad), str(broken), str(missing)]) == 2
    captured = capsys.readouterr()
    assert f"{BASELINE}: OK" in captured.out
    assert f"{bad}:4: fleet.groups[0].computers: Input should be greater than or equal to 0" in (
        captured.err
    )
    assert f"{broken}:2: YAML error" in captured.err
    assert f"{missing}: error: No such file or directory" in captured.err
    assert "Traceback" not in captured.err


def test_validate_quiet_and_all_good(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "validate", "-q", str(BASELINE)]) == 0
    assert capsys.readouterr().out == ""


def test_show_prints_the_effective_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "show", str(BASELINE), "--set", "fleet.groups.1.computers=7"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# Effective scenario")
    doc = yaml.safe_load(text)
    assert doc["fleet"]["groups"][1]["computers"] == 7
    assert doc["fleet"]["groups"][1]["ping_interval"] == 30.0  # a default, filled in
    assert loads_scenario(text) == load_scenario(BASELINE, ["fleet.groups.1.computers=7"])


def test_show_refuses_a_bad_override(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "show", str(BASELINE), "--set", "duration=soon"]) == 2
    err = capsys.readouterr().err
    assert "--set duration=soon: duration: Input should be a valid number (got 'soon')" in err
