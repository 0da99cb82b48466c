#!/usr/bin/env python3
"""Mutant: a Waiting activity is released when its dependency fails.

The bug: "the dependency completed" is read as "reached any final state", so a failed
dependency releases the waiting activity (Waiting -> Queued) instead of canceling it
(the default of docs/spec.md).
"""

from __future__ import annotations

import sys

from activitykit.conformance import ReferenceSystem, serve_stdio
from activitykit.model import State

EXPECTED_CASE = "client/waiting-dependency-failed"


class Mutant(ReferenceSystem):
    implementation = "mutant:releases-on-failed-dependency"

    def _dependency_verdict(self, a) -> str:
        if a.deps and all(d.state in (State.SUCCEEDED, State.FAILED) for d in a.deps):
            return "release"  # BUG: Failed counts as done
        return super()._dependency_verdict(a)


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
