"""What the server's store holds: activities, bulk groups, and the state names as plain strings.

States are the ``State`` values (``"In Progress"``), kept as ``str`` so that a record carries
them without conversion (``State`` is a ``StrEnum``: ``State.QUEUED == "Queued"``).
"""

from __future__ import annotations

from typing import Any

from ..model import ActivityType, Kind, State

__all__ = [
    "ENDED",
    "IP",
    "KO",
    "OK",
    "OPEN",
    "START",
    "Activity",
    "B",
    "Group",
    "Q",
    "Refused",
    "S",
    "W",
    "X",
]

Q, S, W, B = State.QUEUED.value, State.SCHEDULED.value, State.WAITING.value, State.BLOCKED.value
IP, OK, KO, X = (
    State.IN_PROGRESS.value,
    State.SUCCEEDED.value,
    State.FAILED.value,
    State.CANCELED.value,
)
START = frozenset({Q, S, W, B})
OPEN = START | {IP}
#: Ended for dependencies and cancellation (a client Canceled may still take one late result).
ENDED = frozenset({OK, KO, X})


class Refused(Exception):
    """The request is well formed but the semantics forbid it; the message says why."""


class Activity:
    """One activity in the store. Plain slots: a simulated run holds a million of them."""

    __slots__ = (
        "attempts",
        "canceled_running",
        "client",
        "cname",
        "computer",
        "deliver_after",
        "dependents",
        "deps",
        "done",
        "due",
        "extra",
        "gen",
        "id",
        "kind",
        "op",
        "parent",
        "progress",
        "ready",
        "release",
        "seq",
        "state",
        "target",
        "threshold",
        "type",
        "vis",
        "watchers",
        "watching",
        "wsorted",
    )

    def __init__(
        self, aid: str, atype: ActivityType, state: str, seq: int, computer: Any, cname: str | None
    ) -> None:
        self.id = aid
        self.type = atype
        self.kind: Kind = atype.kind
        self.client = atype.kind is Kind.CLIENT
        self.computer = computer  # the driver's key for the computer (None: server activity)
        self.cname = cname  # its name in records (``c12``)
        self.state = state
        self.seq = seq  # creation order: deliveries and the release rule follow it
        self.deliver_after: float | None = None
        self.due = 0.0  # when a Scheduled activity comes due (deliver_after + any window)
        self.deps: tuple[Activity, ...] = ()
        self.target: Activity | Group | None = None  # progress_of
        self.threshold = 0.0
        self.progress: float | None = None  # last reported progress
        self.parent: Group | None = None
        self.release = "queue"
        #: ``release: direct`` only: due or released, waiting for delivery in its own state.
        self.ready = False
        #: Moved In Progress -> Canceled (result-wins lets one late client result settle it).
        self.canceled_running = False
        self.done = False  # reached a final state once (counted for groups and ``open``)
        self.dependents: list[Activity] | None = None
        self.watchers: list[Activity] | None = None
        self.watching = False  # in its target's watchers list
        self.wsorted = True
        self.op: Any = None  # latest operation-id (client)
        self.attempts = 0  # consumes so far (server)
        self.gen = 0  # publications so far: a message of an older one is stale
        self.vis = 0.0  # when it last became deliverable (the ping service's view)
        self.extra: Any = None  # the driver's own data (the simulator's handler model)


class Group:
    """A bulk operation's parent: no states, only progress (the share of children final)."""

    __slots__ = ("done", "id", "n", "progress", "type", "watchers", "wsorted")

    def __init__(self, gid: str, type_name: str, n: int) -> None:
        self.id = gid
        self.type = type_name
        self.n = n
        self.done = 0
        self.progress: float | None = None
        self.watchers: list[Activity] | None = None
        self.wsorted = True
