"""A recording stand-in for the server core, until the core lands (see ServerPort).

It records every call, and makes the moves a server activity makes in the plain case
(Queued -> In Progress at its first consume, In Progress -> Succeeded/Failed at its first
finish) so that the harness's records can be checked as a whole trace. It is a test
double: no approvals, cancellations, dependencies or schedules, and no claim to be the
semantics; the server core implements ServerPort for real runs.
"""

from __future__ import annotations

from typing import Any

from activitykit.live.amqp.port import Emit


class RecordingPort:
    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.calls: list[tuple[Any, ...]] = []
        self.state: dict[str, str] = {}

    def create(self, activity: str, atype: str, t: float) -> None:
        self.state[activity] = "Queued"
        self.emit(
            {
                "t": t,
                "event": "created",
                "activity": activity,
                "kind": "server",
                "type": atype,
                "state": "Queued",
            }
        )

    def _move(self, activity: str, to: str, t: float, cause: str) -> None:
        self.emit(
            {
                "t": t,
                "event": "transition",
                "activity": activity,
                "from": self.state[activity],
                "to": to,
                "cause": cause,
            }
        )
        self.state[activity] = to

    def published(self, activity: str, t: float) -> None:
        self.calls.append(("published", activity))

    def consumed(self, activity: str, handler: str, redelivered: bool, t: float) -> None:
        self.calls.append(("consumed", activity, handler, redelivered))
        if self.state[activity] == "Queued":
            self._move(activity, "In Progress", t, "consume")

    def finished(self, activity: str, handler: str, status: str, t: float) -> None:
        self.calls.append(("finished", activity, handler, status))
        if self.state[activity] == "In Progress":
            to = "Succeeded" if status == "succeeded" else "Failed"
            self._move(activity, to, t, "job-handler")

    def handler_lost(self, handler: str, t: float) -> None:
        self.calls.append(("handler_lost", handler))
