#!/usr/bin/env python3
"""Mutant: a Waiting activity is released only when progress exceeds the threshold.

The bug: the comparison is progress > threshold instead of >=, so a progress exactly at the
threshold (0.5 of 0.5, or 1.0 of 1.0) never releases it.
"""

from __future__ import annotations

import sys
from typing import Any

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "server/waiting-threshold"


class Mutant(ReferenceSystem):
    implementation = "mutant:threshold-exclusive"

    def _dependency_verdict(self, a: Any) -> str:
        verdict = super()._dependency_verdict(a)
        tg = a.target
        if verdict == "release" and tg is not None and tg.progress == a.threshold:
            return "wait"  # BUG: > instead of >=
        return verdict


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
