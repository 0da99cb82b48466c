#!/usr/bin/env python3
"""Mutant: an operation-result is applied whichever computer sends it.

The bug: results are looked up by operation-id alone and routed to the computer the
operation was delivered to, so a result sent by another computer settles the activity.
"""

from __future__ import annotations

import sys
from typing import Any

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "client/result-from-wrong-computer"


class Mutant(ReferenceSystem):
    implementation = "mutant:accepts-results-from-other-computers"

    def _result(self, req: dict[str, Any]) -> dict[str, Any]:
        a = self.ops.get(req.get("operation_id"))
        if a is not None and a.cname is not None:
            req = {**req, "computer": a.cname}  # BUG: the sender is not checked
        return super()._result(req)


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
