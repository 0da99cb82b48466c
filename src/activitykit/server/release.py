"""The release rule, and how a due or released activity reaches its handler or computer.

Part of ``ActivityStore`` (a mixin: the store's one set of attributes, defined in
``ActivityStore.clear``). After every store call the Waiting activities whose inputs changed
(a dependency ended, a watched progress rose) are judged in creation order; a verdict moves
them (Canceled, Queued) or makes them ready in place (``release: direct``). The seams
``_publishes_when_due`` and ``_dependency_verdict`` are overridden by conformance mutants.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

from .activity import KO, OK, Activity, Group, Q, S, W, X

__all__ = ["ReleaseRule"]


def _neg_threshold(a: Activity) -> float:
    return -a.threshold


class ReleaseRule:
    """The release rule and the due/ready/publish path of ``ActivityStore``."""

    # shared with the rest of the store (``ActivityStore.__init__`` / ``clear`` set them)
    emit: Callable[[dict[str, Any]], None]
    on_deliverable: Callable[[Any, float], None]
    on_publish: Callable[[Activity, float], None]
    open: int
    _t: float
    _heap: list[tuple[int, Activity]]
    _exchanging: Any
    _ready_now: list[Activity]
    _cancel_on_failure: bool
    _allowed: dict[bool, dict[str, frozenset[str]]]
    _move: Callable[[Activity, str, str], None]
    _history_opens: Callable[[Activity, str], bool]

    # -- seams (the conformance mutants override these) ---------------------------------------
    def _publishes_when_due(self, a: Activity) -> bool:
        """A due Scheduled activity moves by itself only when it is a server one."""
        return not a.client

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

    # -- the machinery ---------------------------------------------------------------------------
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
            if not self._allowed[a.client][a.state] or not self._history_opens(a, a.state):
                a.dependents = None  # it will not move again (the model's ``settled``)

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
                        a.vis = self._t
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
