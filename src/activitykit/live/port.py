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

__all__ = ["ActivityPort", "ComputerView", "Notice", "NoticeKind"]


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


class ActivityPort(Protocol):
    """Where the emulator asks for work and hands back results."""

    def deliverable(self, computer: ComputerView, t: float) -> list[dict[str, Any]]:
        """Messages to send to ``computer`` in the exchange being answered at ``t``.

        Each is a server message dict with a ``type`` (``execute-script``...) and, for
        activities, a fresh ``operation-id``. Returning a message means it is delivered:
        the emulator resends it until the client acknowledges it.
        """
        ...

    def has_messages(self, computer: ComputerView, t: float) -> bool:
        """The ping's answer: whether an exchange now would carry work for ``computer``."""
        ...

    def result(
        self,
        computer: ComputerView,
        operation_id: int,
        status: int,
        result_text: str,
        result_code: int | None,
        t: float,
    ) -> None:
        """An ``operation-result`` arrived in an exchange (status 6 succeeded, 5 failed)."""
        ...

    def notify(self, notice: Notice) -> None:
        """Registration, exchange, ping and protocol events, in the order they happen."""
        ...
