"""Every mutant IUT in examples/iut/mutants is caught, by the case its docstring names."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path
from types import ModuleType

import pytest

from activitykit.conformance import CASES, PythonIUT, SubprocessIUT, run_suite

MUTANTS = sorted((Path(__file__).resolve().parents[1] / "examples/iut/mutants").glob("*.py"))


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"mutant_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_at_least_six_mutants_each_naming_a_real_case() -> None:
    assert len(MUTANTS) >= 6
    for path in MUTANTS:
        assert _load(path).EXPECTED_CASE in CASES, path.name


@pytest.mark.parametrize("path", MUTANTS, ids=lambda p: p.stem)
@pytest.mark.parametrize("profile", ["result-wins", "cancel-sticky"])
def test_catalogue_catches_mutant(path: Path, profile: str) -> None:
    module = _load(path)
    report = run_suite(PythonIUT(module.Mutant()), profile=profile, stateful=False)
    failed = {r.name: r for r in report.failed}
    assert module.EXPECTED_CASE in failed, sorted(failed)
    evidence = failed[module.EXPECTED_CASE]
    assert evidence.outcome == "fail" and evidence.deviation is not None
    assert evidence.deviation.message and evidence.deviation.steps
    assert report.exit_code == 1
    # One bug each: most of the catalogue still passes.
    assert len(failed) < len(CASES) // 4


@pytest.mark.slow
@pytest.mark.parametrize("path", MUTANTS, ids=lambda p: p.stem)
def test_subprocess_suite_with_stateful_catches_mutant(path: Path) -> None:
    iut = SubprocessIUT(f"{shlex.quote(sys.executable)} {shlex.quote(str(path))}", timeout=5)
    report = run_suite(iut, examples=30, shrink_seconds=5)
    assert _load(path).EXPECTED_CASE in {r.name for r in report.failed}
    assert report.exit_code == 1
    assert report.implementation and report.implementation.startswith("mutant:")
