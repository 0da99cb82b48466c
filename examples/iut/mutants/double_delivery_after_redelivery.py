#!/usr/bin/env python3
"""Mutant: after a job-handler crash, the unacknowledged activity is delivered twice.

The bug: the crashed handler's messages are requeued at the head of the queue AND appended
again at its tail (a "retry" added on top of the broker's own redelivery), so two handlers
end up running the same activity.
"""

from __future__ import annotations

import sys

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "server/redelivery-after-crash"


class Mutant(ReferenceSystem):
    implementation = "mutant:double-delivery-after-redelivery"

    def _requeue(self, messages: list) -> None:
        super()._requeue(messages)
        self._queue.extend(messages)  # BUG: a second copy of each message


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
