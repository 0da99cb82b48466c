"""The pytest plugin: inert by default, one test per case when given an IUT."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from activitykit.conformance import CASES

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "activitykit.conformance.reference:ReferenceSystem"


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_plugin_is_inert_without_an_iut(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        "import sys\n"
        "def test_nothing_heavy_loaded():\n"
        "    assert 'activitykit.conformance.pytest_plugin' in sys.modules\n"
        "    for name in ('activitykit.conformance.runner', 'activitykit.model',\n"
        "                 'activitykit.conformance.protocol'):\n"
        "        assert name not in sys.modules, name\n"
    )
    done = _pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    helped = _pytest(tmp_path, "--help")
    assert "--activitykit-iut" in helped.stdout and "--activitykit-profile" in helped.stdout


@pytest.mark.slow
def test_plugin_runs_the_catalogue_against_the_reference(tmp_path: Path) -> None:
    done = _pytest(
        tmp_path,
        "--activitykit-iut-python",
        REFERENCE,
        "--activitykit-examples",
        "3",
        "--activitykit-profile",
        "cancel-sticky",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{len(CASES) + 2} passed" in done.stdout


def test_plugin_reports_a_mutant_case_by_case(pytester: pytest.Pytester) -> None:
    mutant = ROOT / "examples/iut/mutants/releases_on_failed_dependency.py"
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "--activitykit-iut",
        f"{shlex.quote(sys.executable)} {shlex.quote(str(mutant))}",
        "--activitykit-case",
        "client/waiting-dependency-failed",
        "--activitykit-case",
        "server/",
        "-rf",
    )
    n_server = sum(n.startswith("server/") for n in CASES)
    # The three dependency cases, the one with a threshold beside its dependency (the mutant
    # releases once every dependency ended, skipping the threshold) and the trace check
    # fail; every other server case passes.
    result.assert_outcomes(failed=5, passed=n_server - 3)
    out = result.stdout.str()
    assert "FAILED ::activitykit-conform::server/waiting-threshold-and-dependency" in out
    assert "FAILED ::activitykit-conform::client/waiting-dependency-failed" in out
    assert "FAILED ::activitykit-conform::server/waiting-dependency-failed" in out
    assert "FAILED ::activitykit-conform::server/waiting-direct-dependency-failed" in out
    assert "expected Waiting -> Canceled" in out


def test_plugin_refuses_an_unknown_case(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--activitykit-iut", "x", "--activitykit-case", "nope"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no such case" in result.stderr.str()
