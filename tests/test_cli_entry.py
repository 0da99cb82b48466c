"""The ``activitykit`` command's entry point: ``main``'s code as the exit status."""

from __future__ import annotations

import subprocess
import sys

import pytest

import activitykit.cli as cli


def test_the_entry_exits_with_mains_code_after_freezing_the_collector(monkeypatch) -> None:
    """The process ends with ``main``'s code; the collector is frozen only then (never in
    ``main``, which tests and notebooks call in a process that goes on)."""
    calls: list[str] = []
    monkeypatch.setattr(cli, "main", lambda: calls.append("main") or 3)
    monkeypatch.setattr("gc.freeze", lambda: calls.append("freeze"))
    with pytest.raises(SystemExit) as info:
        cli.entry()
    assert info.value.code == 3
    assert calls == ["main", "freeze"]


def test_python_dash_m_exits_with_the_commands_code() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "activitykit", "check", "no-such-trace.jsonl"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no-such-trace.jsonl" in proc.stderr and "Traceback" not in proc.stderr
