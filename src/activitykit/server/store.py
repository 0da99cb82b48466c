"""``ActivityStore``: the server's activity semantics, on whatever clock drives it.

See the package docstring (``activitykit.server``) for the API and the driver's duties. The
store is one class written in three modules by idea: this one (state, creation, the admin's
actions, legality of every move), ``release`` (the release rule; due, ready, publish) and
``delivery`` (exchanges and the broker's messages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from heapq import heappush
from typing import Any

from ..model import (
    ActivityType,
    Kind,
    Profile,
    State,
    UnknownActivityTypeError,
    activity_type,
    machine,
    parse_profile,
)
from .activity import IP, START, Activity, B, Group, Q, Refused, S, W, X
from .delivery import Delivery
from .release import ReleaseRule

__all__ = ["RELEASE_MODES", "ActivityStore", "IllegalMove"]

#: ``create``'s ``release``: pass through Queued, or keep the state until delivery.
RELEASE_MODES = ("queue", "direct")
Record = dict[str, Any]


class IllegalMove(AssertionError):
    """A strict store was asked to make a move its machine forbids (a bug in the driver)."""

    def __init__(self, reason: str, record: Record | None = None) -> None:
        self.reason = reason
        self.record = record
        super().__init__(reason)


def _no_wake(computer: Any, t: float) -> None:
    return None


def _no_publish(a: Activity, t: float) -> None:
    return None


class ActivityStore(Delivery, ReleaseRule):
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
        self._machines = {
            c: machine(k, self.profile) for c, k in ((True, "client"), (False, "server"))
        }
        self._allowed = {
            c: {s.value: frozenset(d.value for d in dsts) for s, dsts in m.transitions.items()}
            for c, m in self._machines.items()
        }
        # The model's history conditions (``StateMachine.entered_from``) as plain strings, for
        # the hot path: the exits of state s open only to an activity that entered s from need.
        self._need = {
            c: {s.value: p.value for s, p in m.entered_from.items()}
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
        self._types: dict[tuple[str, str], tuple[ActivityType, Kind]] = {}

    # -- looking up ------------------------------------------------------------------------
    def get(self, aid: str) -> Activity:
        try:
            return self.activities[aid]
        except KeyError:
            raise Refused(f"unknown activity {aid!r}") from None

    def pending(self, computer: Any) -> list[Activity]:
        """Client activities of ``computer`` still in a start state, in creation order."""
        return self._pending.get(computer, [])

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
        known = self._types.get((type_name, kind))
        atype, kind_ = known if known is not None else self._type_of(type_name, kind)
        if state not in START:
            try:
                name = State(state).value
            except ValueError:
                raise Refused(f"unknown state {state!r}") from None
            raise Refused(f"{name} is not a start state (Queued, Scheduled, Waiting, Blocked)")
        client = kind == "client"
        if client and computer is None:
            raise Refused("a client activity needs a computer")
        if state == S and deliver_after is None:
            raise Refused("a Scheduled activity needs deliver_after")
        deps: tuple[Activity, ...] = ()
        target = None
        if depends_on or progress_of is not None or threshold is not None or state == W:
            # (none of these rules can fail without one of those: most creations skip them)
            if depends_on:
                deps = tuple(self._known(d, groups=False) for d in depends_on)
            if progress_of is not None:
                target = self._known(progress_of, groups=True)
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
        a = Activity(aid, atype, kind_, state, len(self.activities), computer, cname)
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

    def _type_of(self, type_name: str, kind: str) -> tuple[ActivityType, Kind]:
        """Validate a (type, kind) pair once; ``create`` then finds it in ``_types``."""
        if kind not in ("client", "server"):
            raise Refused(f"unknown kind {kind!r}; accepted: client, server")
        try:
            atype = activity_type(type_name)
        except UnknownActivityTypeError as exc:
            raise Refused(str(exc)) from None
        if atype.kind.value != kind:
            raise Refused(f"type {type_name} is a {atype.kind.value} activity, not {kind}")
        known = self._types[(type_name, kind)] = (atype, atype.kind)
        return known

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

    # -- seams (the conformance mutants override these) ---------------------------------------
    def _may_cancel(self, a: Activity) -> bool:
        return X in self._allowed[a.client][a.state]

    # -- legality of every move ----------------------------------------------------------------
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
            dst not in self._allowed[a.client][src]
            or (src in self._need[a.client] and not self._history_opens(a, src))
        ):
            came = None if a.came_from is None else State(a.came_from)
            check = self._machines[a.client].check_after(came, State(src), State(dst))
            raise IllegalMove(f"{a.id}: {check.reason}", rec)
        a.came_from = src
        a.state = dst
        self.emit(rec)

    def _history_opens(self, a: Activity, state: str) -> bool:
        """Does ``a``'s history open the exits of ``state`` (``StateMachine.allows_after``)?"""
        need = self._need[a.client].get(state)
        return need is None or a.came_from == need
