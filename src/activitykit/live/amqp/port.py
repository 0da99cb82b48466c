"""What the AMQP side tells the server, and where every record of a live run goes.

The AMQP side (``AmqpServerSide``) knows the broker: what a handler consumed and whether
the broker flagged it redelivered, what a handler reported finished, which handler died.
It does not know the activity semantics (is a consume of a Canceled activity a move? does
the finish of a stale message count?): those belong to the server core
(``activitykit.server.ActivityStore``), the one implementation the simulator and the
conformance reference also run. ``ServerPort`` is the narrow interface from the broker to
the core (``core.StoreServer`` implements it); the core publishes through
``AmqpServerSide.publish``. The core writes ``enqueue``, ``consume`` and the transitions;
the AMQP side writes ``ack`` (after the core settled the activity) and ``fault``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ...check import Checker
from ...check.report import Violation
from ...trace.writers import TraceWriter

__all__ = ["Emit", "Recorder", "ServerPort"]

Record = dict[str, Any]
#: Where records go, one at a time, in trace order.
Emit = Callable[[Record], None]


class ServerPort(Protocol):
    """State changes of server activities, driven by what happened on the broker.

    Each method is called once per event, in the order the harness learned of them, with
    ``t`` on the run's clock; the implementation emits the records of what it decides (the
    ``consume`` and the transitions) through the ``Emit`` it shares with the harness. A
    message is ``(activity, gen)``: ``gen`` is the activity's publication it belongs to.
    """

    def consumed(self, activity: str, gen: int, handler: str, redelivered: bool, t: float) -> bool:
        """A handler took the message; False if it is stale (canceled, republished, ended):
        the handler's work on it then settles nothing."""
        ...

    def finished(self, activity: str, gen: int, handler: str, status: str, t: float) -> None:
        """The handler ended its work ("succeeded"/"failed") and acknowledged the message;
        the harness records ``ack`` after this call returns."""
        ...

    def handler_lost(self, handler: str, t: float) -> None:
        """The handler is gone; the broker requeues what it had not acknowledged."""
        ...


class Recorder:
    """Writes every record to a trace writer and judges it with the online checker at once.

    ``strict``: the first violation raises ``AssertionError`` naming it (a live run against
    the kit's own handlers must be conformant; a violation is a bug to stop at). Otherwise
    violations are collected in ``violations``.
    """

    def __init__(
        self,
        writer: TraceWriter | None = None,
        checker: Checker | None = None,
        strict: bool = True,
    ) -> None:
        self.writer = writer
        self.checker = checker if checker is not None else Checker()
        self.strict = strict
        self.records = 0
        self.violations: list[Violation] = []

    def emit(self, record: Record) -> None:
        self.records += 1
        if self.writer is not None:
            self.writer.write(record)
        bad = self.checker.feed(record)
        if bad:
            self.violations.extend(bad)
            if self.strict:
                raise AssertionError(f"trace violation: {bad[0]}")
