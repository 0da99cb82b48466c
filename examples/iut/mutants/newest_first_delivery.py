#!/usr/bin/env python3
"""Mutant: an exchange delivers a computer's activities newest first.

The bug: the pending activities are read from a stack (latest created on top), so the
protocol's creation order is reversed whenever two or more are delivered together.
"""

from __future__ import annotations

import sys
from typing import Any

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "client/delivery-order"


class Mutant(ReferenceSystem):
    implementation = "mutant:newest-first-delivery"

    def exchange(self, t: float, computer: Any, results: Any = ()) -> Any:
        pend = self._pending.get(computer)
        if pend:
            pend.reverse()  # BUG: newest first
        delivered, answers = super().exchange(t, computer, results)
        if computer in self._pending:
            self._pending[computer].sort(key=lambda a: a.seq)
        return delivered, answers


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
