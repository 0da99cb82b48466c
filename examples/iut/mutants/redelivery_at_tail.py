#!/usr/bin/env python3
"""Mutant: a crashed handler's message goes to the tail of the queue, not the head.

The bug: unacknowledged messages are re-published (appended) instead of requeued, so the
redelivered activity waits behind everything published since.
"""

from __future__ import annotations

import sys

from activitykit.conformance import ReferenceSystem, serve_stdio

EXPECTED_CASE = "server/redelivery-order"


class Mutant(ReferenceSystem):
    implementation = "mutant:redelivery-at-tail"

    def _requeue(self, messages: list) -> None:
        self._queue.extend(messages)  # BUG: tail instead of head


if __name__ == "__main__":
    sys.exit(serve_stdio(Mutant()))
