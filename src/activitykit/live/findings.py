"""What the real clients did that the spec's model does not expect, measured on the wire.

Three behaviours of Landscape Client are looked for in every live run and reported in its
summary (with counts and examples, also when nothing was found, so that a clean run says so):

* duplicate pings: two pings of one computer much closer than its ping interval (a second
  ping loop starts when a server message resets the timer while a ping is in flight);
* retries without back-off: during a busy window a computer retries at a steady interval
  instead of one that grows;
* results held during an exchange: an operation-result arrives much later than an urgent
  exchange after the client queued it (queued while an exchange was running, it waits for
  the next scheduled exchange instead of asking for an urgent one).
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from typing import Any

from .exchange import Intervals
from .port import Notice, OperationResult

__all__ = ["Findings"]

#: A ping gap below this share of the ping interval counts as a duplicate.
DUPLICATE_PING_SHARE = 0.5
#: Slack over the urgent interval before a result counts as held (client timestamps are
#: whole seconds, an exchange takes a moment).
HELD_SLACK_S = 3.0
#: Busy retries count as backing off when the last gap is this much longer than the first.
BACKOFF_GROWTH = 1.5


class Findings:
    """Collects pings, busy answers and result delays; ``summary()`` states the findings."""

    def __init__(self, intervals: Intervals, epoch: float, busy: list[tuple[float, float]] = ()):
        self.intervals = intervals
        #: Busy windows: a result that waited through one was held by the server, not the client.
        self.busy_windows = list(busy)
        self.epoch = epoch  # Unix time of run time 0: client timestamps are Unix seconds
        self.pings: defaultdict[str, list[float]] = defaultdict(list)
        self.busy: defaultdict[str, list[float]] = defaultdict(list)
        self.held: list[dict[str, Any]] = []
        self.results = 0

    def notice(self, n: Notice) -> None:
        if n.t < 0 or n.computer is None:
            return
        if n.kind == "ping":
            self.pings[n.computer].append(n.t)
        elif n.kind == "busy" and n.detail.get("endpoint") == "exchange":
            self.busy[n.computer].append(n.t)

    def result(self, computer: str, r: OperationResult, t: float) -> None:
        self.results += 1
        if r.timestamp is None:
            return
        waited = self.epoch + t - r.timestamp
        queued = t - waited
        if any(start - HELD_SLACK_S <= t and queued <= end for start, end in self.busy_windows):
            return
        if waited > self.intervals.urgent_exchange + HELD_SLACK_S:
            self.held.append(
                {"computer": computer, "operation_id": r.operation_id, "t": t, "waited": waited}
            )

    def summary(self) -> dict[str, Any]:
        ping = self.intervals.ping
        share = DUPLICATE_PING_SHARE * ping
        dup_by_computer = {
            c: sum(1 for a, b in itertools.pairwise(ts) if b - a < share)
            for c, ts in self.pings.items()
        }
        dup = {c: n for c, n in dup_by_computer.items() if n}
        steady, gaps_all = [], []
        for c, ts in self.busy.items():
            gaps = [b - a for a, b in itertools.pairwise(ts)]
            if len(gaps) >= 1:
                gaps_all.extend(gaps)
                if len(gaps) == 1 or gaps[-1] < BACKOFF_GROWTH * gaps[0]:
                    steady.append(c)
        items = []
        if dup:
            items.append(
                f"duplicate pings: {sum(dup.values())} pings closer than "
                f"{DUPLICATE_PING_SHARE * ping:g} s to the previous one, on {len(dup)} computer(s)"
            )
        if steady:
            items.append(
                f"retries without back-off: {len(steady)} computer(s) retried busy exchanges "
                f"every {statistics.median(gaps_all):.1f} s (median) without backing off"
            )
        if self.held:
            worst = max(h["waited"] for h in self.held)
            items.append(
                f"results held during an exchange: {len(self.held)} of {self.results} results "
                f"arrived more than {self.intervals.urgent_exchange + HELD_SLACK_S:g} s after "
                f"the client queued them (up to {worst:.0f} s)"
            )
        return {
            "items": items,
            "duplicate_pings": {"count": sum(dup.values()), "by_computer": dup},
            "pings": sum(len(v) for v in self.pings.values()),
            "busy_retries": {
                "computers_without_backoff": sorted(steady),
                "median_gap_s": statistics.median(gaps_all) if gaps_all else None,
                "busy_answers": sum(len(v) for v in self.busy.values()),
            },
            "held_results": {
                "count": len(self.held),
                "of": self.results,
                "examples": self.held[:10],
            },
        }
