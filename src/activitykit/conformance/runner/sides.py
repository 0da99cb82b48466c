"""One side's bookkeeping: what an implementation has told us, its moves judged by the model."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ...check.rules import op_key
from ...model import Kind, Profile, State, machine
from ..cases import Step

__all__ = ["Side"]


@dataclass
class Side:
    """What one implementation has told us: states, moves, operation-ids."""

    who: str
    profile: Profile
    states: dict[str, State] = field(default_factory=dict)
    kinds: dict[str, Kind] = field(default_factory=dict)
    #: the state each activity entered its current state from (the model's history input)
    entered_from: dict[str, State] = field(default_factory=dict)
    last_op: dict[str, Any] = field(default_factory=dict)
    op_owner: dict[str, str] = field(default_factory=dict)

    def created(self, request: Step) -> None:
        aid = request["activity"]
        self.states[aid] = State(request["state"])
        self.kinds[aid] = Kind(request["kind"])

    def apply(self, events: Iterable[dict[str, Any]]) -> list[str]:
        """Follow the reported events; return every problem with them."""
        problems = []
        for ev in events:
            kind = ev.get("event")
            aid = ev.get("activity")
            if kind == "deliver":
                # Unique per computer, compared as the checker's rule C1 compares them.
                key = op_key(ev.get("computer"), ev["operation_id"])
                if key in self.op_owner:
                    problems.append(
                        f"operation-id {ev['operation_id']!r} delivered for {aid} was already "
                        f"used for {self.op_owner[key]} on computer {ev.get('computer')}; "
                        "operation-ids must never be reused"
                    )
                self.op_owner[key] = str(aid)
                self.last_op[str(aid)] = ev["operation_id"]
            if kind != "transition":
                continue
            if aid not in self.states:
                problems.append(f"{self.who} reported a move of unknown activity {aid!r}")
                continue
            src, dst = State(ev["from"]), State(ev["to"])
            if src is not self.states[aid]:
                problems.append(
                    f"{self.who} reported {aid} moving from {src.value}, but it was "
                    f"{self.states[aid].value}"
                )
            # the model judges the move and its history condition (result-wins: a late
            # result settles only an activity canceled while In Progress)
            came = self.entered_from.get(aid) if src is self.states[aid] else None
            check = machine(self.kinds[aid], self.profile).check_after(came, src, dst)
            if not check.allowed:
                problems.append(f"{aid}: forbidden move: {check.reason}")
            self.entered_from[aid] = src
            self.states[aid] = dst
        return problems
