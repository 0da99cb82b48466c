#!/usr/bin/env python3
"""Mutant: finish settles the activity but never acknowledges its message.

The bug: the ack is sent only on success of a separate call that is never made, so the
handler stays at its prefetch limit and every later consume by it is refused.
"""

from __future__ import annotations

import sys
from typing import Any

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "server/prefetch-after-finish"


class Mutant(ReferenceSystem):
    implementation = "mutant:finish-never-acks"

    def _finish(self, req: dict[str, Any]) -> dict[str, Any]:
        held = self._held.get(req.get("handler", ""), [])
        kept = list(held)
        reply = super()._finish(req)
        held[:] = kept  # BUG: the message stays unacknowledged
        return reply


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
