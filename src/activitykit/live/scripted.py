"""A port that delivers messages handed to it in advance, for protocol tests and benchmarks.

It has no activity semantics at all (no states, no scheduling): it sends what it is given
at the next exchange of the named computer and records every result and notice. Runs of
activities go through the kit's server core instead.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .port import ComputerView, Notice, OperationResult

__all__ = ["Result", "ScriptedPort", "script_message"]


@dataclass(frozen=True, slots=True)
class Result:
    computer: str
    operation_id: int
    status: int
    text: str
    code: int | None
    t: float


def script_message(
    operation_id: int,
    code: str,
    *,
    time_limit: int = 60,
    interpreter: str = "/bin/sh",
    username: str = "root",
) -> dict[str, Any]:
    """An ``execute-script`` message as the client expects it."""
    return {
        "type": "execute-script",
        "operation-id": operation_id,
        "interpreter": interpreter,
        "code": code,
        "username": username,
        "time-limit": time_limit,
        "attachments": {},
    }


class ScriptedPort:
    """Deliver queued messages at the next exchange; keep results and notices in lists."""

    def __init__(self) -> None:
        self.pending: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self.delivered: list[tuple[str, int | None, float]] = []
        self.results: list[Result] = []
        self.notices: list[Notice] = []
        self._ids = itertools.count(1)

    def next_operation_id(self) -> int:
        return next(self._ids)

    def send(self, computer: str, message: dict[str, Any]) -> None:
        self.pending[computer].append(message)

    def script(self, computer: str, code: str, **kw: Any) -> int:
        """Queue a script for ``computer``; returns its operation id."""
        op = self.next_operation_id()
        self.send(computer, script_message(op, code, **kw))
        return op

    # ------------------------------------------------------------------ the port

    def exchange(
        self, computer: ComputerView, results: list[OperationResult], t: float
    ) -> list[dict[str, Any]]:
        for r in results:
            self.results.append(Result(computer.name, r.operation_id, r.status, r.text, r.code, t))
        out = self.pending.pop(computer.name, [])
        self.delivered.extend((computer.name, m.get("operation-id"), t) for m in out)
        return out

    def has_messages(self, computer: ComputerView, t: float) -> bool:
        return bool(self.pending.get(computer.name))

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)

    # ------------------------------------------------------------------ queries

    def kinds(self) -> list[str]:
        return [n.kind for n in self.notices]

    def result_of(self, operation_id: int) -> Result | None:
        return next((r for r in self.results if r.operation_id == operation_id), None)
