#!/usr/bin/env python3
"""Mutant: an exchange delivers at most 100 activities.

The bug: the exchange's query has a LIMIT 100 (a page size) and nobody asks for the next
page, so the 101st deliverable activity of a computer waits for the following exchange.
"""

from __future__ import annotations

import sys
from typing import Any

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "client/bulk-delivery"
#: 101 creates and the exchange that delivers only 100 of them.
COUNTEREXAMPLE_STEPS = 102


class Mutant(ReferenceSystem):
    implementation = "mutant:caps-deliveries-at-100"

    def exchange(self, t: float, computer: Any, results: Any = ()) -> Any:
        self._page = 100
        return super().exchange(t, computer, results)

    def _deliverable(self, a: Any) -> bool:
        if not super()._deliverable(a):
            return False
        if self._exchanging is None:
            return True
        self._page -= 1
        return self._page >= 0  # BUG: one page of 100 per exchange


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
