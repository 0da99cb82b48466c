#!/usr/bin/env python3
"""Mutant: every consume reports attempt 1.

The bug: the attempt number is read from the message (always 1) instead of counted per
activity, so a redelivery after a handler crash looks like a first delivery.
"""

from __future__ import annotations

import sys
from typing import Any

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "server/redelivery-after-crash"


class Mutant(ReferenceSystem):
    implementation = "mutant:always-attempt-one"

    def _record(self, rec: dict[str, Any]) -> None:
        if rec["event"] == "consume":
            rec = {**rec, "attempt": 1}  # BUG: the redelivery count is lost
        super()._record(rec)


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
