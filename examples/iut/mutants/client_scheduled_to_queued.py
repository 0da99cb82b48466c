#!/usr/bin/env python3
"""Mutant: a due client Scheduled activity moves to Queued, as a server one would.

The bug: the "publish when due" rule is applied to every kind, so a client activity makes the
forbidden move Scheduled -> Queued (docs/spec.md, transitions: only server activities take it).
"""

from __future__ import annotations

import sys

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "client/scheduled-not-before"


class Mutant(ReferenceSystem):
    implementation = "mutant:client-scheduled-to-queued"

    def _publishes_when_due(self, a) -> bool:
        return True  # BUG: the reference says `a.kind is Kind.SERVER`


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
