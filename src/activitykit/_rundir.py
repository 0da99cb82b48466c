"""The run directory: what a run writes, staged beside its place and put there whole.

Everything needed to reproduce and judge a run::

    runs/<scenario>-<seed>/
        scenario.effective.yaml   the scenario with every default filled in (written first)
        trace.parquet | .jsonl    every record of the run (docs/trace-format.md)
        summary.json              counts, latencies, throughput, violations (reports.summary)
        report.html               when output.report is true

        manifest.json             complete: true, record count and SHA-256 of the trace,
                                  scenario name and digest, seed, kit version

The directory is replaced whole, never edited in place: a run writes into the sibling
``.<name>.partial/<name>/`` (its manifest says ``complete: false`` until the end) and renames
it to ``<name>`` only when every file is written, so a killed run leaves the previous run
intact beside a partial directory that says it is partial, and nothing of an older run
(a stale ``report/``) survives a rerun. A run whose simulation failed does not replace a
previous run either: its evidence goes to ``<name>.failed/``. The lock file
``.<name>.lock`` (flock) refuses a second run into the same directory while one runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ._dirlock import dir_lock
from .errors import InputError
from .scenario import Scenario, dump_effective

__all__ = ["TRACE_FILES", "finish_run_directory", "run_directory"]

#: Trace file name per trace format (``trace.manifest.TRACE_NAMES`` lists the same names:
#: that module must not import this one, which a checker does not need).
TRACE_FILES: Mapping[str, str] = {"parquet": "trace.parquet", "jsonl": "trace.jsonl"}
#: What a directory written by a run holds; a directory holding anything else is not
#: replaced (``--out .`` must not delete a user's files).
_RUN_FILES = frozenset(
    {"scenario.effective.yaml", "summary.json", "report.html", "report", "manifest.json"}
    | set(TRACE_FILES.values())
)


@contextlib.contextmanager
def run_directory(
    target: Path, scenario: Scenario, *, own_files: frozenset[str] = frozenset()
) -> Iterator[Path]:
    """Lock ``target`` and yield a fresh staged directory for its run (``.<name>.partial/
    <name>/``, holding the effective scenario and a manifest that says it is partial).

    The run writes there and ends with ``finish_run_directory``. An exception (bad settings
    found late, Ctrl-C) leaves the staged directory, whose manifest says it is partial, and
    the previous run untouched. ``own_files``: names a producer of run directories writes
    besides the simulator's (``activitykit.live``: the wire log, the clients' folders), so
    that a rerun may replace a directory holding them.
    """
    with dir_lock(target, "run"):
        yield _stage(target, scenario, own_files)


def finish_run_directory(
    stage: Path,
    target: Path,
    scenario: Scenario,
    trace_path: Path,
    by_event: Mapping[str, int],
    error: str | None,
    *,
    what: str = "activitykit run",
) -> Path:
    """The staged run's final manifest (``complete`` unless ``error``: why the run did not
    run to its end), then the staged directory in place of ``target``; returns where the
    run now is (``<name>.failed`` for a failed run when a previous one is kept)."""
    _finish_manifest(stage, scenario, trace_path, by_event, error)
    return _commit(stage, target, failed=error is not None, what=what)


def _sibling(target: Path, tag: str) -> Path:
    return target.parent / f".{target.name}.{tag}"


def _stage(target: Path, scenario: Scenario, own_files: frozenset[str] = frozenset()) -> Path:
    """``.<name>.partial/`` made afresh, with the effective scenario and a manifest that
    says the run is not complete (what a killed run leaves)."""
    target = Path(os.path.abspath(target))
    if target.exists() and not target.is_dir():
        raise InputError("exists and is not a directory", source=str(target))
    if target.is_dir():
        ours = _RUN_FILES | own_files
        foreign = sorted(p.name for p in target.iterdir() if p.name not in ours)
        if foreign:
            raise InputError(
                f"holds files no run wrote ({', '.join(foreign[:3])}"
                f"{', ...' if len(foreign) > 3 else ''}); a run replaces its directory "
                "whole: choose a new or empty --out, or a previous run's directory",
                source=str(target),
            )
    # .<name>.partial/<name>/: the staged directory has the run's own name (a report
    # names its run after its directory), and the parent says what it is
    shutil.rmtree(_sibling(target, "partial"), ignore_errors=True)  # we hold the lock
    stage = _sibling(target, "partial") / target.name
    stage.mkdir(parents=True)
    (stage / "scenario.effective.yaml").write_text(dump_effective(scenario), "utf-8")
    from .trace.manifest import write_manifest

    write_manifest(stage, {**_identity(stage, scenario), "complete": False})
    return stage


def _identity(run_dir: Path, scenario: Scenario) -> dict[str, Any]:
    from . import __version__
    from .trace.manifest import file_sha256

    return {
        "kit": "activitykit",
        "kit_version": __version__,
        "scenario": {
            "name": scenario.name,
            "file": "scenario.effective.yaml",
            "sha256": file_sha256(run_dir / "scenario.effective.yaml"),
        },
        "seed": scenario.seed,
        "trace": TRACE_FILES[scenario.output.trace_format],
    }


def _finish_manifest(
    stage: Path,
    scenario: Scenario,
    trace_path: Path,
    by_event: Mapping[str, int],
    error: str | None,
) -> None:
    """The manifest of a run that ran to its end (``complete: true``), or of a failed run
    (``error``: the reason)."""
    from .trace.manifest import file_sha256, write_manifest

    fields: dict[str, Any] = {
        **_identity(stage, scenario),
        "complete": error is None,
        "records": int(sum(by_event.values())),
        "trace_sha256": file_sha256(trace_path),
    }
    if error is not None:
        fields["error"] = error.splitlines()[0]
    write_manifest(stage, fields)


def _commit(stage: Path, target: Path, *, failed: bool, what: str = "activitykit run") -> Path:
    """Put the finished ``stage`` in place of ``target``; returns where it now is.

    A failed run replaces nothing that holds a previous run: it goes to ``<name>.failed``.
    Otherwise the old directory is moved aside, the new one renamed in, the old one
    removed: at every instant one complete run is at ``target`` or at ``.<name>.old``.
    """
    target = Path(os.path.abspath(target))
    previous = target.is_dir() and any(target.iterdir())
    if failed and previous:
        dest = target.parent / f"{target.name}.failed"
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(stage, dest)
        stage.parent.rmdir()
        print(
            f"{what}: the run failed; the previous run in {target} is kept, this "
            f"run's files are in {dest}",
            file=sys.stderr,
        )
        return dest
    old = _sibling(target, "old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(stage, target)
    shutil.rmtree(old, ignore_errors=True)
    stage.parent.rmdir()
    return target
