#!/usr/bin/env python3
"""Mutant: operation-ids are reused once the previous operation has ended.

The bug: the operation-id is "1 + the number of operations in flight on this computer",
which is unique only among running operations; after a result the same id comes back,
so a late or repeated result can settle the wrong activity.
"""

from __future__ import annotations

import sys

from activitykit.conformance import ReferenceSystem, serve_stdio
from activitykit.model import State

EXPECTED_CASE = "client/operation-id-uniqueness"


class Mutant(ReferenceSystem):
    implementation = "mutant:reuses-operation-ids"

    def _new_operation_id(self, computer: str) -> int:
        running = {
            op for op, a in self.ops.items() if a.cname == computer and a.state == State.IN_PROGRESS
        }
        op = 1
        while op in running:  # BUG: unique among running operations only
            op += 1
        return op


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
