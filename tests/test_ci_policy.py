"""The suite-wide CI policy of tests/conftest.py: real-component tests never skip on CI."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

INNER = """
import pytest

@pytest.mark.live
def test_needs_client():
    pytest.skip("no Landscape Client tree found")

def test_plain_skip():
    pytest.skip("not a real-component test")
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    live: x\n    amqp: x\n    browser: x\n")
    pytester.makepyfile(test_inner=INNER)
    return pytester


def test_on_ci_a_real_component_skip_fails_with_its_reason(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = inner.runpytest("-p", "no:xdist", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*CI=true and this live test skipped*no Landscape Client*"])


def test_off_ci_it_skips(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    inner.runpytest("-p", "no:xdist", "-p", "no:cacheprovider").assert_outcomes(skipped=2)
