"""What the calibration reads from a run: the wire's log of a live run, the effective
scenario, the client latencies compared (``PHASES``), and numbers rounded for its JSON.

Shared by the comparison (``calibration``) and the real client's timings
(``client_timings``).
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .run import RunData

__all__ = ["PHASES", "PROTOCOL_NAMES"]

#: The latency phases compared (``activity_table`` columns) and how they are shown.
PHASES: dict[str, str] = {"to_start": "created → In Progress", "run": "In Progress → final"}


#: Where a live run directory keeps the wire's log (plain, or gzip'd as committed).
PROTOCOL_NAMES = ("protocol.jsonl", "protocol.jsonl.gz")


def _latencies(run: RunData) -> dict[str, np.ndarray]:
    acts = run.activities.loc[run.activities["kind"] == "client"]
    out = {}
    for phase in PHASES:
        v = acts[phase].to_numpy(dtype=float)
        out[phase] = v[~np.isnan(v)]
    return out


def _scenario_of(run: RunData) -> dict[str, Any]:
    if not run.scenario:
        raise InputError(
            "no scenario.effective.yaml: a calibration needs the live run directory whole",
            source=str(run.path),
        )
    return run.scenario


def _protocol_lines(run_dir: Path) -> list[dict[str, Any]]:
    for name in PROTOCOL_NAMES:
        path = run_dir / name
        if path.is_file():
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                out = []
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise InputError(
                            f"not JSON ({exc.msg})", source=str(path), line=n
                        ) from None
                return out
    raise InputError(
        f"no {' or '.join(PROTOCOL_NAMES)}: not a live run directory (activitykit live)",
        source=str(run_dir),
    )


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)
