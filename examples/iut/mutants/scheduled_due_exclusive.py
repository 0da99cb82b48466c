#!/usr/bin/env python3
"""Mutant: a client Scheduled activity is delivered only after deliver_after, not at it.

The bug: the due test is deliver_after < now instead of <=, so an exchange exactly at
deliver_after delivers nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "client/scheduled-not-before"


class Mutant(ReferenceSystem):
    implementation = "mutant:scheduled-due-exclusive"

    def _deliverable(self, a: Any) -> bool:
        if a.state == "Scheduled":
            return a.due < self._t  # BUG: < instead of <=
        return super()._deliverable(a)


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
