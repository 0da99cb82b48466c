"""The session's trace: what the IUT said, as trace records on one time line."""

from __future__ import annotations

from typing import Any

from ...trace.schema import FIELDS
from ..cases import Step

__all__ = ["TraceBuilder"]


class TraceBuilder:
    """Turns what the IUT said into trace records, one time line for the whole session.

    Each run gets its own id namespace (``<label>/a1``) and starts 1 s after the previous
    run ended, so ids are unique and ``t`` never decreases. Operation-ids are renumbered per
    session (same IUT id within a run -> same trace id), so a reuse stays visible.
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._base = 0.0
        self._end = 0.0
        self._prefix = ""
        self._ops: dict[tuple[str, Any], int] = {}

    def begin(self, label: str) -> None:
        self._base = self._end + 1.0 if self.records else 0.0
        self._end = self._base
        self._prefix = label + "/"

    def _id(self, name: str | None) -> str | None:
        return None if name is None else self._prefix + name

    def _op(self, op: Any) -> int:
        key = (self._prefix, op)
        if key not in self._ops:
            self._ops[key] = len(self._ops) + 1
        return self._ops[key]

    def add(self, clock: float, event: str, **fields: Any) -> None:
        t = self._base + clock
        self._end = max(self._end, t)
        rec: dict[str, Any] = {"t": t, "event": event}
        for name in ("activity", "computer", "handler", "progress_of", "parent"):
            if fields.get(name) is not None:
                fields[name] = self._id(fields[name])
        if fields.get("depends_on"):
            fields["depends_on"] = [self._id(d) for d in fields["depends_on"]]
        if "operation_id" in fields:
            fields["operation_id"] = self._op(fields["operation_id"])
        if fields.get("deliver_after") is not None:
            fields["deliver_after"] = self._base + float(fields["deliver_after"])
        rec.update({k: v for k, v in fields.items() if v is not None})
        self.records.append({k: rec[k] for k in FIELDS if k in rec})

    def step(self, clock: float, request: Step, reply: dict[str, Any]) -> None:
        """Record one ok step: what the harness did, then the events the IUT reported."""
        cmd = request.get("cmd")
        if cmd == "create":
            self.add(
                clock,
                "created",
                **{
                    k: request.get(k)
                    for k in (
                        "activity",
                        "kind",
                        "type",
                        "state",
                        "computer",
                        "deliver_after",
                        "depends_on",
                        "progress_of",
                        "threshold",
                        "parent",
                    )
                },
            )
        elif cmd == "exchange":
            self.add(clock, "exchange", computer=request["computer"])
        elif cmd == "progress":
            self.add(clock, "progress", activity=request["activity"], value=request["value"])
        elif cmd == "crash":
            self.add(clock, "fault", fault="handler_crash", handler=request["handler"])
        for ev in reply.get("events", []):
            fields = {k: v for k, v in ev.items() if k != "event" and k in FIELDS}
            self.add(clock, ev["event"], **fields)
