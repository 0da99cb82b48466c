#!/usr/bin/env python3
"""Mutant: the queued message of a canceled server activity is still handed out.

The bug: cancel marks the activity but the handler does not check the state of what it
consumes, so a Canceled activity starts running (Canceled -> In Progress).
"""

from __future__ import annotations

import sys
from typing import Any

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "server/queued-canceled"


class Mutant(ReferenceSystem):
    implementation = "mutant:consumes-canceled-messages"

    def consumable(self, a: Any, gen: int) -> bool:
        return (gen == a.gen and a.state == "Canceled") or super().consumable(a, gen)  # BUG


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
