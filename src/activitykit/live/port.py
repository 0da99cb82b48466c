"""The port through which activities enter the emulated Landscape server.

The emulator (``activitykit.live.exchange`` and ``activitykit.live.server``) knows the wire
protocol and nothing about activities; whatever holds the activities (the kit's server core
on a wall clock, or a scripted fake in tests) implements :class:`ActivityPort`. Every call
carries ``t``, the seconds since the run started, so that the port never reads a clock of
its own and a trace of the calls can be replayed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["ActivityPort", "ComputerView", "Notice", "NoticeKind", "OperationResult"]


@dataclass(frozen=True, slots=True)
class ComputerView:
    """What the port may know of a registered computer.

    ``name`` is the computer title the client registered with (the fleet gives every
    client a unique one) and is the ``computer`` of trace records. ``accepts`` is the set
    of server message types the client said it handles; a message of another type would
    be silently dropped by the client, so the port must not deliver it.
    """

    name: str
    secure_id: str
    insecure_id: int
    accepts: frozenset[str] = frozenset()


NoticeKind = Literal[
    "register",  # a client registered: detail has secure_id, insecure_id, account
    "exchange",  # an exchange was answered: detail has counts, sequences and message types
    "ping",  # a ping was answered: detail["messages"] is the answer
    "busy",  # a request was answered with a busy status during a busy window
    "rejected",  # a request was refused (bad body, wrong token...): detail has status, reason
    "unknown-id",  # an exchange named a computer id the server does not know
    "sequence",  # the client's and the server's sequence numbers disagreed
    "bad-message",  # a client message was malformed and skipped
    "port-error",  # the port raised; the client was answered 500
]


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the emulator did or saw, for the trace and the findings."""

    kind: NoticeKind
    t: float
    computer: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OperationResult:
    """One ``operation-result`` a client sent (status 6 succeeded, 5 failed)."""

    operation_id: int
    status: int
    text: str = ""
    code: int | None = None
    #: When the client queued it (its ``timestamp``, Unix seconds), if it said.
    timestamp: int | None = None


class ActivityPort(Protocol):
    """Where the emulator hands over results and asks for work."""

    def exchange(
        self, computer: ComputerView, results: list[OperationResult], t: float
    ) -> list[dict[str, Any]]:
        """One exchange of ``computer`` at ``t``: take its results, return what to deliver.

        ``results`` are the new operation-results of the exchange, in the client's order
        (duplicates of ones already taken are filtered out by the sequence numbers). The
        answer is a list of server messages, each with a ``type`` (``execute-script``...)
        and, for activities, a fresh ``operation-id``. Returning a message means it is
        delivered: the emulator resends it until the client acknowledges it.
        """
        ...

    def has_messages(self, computer: ComputerView, t: float) -> bool:
        """The ping's answer: whether an exchange now would carry work for ``computer``."""
        ...

    def notify(self, notice: Notice) -> None:
        """Registration, exchange, ping and protocol events, in the order they happen."""
        ...
