#!/usr/bin/env python3
"""Mutant: approving a Blocked server activity publishes its message twice.

The bug: approve publishes the activity and the Queued-transition hook publishes it again,
so two handlers can each be handed the same activity.
"""

from __future__ import annotations

import sys
from typing import Any

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "server/approved-published-once"


class Mutant(ReferenceSystem):
    implementation = "mutant:approve-publishes-twice"

    def _to_queued(self, a: Any, cause: str) -> None:
        super()._to_queued(a, cause)
        if cause == "approve" and not a.client:
            self._queue.append((a, a.gen))  # BUG: a second message for the same publication


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
