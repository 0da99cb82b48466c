#!/usr/bin/env python3
"""Mutant: cancel is accepted for activities that already succeeded or failed.

The bug: cancel checks only "is it not already Canceled", so Succeeded -> Canceled and
Failed -> Canceled happen (final states have no exits).
"""

from __future__ import annotations

import sys

from activitykit.conformance import ReferenceSystem, serve_stdio
from activitykit.model import State

EXPECTED_CASE = "forbidden/client/succeeded"


class Mutant(ReferenceSystem):
    implementation = "mutant:cancels-final-activities"

    def _may_cancel(self, a) -> bool:
        return a.state != State.CANCELED  # BUG: Succeeded and Failed are final


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
