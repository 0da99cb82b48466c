#!/usr/bin/env python3
"""Mutant: deliver_after is stored in whole seconds (truncated).

The bug: deliver_after goes into an integer column, so a Scheduled activity due at
30.5 s is delivered at an exchange at 30.2 s, before it is due.
"""

from __future__ import annotations

import sys
from typing import Any

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "client/scheduled-fractional"


class Mutant(ReferenceSystem):
    implementation = "mutant:rounds-deliver-after"

    def create(self, t: float, aid: str, *args: Any, **kw: Any) -> Any:
        if kw.get("deliver_after") is not None:
            kw["deliver_after"] = int(kw["deliver_after"])  # BUG: whole seconds
        return super().create(t, aid, *args, **kw)


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
