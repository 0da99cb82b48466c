#!/usr/bin/env python3
"""Mutant: Blocked client activities are delivered without approval.

The bug: the exchange treats Blocked like Queued, so an unapproved activity runs
(the forbidden move Blocked -> In Progress).
"""

from __future__ import annotations

import sys

from activitykit.conformance import ReferenceSystem, serve_stdio
from activitykit.model import State

EXPECTED_CASE = "client/blocked-approved"


class Mutant(ReferenceSystem):
    implementation = "mutant:ignores-approval"

    def _deliverable(self, a) -> bool:
        return a.state == State.BLOCKED or super()._deliverable(a)  # BUG


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
