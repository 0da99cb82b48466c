"""Shared pieces of the engine: state names, the event and activity records, and the kernel
plumbing every part uses (scheduling at an exact time, emitting a record, moving a state).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from heapq import heappush
from typing import Any

from ..model import ActivityType, State
from ..scenario.schema import FleetGroup
from .rand import Streams
from .result import SimulationInvariantError

__all__ = [
    "DELIVERABLE",
    "INF",
    "OPEN",
    "POWER_OFF_DELAY",
    "Act",
    "Ev",
    "Group",
    "GroupCfg",
    "Kernel",
    "Record",
    "exp_dist",
    "neg_thr",
]

Record = dict[str, Any]

Q, S, W, B = State.QUEUED.value, State.SCHEDULED.value, State.WAITING.value, State.BLOCKED.value
IP, OK, KO, X = (
    State.IN_PROGRESS.value,
    State.SUCCEEDED.value,
    State.FAILED.value,
    State.CANCELED.value,
)
OPEN = frozenset({Q, S, W, B, IP})
DELIVERABLE = frozenset({Q, S})
INF = math.inf
#: Restart/Shutdown report success, then the computer powers off this much later (SPEC.md 4).
POWER_OFF_DELAY = 120.0


class Ev:
    """A pre-triggered event for SimPy's kernel: what ``Environment.step`` reads, and no more.

    ``simpy.Event`` carries an environment reference and a pending-value protocol that a
    scheduled callback does not need; this is about three times cheaper to make, and the
    simulator makes several per activity.
    """

    __slots__ = ("_ok", "_value", "callbacks")

    def __init__(self, fn: Callable[[Any], None], payload: Any) -> None:
        self.callbacks = [fn]
        self._value = payload
        self._ok = True


class Act:
    """One activity in the server's store (plain slots: a million of them must stay small)."""

    __slots__ = (
        "attempts",
        "atype",
        "cancel_ip",
        "client",
        "comp",
        "dependents",
        "done",
        "dur",
        "failp",
        "id",
        "last_progress",
        "op",
        "parent",
        "psat",
        "pwait",
        "state",
        "thr",
        "unmet",
        "vis",
        "watchers",
        "wsorted",
    )

    def __init__(self, aid: str, atype: ActivityType, client: bool, comp: int, state: str) -> None:
        self.id = aid
        self.atype = atype
        self.client = client
        self.comp = comp
        self.state = state
        self.attempts = 0
        self.cancel_ip = False
        self.dependents: list[Act] | None = None
        self.done = False
        self.dur: Callable[[], float] | None = None
        self.failp = 0.0
        self.last_progress = -1.0
        self.op = 0
        self.parent: Group | None = None
        self.psat = True
        self.pwait = None
        self.thr = 0.0
        self.vis = 0.0
        self.watchers: list[Act] | None = None
        self.wsorted = True
        self.unmet = 0


class Group:
    """A bulk operation's parent: not a state-machine activity, only progress (TRACE kit ext)."""

    __slots__ = ("done", "id", "last_progress", "n", "watchers", "wsorted")

    def __init__(self, gid: str, n: int) -> None:
        self.id = gid
        self.n = n
        self.done = 0
        self.last_progress = -1.0
        self.watchers: list[Act] | None = None
        self.wsorted = True


class GroupCfg:
    __slots__ = ("I", "P", "U", "cap", "default", "handlers", "name", "restart_down")

    def __init__(self, g: FleetGroup, streams: Streams) -> None:
        self.name = g.name
        self.I = g.exchange_interval
        self.U = g.urgent_exchange_interval
        self.P = g.ping_interval
        self.cap = g.max_messages_per_exchange
        self.handlers = g.handlers
        self.default = g.default_handler
        self.restart_down = streams.sampler(f"fleet/{g.name}/restart-downtime", g.restarts.downtime)


class Kernel:
    """Scheduling, record emission and checked state moves (the engine's three primitives)."""

    def _at(self, t: float, fn: Callable[[Ev], None], payload: Any = None) -> None:
        """Schedule ``fn`` at absolute time ``t`` (never in the past)."""
        now = self.env._now
        heappush(self._queue, (t if t > now else now, 1, next(self._eid), Ev(fn, payload)))
        self.n_sched += 1

    def _make_emit(self) -> Callable[[Record], None]:
        """``emit(record)``: count, write, check. Specialised once: it runs for every record."""
        write, feed, counter = self._write, self._feed, self._nrec

        if write is not None and feed is not None:

            def emit(rec: Record) -> None:
                counter[0] += 1
                write(rec)
                bad = feed(rec)
                if bad:
                    raise SimulationInvariantError(bad[0], rec)

        elif feed is not None:

            def emit(rec: Record) -> None:
                counter[0] += 1
                bad = feed(rec)
                if bad:
                    raise SimulationInvariantError(bad[0], rec)

        elif write is not None:

            def emit(rec: Record) -> None:
                counter[0] += 1
                write(rec)

        else:

            def emit(rec: Record) -> None:
                counter[0] += 1

        return emit

    def _move(self, a: Act, dst: str, t: float, cause: str) -> None:
        src = a.state
        if dst not in self._allowed[a.client][src] or (
            src == X and not a.cancel_ip  # result-wins: only after In Progress -> Canceled
        ):
            verdict = self._machines[a.client].check(State(src), State(dst))
            reason = verdict.reason or (
                f"{a.id}: Canceled -> {dst} is only allowed after In Progress -> Canceled"
            )
            raise SimulationInvariantError(
                reason, {"t": t, "event": "transition", "activity": a.id, "from": src, "to": dst}
            )
        a.state = dst
        self.emit(
            {
                "t": t,
                "event": "transition",
                "activity": a.id,
                "from": src,
                "to": dst,
                "cause": cause,
            }
        )


def neg_thr(a: Act) -> float:
    return -a.thr


def exp_dist(mean: float):
    """An exponential scenario distribution (for draws the schema gives as a bare mean)."""
    from ..scenario.schema import Exponential

    return Exponential(dist="exponential", mean=mean)
