"""Delivery: a computer's exchange (results up, deliveries down) and the broker's messages.

Part of ``ActivityStore`` (a mixin: the store's one set of attributes, defined in
``ActivityStore.clear``). The seams ``_deliverable``, ``_settle`` and ``_new_operation_id``
are overridden by conformance mutants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .activity import IP, KO, OK, START, Activity, Q, S, W, X

__all__ = ["Delivery"]


class Delivery:
    """The exchange and message-consumption calls of ``ActivityStore``."""

    # shared with the rest of the store (``ActivityStore.__init__`` / ``clear`` set them)
    emit: Callable[[dict[str, Any]], None]
    ops: dict[Any, Activity]
    _t: float
    _next_op: int
    _pending: dict[Any, list[Activity]]
    _exchanging: Any
    _ready_now: list[Activity]
    _heap: list[tuple[int, Activity]]
    _allowed: dict[bool, dict[str, frozenset[str]]]
    _move: Callable[[Activity, str, str], None]
    _history_opens: Callable[[Activity, str], bool]
    _ended: Callable[[Activity], None]
    _propagate: Callable[[], None]

    def has_deliverable(self, t: float, computer: Any, seen: float | None = None) -> bool:
        """Would an exchange of ``computer`` at ``t`` deliver something? With ``seen``: was
        something deliverable already at time ``seen`` (a ping service's delayed view)?"""
        self._t = t
        for a in self._pending.get(computer, ()):
            if (seen is None or a.vis <= seen) and self._deliverable(a):
                return True
        return False

    # -- the client side: exchanges ----------------------------------------------------------
    def exchange(
        self, t: float, computer: Any, results: Iterable[tuple[Any, str]] = ()
    ) -> tuple[list[Activity], list[tuple[Any, Activity | None, bool]]]:
        """An exchange of ``computer``: take its operation-results ``(operation_id, status)``
        in order, then deliver everything deliverable (-> In Progress, fresh operation-ids).

        Returns the delivered activities and, per result, ``(operation_id, activity or None
        when that id was not delivered to this computer, accepted)``.
        """
        self._t = t
        self._exchanging = computer
        ready = self._ready_now = []
        answers: list[tuple[Any, Activity | None, bool]] = []
        for op, status in results:
            a = self.ops.get(op)
            if a is None or a.computer != computer:
                answers.append((op, None, False))
                continue
            self.emit(
                {
                    "t": t,
                    "event": "result",
                    "activity": a.id,
                    "computer": a.cname,
                    "operation_id": op,
                    "status": status,
                }
            )
            answers.append((op, a, self._settle(a, status, "result")))
            if self._heap:  # (the rule's pass, called only when it has something to judge)
                self._propagate()
        delivered: list[Activity] = []
        pend = self._pending.get(computer)
        if pend:
            keep = []
            for a in pend:
                if (ready and a in ready) or self._deliverable(a):
                    op = self._new_operation_id(a.cname)
                    self.ops[op] = a
                    a.op = op
                    self.emit(
                        {
                            "t": t,
                            "event": "deliver",
                            "activity": a.id,
                            "computer": a.cname,
                            "operation_id": op,
                        }
                    )
                    self._move(a, IP, "exchange")
                    delivered.append(a)
                elif a.state in START:
                    keep.append(a)
            if keep:
                self._pending[computer] = keep
            else:
                del self._pending[computer]
        self._exchanging = None
        self._ready_now = []
        if self._heap:
            self._propagate()
        return delivered, answers

    # -- the server side: the broker's messages ------------------------------------------------
    def consumable(self, a: Activity, gen: int) -> bool:
        """Is a message of publication ``gen`` of ``a`` still worth handing to a handler?
        (No once canceled, blocked or republished; yes for a redelivery In Progress.)"""
        s = a.state
        return gen == a.gen and (s in (Q, IP) or (a.ready and s in (S, W)))

    def consume(
        self, t: float, a: Activity, gen: int, handler: str, redelivered: bool = False
    ) -> bool:
        """``handler`` took the message (``a``, ``gen``) from the broker. False: the message is
        stale; the broker acks and drops it, nothing else happens. ``redelivered`` is the
        broker's flag; the attempt number is counted here, so it only documents the call."""
        self._t = t
        if not self.consumable(a, gen):
            return False
        a.attempts += 1
        self.emit(
            {
                "t": t,
                "event": "consume",
                "activity": a.id,
                "handler": handler,
                "attempt": a.attempts,
            }
        )
        if a.state != IP:  # a redelivery is already In Progress: no second move
            self._move(a, IP, "consume")
        return True

    def finish(self, t: float, a: Activity, status: str) -> bool:
        """The handler holding ``a`` finished; True if that settled it."""
        self._t = t
        accepted = self._settle(a, status, "finish")
        self._propagate()
        return accepted

    # -- seams (the conformance mutants override these) ---------------------------------------
    def _deliverable(self, a: Activity) -> bool:
        """May this client activity be sent at its computer's exchange (at ``self._t``)?"""
        s = a.state
        if s == Q or (s == W and a.ready):
            return True
        return s == S and a.due <= self._t

    def _settle(self, a: Activity, status: str, cause: str) -> bool:
        """Apply a result (client operation-result or handler finish); True if it moved."""
        dst = OK if status == "succeeded" else KO
        if a.state == IP:
            self._move(a, dst, cause)
            self._ended(a)
            return True
        if a.state == X and dst in self._allowed[a.client][X] and self._history_opens(a, X):
            self._move(a, dst, cause)  # a late result (result-wins); final afterwards
            self._ended(a)
            return True
        return False

    def _new_operation_id(self, computer: str | None) -> Any:
        op = self._next_op
        self._next_op += 1
        return op
