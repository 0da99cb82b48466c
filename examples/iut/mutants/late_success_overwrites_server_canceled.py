#!/usr/bin/env python3
"""Mutant: a job-handler's late finish overwrites a server activity's Canceled.

The bug: the result-wins reading of docs/spec.md (profiles) is applied to server activities too, so
a server activity canceled while In Progress moves Canceled -> Succeeded when its handler
finishes. Server Canceled is always final.
"""

from __future__ import annotations

import sys

from activitykit.conformance import ReferenceSystem, serve_stdio
from activitykit.model import Kind, State

EXPECTED_CASE = "server/cancel-during-execution"


class Mutant(ReferenceSystem):
    implementation = "mutant:late-success-overwrites-server-canceled"

    def _settle(self, a, status: str, cause: str) -> bool:
        if a.kind is Kind.SERVER and a.state == State.CANCELED:  # BUG: should be ignored
            dst = State.SUCCEEDED if status == "succeeded" else State.FAILED
            self._move(a, dst.value, cause)
            return True
        return super()._settle(a, status, cause)


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
