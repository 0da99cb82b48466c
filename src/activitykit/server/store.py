"""``ActivityStore``: the server's activity semantics, on whatever clock drives it.

See the package docstring (``activitykit.server``) for the API and the driver's duties.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from heapq import heappop, heappush
from typing import Any

from ..model import (
    Kind,
    Profile,
    State,
    UnknownActivityTypeError,
    activity_type,
    machine,
    parse_profile,
)
from .activity import IP, KO, OK, START, Activity, B, Group, Q, Refused, S, W, X

__all__ = ["RELEASE_MODES", "ActivityStore", "IllegalMove"]

#: ``create``'s ``release``: pass through Queued, or keep the state until delivery.
RELEASE_MODES = ("queue", "direct")
Record = dict[str, Any]


class IllegalMove(AssertionError):
    """A strict store was asked to make a move its machine forbids (a bug in the driver)."""

    def __init__(self, reason: str, record: Record) -> None:
        self.reason = reason
        self.record = record
        super().__init__(reason)


def _no_wake(computer: Any, t: float) -> None:
    return None


def _no_publish(a: Activity, t: float) -> None:
    return None


def _neg_threshold(a: Activity) -> float:
    return -a.threshold


class ActivityStore:
    """Every activity the server knows, and every rule that moves one (one instance per run)."""

    def __init__(
        self,
        profile: Profile | str | None = None,
        *,
        emit: Callable[[Record], None],
        at: Callable[[float, Callable[[float], None]], None],
        on_deliverable: Callable[[Any, float], None] = _no_wake,
        on_publish: Callable[[Activity, float], None] = _no_publish,
        on_dependency_failure: str = "cancel",
        strict: bool = True,
    ) -> None:
        self.profile = parse_profile(profile)
        self.emit = emit
        self.at = at
        self.on_deliverable = on_deliverable
        self.on_publish = on_publish
        self.strict = strict
        self._cancel_on_failure = on_dependency_failure == "cancel"
        self._configure_profile()
        self.clear()

    def _configure_profile(self) -> None:
        self._result_wins = self.profile is Profile.RESULT_WINS
        self._machines = {
            c: machine(k, self.profile) for c, k in ((True, "client"), (False, "server"))
        }
        self._allowed = {
            c: {s.value: frozenset(d.value for d in dsts) for s, dsts in m.transitions.items()}
            for c, m in self._machines.items()
        }

    def clear(self) -> None:
        """Forget every activity, group and operation-id (a fresh server)."""
        self.activities: dict[str, Activity] = {}
        self.groups: dict[str, Group] = {}
        #: operation-id -> the activity it was delivered for.
        self.ops: dict[Any, Activity] = {}
        self.open = 0  # activities not yet final
        self._next_op = 1
        #: Client activities in a start state, per computer, in creation order.
        self._pending: dict[Any, list[Activity]] = {}
        self._heap: list[tuple[int, Activity]] = []
        self._exchanging: Any = None
        self._ready_now: list[Activity] = []
        self._t = 0.0

    # -- looking up ------------------------------------------------------------------------
    def get(self, aid: str) -> Activity:
        try:
            return self.activities[aid]
        except KeyError:
            raise Refused(f"unknown activity {aid!r}") from None

    def pending(self, computer: Any) -> list[Activity]:
        """Client activities of ``computer`` still in a start state, in creation order."""
        return self._pending.get(computer, [])

    def has_deliverable(self, t: float, computer: Any, seen: float | None = None) -> bool:
        """Would an exchange of ``computer`` at ``t`` deliver something? With ``seen``: was
        something deliverable already at time ``seen`` (a ping service's delayed view)?"""
        self._t = t
        for a in self._pending.get(computer, ()):
            if (seen is None or a.vis <= seen) and self._deliverable(a):
                return True
        return False

    def watched(self, a: Activity) -> bool:
        """Does some Waiting activity wait for ``a``'s progress?"""
        return bool(a.watchers)

    # -- creation ----------------------------------------------------------------------------
    def create(
        self,
        t: float,
        aid: str,
        kind: str,
        type_name: str,
        state: str,
        *,
        computer: Any = None,
        cname: str | None = None,
        group: str | None = None,
        deliver_after: float | None = None,
        due: float | None = None,
        depends_on: Iterable[str] = (),
        progress_of: str | None = None,
        threshold: float | None = None,
        parent: str | None = None,
        release: str = "queue",
        extra: Any = None,
    ) -> Activity:
        """Create ``aid`` in a start state; ``due`` (default ``deliver_after``) is when a
        Scheduled one comes due. Raises ``Refused`` naming the rule a bad request breaks."""
        self._t = t
        if aid in self.activities or aid in self.groups:
            raise Refused(f"activity {aid!r} already exists; ids are unique")
        if kind not in ("client", "server"):
            raise Refused(f"unknown kind {kind!r}; accepted: client, server")
        try:
            atype = activity_type(type_name)
        except UnknownActivityTypeError as exc:
            raise Refused(str(exc)) from None
        if atype.kind is not Kind(kind):
            raise Refused(f"type {type_name} is a {atype.kind.value} activity, not {kind}")
        if state not in START:
            try:
                name = State(state).value
            except ValueError:
                raise Refused(f"unknown state {state!r}") from None
            raise Refused(f"{name} is not a start state (Queued, Scheduled, Waiting, Blocked)")
        client = atype.kind is Kind.CLIENT
        if client and computer is None:
            raise Refused("a client activity needs a computer")
        if state == S and deliver_after is None:
            raise Refused("a Scheduled activity needs deliver_after")
        deps = tuple(self._known(d, groups=False) for d in depends_on)
        target = self._known(progress_of, groups=True) if progress_of is not None else None
        if (deps or target is not None) and state not in (W, B):
            raise Refused("depends_on/progress_of are only for Waiting or Blocked activities")
        if state == W and not (deps or target is not None):
            raise Refused("a Waiting activity needs depends_on or progress_of")
        if (progress_of is None) != (threshold is None):
            raise Refused("progress_of and threshold go together")
        if threshold is not None and not 0 <= threshold <= 1:
            raise Refused(f"threshold {threshold} is outside [0, 1]")
        if release not in RELEASE_MODES:
            raise Refused(f"release {release!r} unknown; accepted: {', '.join(RELEASE_MODES)}")
        pgroup = self.groups.get(parent) if parent is not None else None

        if not client:
            computer = cname = None
        elif cname is None:
            cname = str(computer)
        a = Activity(aid, atype, state, len(self.activities), computer, cname)
        a.release = release
        self.activities[aid] = a
        self.open += 1
        rec: Record = {"t": t, "event": "created", "activity": aid}
        if client:
            rec["computer"] = cname
            if group is not None:
                rec["group"] = group
        rec["kind"] = kind
        rec["type"] = atype.name
        rec["state"] = state
        if deliver_after is not None:
            a.deliver_after = float(deliver_after)
            a.due = a.deliver_after if due is None else float(due)
            rec["deliver_after"] = a.deliver_after
        if deps:
            a.deps = deps
            rec["depends_on"] = [d.id for d in deps]
            for d in deps:
                if d.dependents is None:
                    d.dependents = [a]
                else:
                    d.dependents.append(a)
        if target is not None:
            a.target = target
            a.threshold = float(threshold)  # type: ignore[arg-type]
            rec["progress_of"] = target.id
            rec["threshold"] = a.threshold
            self._watch(a)
        if parent is not None:
            rec["parent"] = parent
            a.parent = pgroup
        a.extra = extra
        if client:
            lst = self._pending.get(computer)
            if lst is None:
                self._pending[computer] = [a]
            else:
                lst.append(a)
        self.emit(rec)
        if state == Q:
            if client:
                self._notify(a)
            else:
                self._publish(a)
        elif state == S:
            if a.due <= t:
                self._due(a, t)
            else:
                self.at(a.due, partial(self._due, a))
        elif state == W:
            heappush(self._heap, (a.seq, a))
            self._propagate()
        return a

    def _known(self, ref: Any, groups: bool) -> Activity | Group:
        a = self.activities.get(ref) if isinstance(ref, str) else None
        if a is None and groups and isinstance(ref, str):
            a = self.groups.get(ref)  # type: ignore[assignment]
        if a is None:
            raise Refused(f"dependency {ref!r} is not a known activity")
        return a

    def create_group(self, t: float, gid: str, type_name: str, children: int) -> Group:
        """Declare a bulk operation's parent with ``children`` children still to be created
        (each with ``parent=gid``); its progress starts at 0 (1 when it has none)."""
        self._t = t
        if gid in self.activities or gid in self.groups:
            raise Refused(f"activity {gid!r} already exists; ids are unique")
        g = self.groups[gid] = Group(gid, type_name, children)
        self.emit(
            {"t": t, "event": "group", "activity": gid, "type": type_name, "children": children}
        )
        self._set_progress(g, 0.0)
        if children == 0:
            self._set_progress(g, 1.0)
        self._propagate()
        return g

    # -- admin actions -------------------------------------------------------------------------
    def approve(self, t: float, a: Activity) -> None:
        self._t = t
        if a.state != B:
            raise Refused(f"only a Blocked activity can be approved; {a.id} is {a.state}")
        self.emit({"t": t, "event": "approve", "activity": a.id})
        # -> Waiting only while a dependency is unmet (a failed one is unmet too: the release
        # rule then cancels it), else straight to Queued.
        if (a.deps or a.target is not None) and self._dependency_verdict(a) != "release":
            self._move(a, W, "approve")
            heappush(self._heap, (a.seq, a))
        else:
            self._to_queued(a, "approve")
        self._propagate()

    def block(self, t: float, a: Activity) -> None:
        """Queued -> Blocked (a published message of it goes stale)."""
        self._t = t
        if a.state != Q:
            raise Refused(f"only a Queued activity can be blocked; {a.id} is {a.state}")
        self._move(a, B, "block")

    def may_cancel(self, a: Activity) -> bool:
        return self._may_cancel(a)

    def cancel(self, t: float, a: Activity) -> None:
        self._t = t
        if not self._may_cancel(a):
            raise Refused(f"{a.id} is {a.state} and can no longer be canceled")
        self.emit({"t": t, "event": "cancel", "activity": a.id})
        self._move(a, X, "cancel")
        self._ended(a)
        self._propagate()

    def progress(self, t: float, a: Activity, value: float) -> None:
        """A running activity reports how far it is (0..1)."""
        self._t = t
        if not 0 <= value <= 1:
            raise Refused(f"progress {value} is outside [0, 1]")
        if a.state != IP:
            raise Refused(f"only a running activity reports progress; {a.id} is {a.state}")
        self._set_progress(a, float(value))
        self._propagate()

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

    # -- the places where implementations go wrong (the conformance mutants override these) --
    def _publishes_when_due(self, a: Activity) -> bool:
        """A due Scheduled activity moves by itself only when it is a server one."""
        return not a.client

    def _deliverable(self, a: Activity) -> bool:
        """May this client activity be sent at its computer's exchange (at ``self._t``)?"""
        s = a.state
        if s == Q or (s == W and a.ready):
            return True
        return s == S and a.due <= self._t

    def _dependency_verdict(self, a: Activity) -> str:
        """``cancel`` if a dependency ended badly, ``release`` if all are met, else ``wait``."""
        for d in a.deps:
            if d.state == KO or d.state == X:
                return "cancel" if self._cancel_on_failure else "wait"
        for d in a.deps:
            if d.state != OK:
                return "wait"
        tg = a.target
        if tg is not None and (tg.progress is None or tg.progress < a.threshold):
            return "wait"
        return "release"

    def _settle(self, a: Activity, status: str, cause: str) -> bool:
        """Apply a result (client operation-result or handler finish); True if it moved."""
        dst = OK if status == "succeeded" else KO
        if a.state == IP:
            self._move(a, dst, cause)
            self._ended(a)
            return True
        if a.state == X and a.client and self._result_wins and a.canceled_running:
            self._move(a, dst, cause)
            a.canceled_running = False  # one late result only
            self._ended(a)
            return True
        return False

    def _new_operation_id(self, computer: str | None) -> Any:
        op = self._next_op
        self._next_op += 1
        return op

    def _may_cancel(self, a: Activity) -> bool:
        return X in self._allowed[a.client][a.state] and not (a.state == X and a.canceled_running)

    # -- the machinery ---------------------------------------------------------------------------
    def _move(self, a: Activity, dst: str, cause: str) -> None:
        src = a.state
        rec = {
            "t": self._t,
            "event": "transition",
            "activity": a.id,
            "from": src,
            "to": dst,
            "cause": cause,
        }
        if self.strict and (
            dst not in self._allowed[a.client][src] or (src == X and not a.canceled_running)
        ):
            reason = self._machines[a.client].check(State(src), State(dst)).reason or (
                f"{a.id}: Canceled -> {dst} is only allowed after In Progress -> Canceled"
            )
            raise IllegalMove(reason, rec)
        if src == IP and dst == X:
            a.canceled_running = True
        a.state = dst
        self.emit(rec)

    def _ended(self, a: Activity) -> None:
        """``a`` arrived in a final state: its group's progress, its dependents' verdicts."""
        if not a.done:
            a.done = True
            self.open -= 1
            g = a.parent
            if g is not None:
                g.done += 1
                self._set_progress(g, g.done / g.n if g.n else 1.0)
        deps = a.dependents
        if deps:
            for d in deps:
                heappush(self._heap, (d.seq, d))
            if not (a.state == X and a.canceled_running):
                a.dependents = None  # it will not move again

    def _set_progress(self, obj: Activity | Group, v: float) -> None:
        obj.progress = v
        self.emit({"t": self._t, "event": "progress", "activity": obj.id, "value": v})
        ws = obj.watchers
        if not ws:
            return
        if not obj.wsorted:
            ws.sort(key=_neg_threshold)  # lowest threshold last
            obj.wsorted = True
        while ws and ws[-1].threshold <= v:
            w = ws.pop()
            w.watching = False
            heappush(self._heap, (w.seq, w))

    def _watch(self, a: Activity) -> None:
        tg = a.target
        if tg.watchers is None:  # type: ignore[union-attr]
            tg.watchers = [a]  # type: ignore[union-attr]
        else:
            tg.watchers.append(a)  # type: ignore[union-attr]
            tg.wsorted = False  # type: ignore[union-attr]
        a.watching = True

    def _propagate(self) -> None:
        """The release rule: judge the Waiting activities whose inputs changed, in creation
        order. Dependents are always created after what they wait for, so one pass in
        ``seq`` order sees every cascade (the same order as judging all Waiting ones)."""
        heap = self._heap
        while heap:
            a = heappop(heap)[1]
            if a.state != W or a.ready:
                continue
            verdict = self._dependency_verdict(a)
            if verdict == "cancel":
                self.emit({"t": self._t, "event": "cancel", "activity": a.id})
                self._move(a, X, "dependency")
                self._ended(a)
            elif verdict == "release":
                if a.client and a.computer == self._exchanging and self._exchanging is not None:
                    if a not in self._ready_now:
                        self._ready_now.append(a)  # this exchange delivers it directly
                else:
                    self._make_ready(a, "released")
            elif a.target is not None and not a.watching:
                tg = a.target
                if tg.progress is None or tg.progress < a.threshold:
                    self._watch(a)  # its progress fell back: watch it again

    def _due(self, a: Activity, t: float) -> None:
        """A Scheduled activity's time came (called by the driver's scheduler at ``due``)."""
        if a.state != S or a.ready:
            return
        self._t = t
        if self._publishes_when_due(a):
            self._make_ready(a, "due")
        else:
            self._notify(a)  # a client one: the next exchange delivers it
        self._propagate()

    def _make_ready(self, a: Activity, cause: str) -> None:
        """Due or released: to Queued, or (``release: direct``) ready in the state it is in."""
        if a.release != "direct":
            self._to_queued(a, cause)
            return
        a.ready = True
        if a.client:
            self._notify(a)
        else:
            self._publish(a)

    def _to_queued(self, a: Activity, cause: str) -> None:
        self._move(a, Q, cause)
        if a.client:
            self._notify(a)
        else:
            self._publish(a)

    def _publish(self, a: Activity) -> None:
        a.gen += 1
        self.emit({"t": self._t, "event": "enqueue", "activity": a.id})
        self.on_publish(a, self._t)

    def _notify(self, a: Activity) -> None:
        a.vis = self._t
        if a.computer != self._exchanging or a.computer is None:
            self.on_deliverable(a.computer, self._t)
