#!/usr/bin/env python3
"""Mutant: a canceled dependency leaves its dependents Waiting.

The bug: only a Failed dependency is treated as ended badly; a Canceled one is taken as
not finished yet, so its dependents wait forever.
"""

from __future__ import annotations

import sys
from typing import Any

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "client/waiting-dependency-canceled"


class Mutant(ReferenceSystem):
    implementation = "mutant:canceled-dependency-keeps-waiting"

    def _dependency_verdict(self, a: Any) -> str:
        if any(d.state == "Canceled" for d in a.deps):
            return "wait"  # BUG: Canceled is not a bad end here
        return super()._dependency_verdict(a)


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
