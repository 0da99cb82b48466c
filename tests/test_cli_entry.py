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
    monkeypatch.setattr(
        cli, "main", lambda *, own_process: calls.append(f"main own={own_process}") or 3
    )
    monkeypatch.setattr("gc.freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(
        "activitykit.cli._environment.install_stdout", lambda: calls.append("stdout")
    )
    with pytest.raises(SystemExit) as info:
        cli.entry()
    assert info.value.code == 3
    assert calls == ["stdout", "main own=True", "freeze"]


def test_python_dash_m_exits_with_the_commands_code() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "activitykit", "check", "no-such-trace.jsonl"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no-such-trace.jsonl" in proc.stderr and "Traceback" not in proc.stderr


def test_check_tunes_the_process_only_when_it_owns_it(monkeypatch) -> None:
    """The allocator settings are process-wide: ``main`` called by a test or a notebook
    leaves them alone; the command's own process (``entry``) gets them."""
    import pyarrow as pa

    import activitykit.cli.check as check_cli

    told: list[bool] = []
    monkeypatch.setattr(check_cli, "_keep_freed_memory", lambda: told.append(True) or True)
    pool = pa.default_memory_pool()
    trace = "tests/data/traces/example.jsonl"
    assert cli.main(["check", trace]) == 0
    assert told == [] and pa.default_memory_pool().backend_name == pool.backend_name
    try:
        assert cli.main(["check", trace], own_process=True) == 0
        assert told == [True] and pa.default_memory_pool().backend_name == "system"
    finally:
        pa.set_memory_pool(pool)


class _FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1


def test_malloc_is_tuned_on_glibc_only(monkeypatch) -> None:
    import ctypes
    import platform

    import activitykit.cli.check as check_cli

    libc = _FakeLibc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(platform, "libc_ver", lambda: ("glibc", "2.36"))
    assert check_cli._keep_freed_memory() is True
    assert libc.calls == [(-8, 1), (-3, 32 * 2**20), (-1, 2**30)]
    # another C library numbers mallopt's parameters differently: not called at all
    libc.calls.clear()
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    assert check_cli._keep_freed_memory() is False and libc.calls == []


def test_malloc_tuning_without_ctypes_or_mallopt_does_nothing(monkeypatch) -> None:
    import ctypes
    import platform
    import sys

    import activitykit.cli.check as check_cli

    monkeypatch.setattr(platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())  # no mallopt in it
    assert check_cli._keep_freed_memory() is False
    monkeypatch.setitem(sys.modules, "ctypes", None)  # a Python built without ctypes
    assert check_cli._keep_freed_memory() is False
