"""A run directory's ``manifest.json``: what makes its trace known to be complete.

The runner writes the manifest twice: first with ``complete: false`` when the run starts
(so a run killed mid-way leaves a trace that says it is partial), then, once every file is
written, with ``complete: true``, the trace's record count and SHA-256 digest, the
scenario's name and digest, the seed and the kit's version. ``check`` and ``report``
call ``verify`` on a trace that sits in a run directory and warn on anything that does not
match: a missing manifest, a partial run, a trace changed or truncated after the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import reprlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._atomic import write_text_atomic
from ..errors import InputError
from ._io import read_json_document, regular_file

__all__ = ["MANIFEST", "RUN_MARKERS", "TRACE_NAMES", "file_sha256", "verify", "write_manifest"]

MANIFEST = "manifest.json"
#: Trace file names a run directory holds (``runner.TRACE_FILES``' values).
TRACE_NAMES = ("trace.parquet", "trace.jsonl")
#: A directory holding one of these was written by ``activitykit run``.
RUN_MARKERS = (MANIFEST, "scenario.effective.yaml")
#: A manifest is a few hundred bytes; anything much bigger is not one (and is not read).
MAX_MANIFEST_BYTES = 2**20


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file, read in 8 MiB steps (a trace can be large)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 * 2**20):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(run_dir: Path, fields: Mapping[str, Any]) -> None:
    """``manifest.json`` in ``run_dir``, replaced atomically (never half written)."""
    write_text_atomic(run_dir / MANIFEST, json.dumps(dict(fields), indent=2) + "\n")


def _run_trace(path: Path) -> tuple[Path, Path] | None:
    """``(run dir, trace)`` when ``path`` is a run directory or a trace in one, else None."""
    if path.is_dir():
        run_dir = path
        traces = [run_dir / n for n in TRACE_NAMES if (run_dir / n).is_file()]
        if not traces:
            return None
        trace = traces[0]
    else:
        run_dir, trace = path.parent, path
        if trace.name not in TRACE_NAMES:
            return None
    if not any((run_dir / m).exists() for m in RUN_MARKERS):
        return None
    return run_dir, trace


def recorded_count(path: str | os.PathLike[str]) -> int | None:
    """The record count the manifest of ``path``'s run directory gives for this trace, if it
    is complete and the count a count (a reader compares it with what it read); else None
    (``verify`` says what is wrong)."""
    found = _run_trace(Path(path))
    if found is None:
        return None
    try:
        man = read_json_document(
            found[0] / MANIFEST, MAX_MANIFEST_BYTES, "a manifest", "a manifest is one JSON "
            "object", trace=False,
        )  # fmt: skip
    except InputError:
        return None
    if not isinstance(man, dict) or man.get("complete") is not True:
        return None
    if man.get("trace") != found[1].name:
        return None
    count = man.get("records")
    good = isinstance(count, int) and not isinstance(count, bool) and count >= 0
    return count if good else None  # (else verify has said what is wrong with it)


def verify(path: str | os.PathLike[str]) -> list[str]:
    """What is wrong with the manifest of the run directory ``path`` is, or holds the trace
    ``path``; empty when all matches, or when ``path`` is not part of a run directory."""
    found = _run_trace(Path(path))
    if found is None:
        return []
    run_dir, trace = found
    where = run_dir / MANIFEST
    if not where.is_file():
        return [
            f"{where}: missing: the run that wrote {trace.name} did not finish (killed, or "
            "still running) or was written before manifests; the trace may be partial"
        ]
    try:
        # the trace's hash below reads it whole: a device or a FIFO would never end
        regular_file(trace)
        man = read_json_document(
            where, MAX_MANIFEST_BYTES, "a manifest", "a manifest is one JSON object", trace=False
        )
    except InputError as exc:
        return [f"{exc}; cannot tell whether the trace is whole"]
    if not isinstance(man, dict):
        return [f"{where}: not a JSON object; cannot tell whether the trace is whole"]
    if man.get("complete") is not True:
        return [
            f"{where}: says the run did not complete (complete: false): {trace.name} is a "
            "partial trace of a run that was killed or failed"
        ]
    problems = []
    count = man.get("records")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        problems.append(
            f"{where}: records must be the trace's record count (an integer >= 0), got "
            f"{reprlib.repr(count)}"
        )
    if man.get("trace") != trace.name:
        problems.append(f"{where}: describes the trace {man.get('trace')!r}, not {trace.name!r}")
    elif man.get("trace_sha256") != file_sha256(trace):
        problems.append(
            f"{trace}: differs from the trace the run wrote (SHA-256 does not match "
            f"{where.name}): changed or truncated after the run"
        )
    scen = man.get("scenario")
    sfile = run_dir / "scenario.effective.yaml"
    if isinstance(scen, dict) and sfile.is_file() and scen.get("sha256") != file_sha256(sfile):
        problems.append(f"{sfile}: changed after the run (SHA-256 does not match {where.name})")
    return problems
