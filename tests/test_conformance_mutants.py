"""Every mutant IUT in examples/iut/mutants is caught: by the case its docstring names, and
by the stateful run alone (default examples and seed), with a minimal, replayable sequence."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path
from types import ModuleType

import pytest

from activitykit.conformance import (
    CASES,
    PythonIUT,
    ReferenceSystem,
    SubprocessIUT,
    run_replay,
    run_suite,
)
from activitykit.conformance.stateful import read_replay

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


@pytest.mark.slow
@pytest.mark.parametrize("path", MUTANTS, ids=lambda p: p.stem)
@pytest.mark.parametrize("profile", ["result-wins", "cancel-sticky"])
def test_stateful_run_alone_catches_mutant(path: Path, profile: str, tmp_path: Path) -> None:
    """No catalogue case: the default stateful run (100 sequences, seed 0) must find the bug."""
    module = _load(path)
    saved = tmp_path / "ce.jsonl"
    report = run_suite(
        PythonIUT(module.Mutant()),
        profile=profile,
        cases=[],
        shrink_seconds=3,
        counterexample_path=saved,
    )
    (result,) = report.results
    assert result.name == "stateful" and result.outcome == "fail", result.note
    steps = report.counterexample
    assert 1 <= len(steps) <= 8, steps
    assert steps[0]["cmd"] == "create" and steps[0]["activity"] == "a1"  # renumbered
    # The saved file is the printed sequence, and replays: the mutant fails, the reference
    # passes, and (1-minimal) no single step can be dropped.
    saved_profile, replay = read_replay(saved.read_text(encoding="utf-8"), str(saved))
    assert (saved_profile, replay) == (profile, steps)
    assert run_replay(PythonIUT(module.Mutant()), replay, profile=profile).exit_code == 1
    assert run_replay(PythonIUT(ReferenceSystem()), replay, profile=profile).exit_code == 0
    for i in range(len(replay)):
        shorter = replay[:i] + replay[i + 1 :]
        if shorter:
            again = run_replay(PythonIUT(module.Mutant()), shorter, profile=profile)
            assert [r.outcome for r in again.results] == ["pass"], (i, shorter)


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["result-wins", "cancel-sticky"])
def test_reference_passes_the_default_stateful_run(profile: str) -> None:
    report = run_suite(PythonIUT(ReferenceSystem()), profile=profile, cases=[])
    (result,) = report.results
    assert result.outcome == "pass", result.deviation
    assert result.steps > 1000  # the episodes make long sequences, not a hundred one-liners
    assert report.trace.ok and report.exit_code == 0
