"""The activity port on the kit's server core, on a wall clock.

:class:`CorePort` connects the emulator to :class:`activitykit.server.ActivityStore`, the one
implementation of the server's activity semantics that the simulator and the conformance
reference run too. The store never reads a clock: this module gives it the run's clock
(seconds since the workload started), turns its wake-up requests into ``loop.call_at``
calls, and sends every record it emits to the trace and through the online checker at once.

Each exchange is one store call: the results the client sent, then the activities to
deliver, which become wire messages here (``execute-script`` with the script drawn for the
activity, ``resynchronize``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..check import Checker
from ..server import Activity, ActivityStore
from ..trace.writers import TraceWriter
from .port import ComputerView, Notice, OperationResult

__all__ = ["CorePort", "RunClock", "TraceSink"]

#: How a client's operation-result status reads in the trace.
_STATUS = {6: "succeeded", 5: "failed"}


#: Notices that are the fleet's load on the server, and the counter each one adds to.
_LOAD_COUNTERS = {"exchange": "exchanges", "ping": "pings"}


class TraceSink:
    """Write each record and feed it to the online checker as it comes."""

    def __init__(self, writer: TraceWriter, checker: Checker):
        self.writer = writer
        self._flush = getattr(writer, "flush", None)  # a user's writer may have none
        self.checker = checker
        self.by_event: Counter[str] = Counter()
        self.violations: list[Any] = []
        self.last_t = 0.0

    def __call__(self, record: dict[str, Any]) -> None:
        self.writer.write(record)
        # a live run's records come at human rates: each reaches the file at once, so the
        # trace can be watched as it grows and a killed run keeps what happened
        if self._flush is not None:
            self._flush()
        self.by_event[record["event"]] += 1
        self.last_t = record["t"]
        self.violations.extend(self.checker.feed(record))


class CorePort:
    """An :class:`~activitykit.live.port.ActivityPort` backed by the server core.

    ``message_for(activity)`` builds the wire message of a delivered activity (without its
    ``operation-id``, which is added here). ``protocol`` receives every notice as a JSON
    line (pings, registrations, busy answers...: the wire's own log, kept apart from the
    trace, whose record kinds are those of the trace format). ``on_notice`` lets the
    findings see the same notices.
    """

    def __init__(
        self,
        store_kw: dict[str, Any],
        sink: TraceSink,
        clock: Callable[[], float],
        message_for: Callable[[Activity], dict[str, Any]],
        *,
        protocol: IO[str] | None = None,
        on_notice: Callable[[Notice], None] | None = None,
        on_result: Callable[[str, OperationResult, float], None] | None = None,
        group_of: Callable[[str], str] | None = None,
    ):
        self.sink = sink
        self.clock = clock
        self.message_for = message_for
        self.protocol = protocol
        self.on_notice = on_notice
        self.on_result = on_result
        self.group_of = group_of
        self.loop = asyncio.get_running_loop()
        self.store = ActivityStore(emit=sink, at=self._at, **store_kw)
        self.counts: Counter[str] = Counter()
        #: Set when the run ends: later wake-ups and exchanges write nothing.
        self.closed = False
        #: operation-id -> (result text, result code) of each result taken.
        self.outputs: dict[int, tuple[str, int | None]] = {}

    # ------------------------------------------------------------------ the store's clock

    def _at(self, t: float, callback: Callable[[float], None]) -> None:
        # The callback gets the time it actually runs at, never the earlier requested one:
        # records stay in time order behind whatever ran in between.
        def fire() -> None:
            if not self.closed:
                callback(max(t, self.clock()))

        self.loop.call_later(max(0.0, t - self.clock()), fire)

    def call_at(self, t: float, callback: Callable[[float], None]) -> None:
        """Run ``callback(now)`` at run time ``t`` (for the workload and fault schedules)."""
        self._at(t, callback)

    # ------------------------------------------------------------------ the port

    def exchange(
        self, computer: ComputerView, results: list[OperationResult], t: float
    ) -> list[dict[str, Any]]:
        if t < 0 or self.closed:  # before run time 0 (registration) or after the end
            return []
        self.sink({"t": t, "event": "exchange", "computer": computer.name})
        pairs = []
        for r in results:
            pairs.append((r.operation_id, _STATUS.get(r.status, "failed")))
            self.outputs[r.operation_id] = (r.text, r.code)
            if r.status not in _STATUS:
                self.counts["unexpected_result_status"] += 1
            if self.on_result is not None:
                self.on_result(computer.name, r, t)
        delivered, answers = self.store.exchange(t, computer.name, pairs)
        for _, activity, _ in answers:
            if activity is None:
                self.counts["results_for_unknown_operations"] += 1
        messages = []
        for a in delivered:
            message = self.message_for(a)
            if message["type"] not in computer.accepts:
                self.counts["delivered_unaccepted_type"] += 1
            messages.append({**message, "operation-id": a.op})
        self.counts["delivered"] += len(messages)
        self.counts["results"] += len(results)
        return messages

    def has_messages(self, computer: ComputerView, t: float) -> bool:
        return t >= 0 and not self.closed and self.store.has_deliverable(t, computer.name)

    def notify(self, notice: Notice) -> None:
        self.counts[f"notice_{notice.kind}"] += 1
        if notice.computer is not None and notice.kind in _LOAD_COUNTERS and notice.t >= 0:
            # the run's load from run time 0, named as the simulator's counters
            # (reports.summary.load reads both): a registered computer's exchanges and its
            # pings, per fleet group too
            name = _LOAD_COUNTERS[notice.kind]
            self.counts[name] += 1
            if self.group_of is not None:
                self.counts[f"{name}.{self.group_of(notice.computer)}"] += 1
        if self.protocol is not None:
            line = {"t": round(notice.t, 6), "kind": notice.kind, "computer": notice.computer}
            self.protocol.write(json.dumps({**line, **notice.detail}, default=str) + "\n")
        if (
            notice.kind == "busy"
            and notice.t >= 0
            and not self.closed
            and notice.computer is not None
        ):
            self.sink(
                {"t": notice.t, "event": "fault", "computer": notice.computer, "fault": "busy"}
            )
        if self.on_notice is not None:
            self.on_notice(notice)

    # ------------------------------------------------------------------ the run's end

    def unfinished(self) -> tuple[tuple[str, str], ...]:
        final = {"Succeeded", "Failed", "Canceled"}
        return tuple(
            (a.id, a.state) for a in self.store.activities.values() if a.state not in final
        )

    def open_count(self) -> int:
        return len(self.unfinished())


def open_protocol_log(path: Path) -> IO[str]:
    """The JSON-lines file of notices (line buffered: readable while the run goes on)."""
    return path.open("w", encoding="utf-8", buffering=1)


class RunClock:
    """Seconds since the workload started; -1 before (registration is not traced)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.origin: float | None = None
        self.epoch = 0.0

    def start(self) -> None:
        self.origin = self.loop.time()
        self.epoch = time.time()

    def __call__(self) -> float:
        return -1.0 if self.origin is None else self.loop.time() - self.origin
