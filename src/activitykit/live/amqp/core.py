"""The server side of a live run on the one server core.

``StoreServer`` implements ``ServerPort`` on ``activitykit.server.ActivityStore``: the store
decides every move, writes ``enqueue`` / ``consume`` / transitions, and asks for publishing;
the AMQP side (``AmqpServerSide``) carries the messages. ``activitykit live``
(``activitykit.live.server_activities``) runs it on the run's one store, the server
activities created from the same creation plan as the client ones (``LiveWorkload``);
``--clients 0`` runs server activities alone.

Handler durations and failures are drawn from the scenario's server handler settings with
the simulator's random-stream names (``duration/server/<type>``, ``server/failure``); they
are drawn when an activity is published, not when it starts, so the values match the
simulator's in distribution, not one by one. A template-level ``handler`` override of the
workload is not carried over.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from ...scenario.schema import Scenario
from ...server import Activity, ActivityStore
from .port import Emit
from .server_side import AmqpServerSide

__all__ = ["StoreServer", "handler_model_for"]

Record = dict[str, Any]
#: Given an activity being published: (work time in real seconds, "succeeded"/"failed").
HandlerModel = Callable[[Activity], tuple[float, str]]


class StoreServer:
    """``ServerPort`` on the server core; publishes through ``side`` (set before use).

    The broker's ``redelivered`` flag is known only here, at the moment of the consume: it is
    added to the core's ``consume`` record as the kit's ``redelivered`` field.
    """

    def __init__(
        self,
        emit: Emit,
        *,
        profile: str = "result-wins",
        on_dependency_failure: str = "cancel",
        handler_model: HandlerModel | None = None,
        store: ActivityStore | None = None,
    ) -> None:
        self.handler_model = handler_model or (lambda a: (0.0, "succeeded"))
        self.side: AmqpServerSide | None = None
        if store is None:
            self._out = emit
            self.store = ActivityStore(
                profile,
                emit=self._emit,
                at=self._at,
                on_publish=self._on_publish,
                on_dependency_failure=on_dependency_failure,
            )
        else:
            # A store another driver owns (``activitykit live``: one store for the client and
            # the server activities): its records, clock and settings stay that driver's; the
            # server side takes over publishing and adds the ``redelivered`` field.
            self._out = store.emit
            store.emit = self._emit
            store.on_publish = self._on_publish
            self.store = store
        self._redelivered: bool | None = None
        self._running: set[tuple[str, int, str]] = set()
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()

    # -- driver duties of the store --------------------------------------------------------
    def _emit(self, rec: Record) -> None:
        if self._redelivered is not None and rec["event"] == "consume":
            rec["redelivered"] = self._redelivered
        self._out(rec)

    def _at(self, t: float, callback: Callable[[float], None]) -> None:
        heapq.heappush(self._timers, (t, next(self._seq), callback))

    def _on_publish(self, a: Activity, t: float) -> None:
        assert self.side is not None, "StoreServer.side must be set before activities exist"
        duration, outcome = self.handler_model(a)
        self.side.publish(a.id, a.gen, a.type.name, duration, outcome)

    def next_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def run_timers(self, now: float) -> None:
        """Fire the store's wake-ups that are due; at ``now`` (never in the trace's past)."""
        while self._timers and self._timers[0][0] <= now:
            _, _, cb = heapq.heappop(self._timers)
            cb(now)

    # -- ServerPort ------------------------------------------------------------------------
    def consumed(self, activity: str, gen: int, handler: str, redelivered: bool, t: float) -> bool:
        a = self.store.get(activity)
        self._redelivered = redelivered
        try:
            ok = self.store.consume(t, a, gen, handler, redelivered)
        finally:
            self._redelivered = None
        if ok:
            self._running.add((activity, gen, handler))
        return ok

    def finished(self, activity: str, gen: int, handler: str, status: str, t: float) -> None:
        # Only the handler whose consume the core accepted settles: the work on a stale
        # message (canceled, republished) ends with its ack and nothing else.
        key = (activity, gen, handler)
        if key in self._running:
            self._running.discard(key)
            self.store.finish(t, self.store.get(activity), status)

    def handler_lost(self, handler: str, t: float) -> None:
        self._running = {k for k in self._running if k[2] != handler}


# ---------------------------------------------------------------------- the work
def handler_model_for(scenario: Scenario) -> HandlerModel:
    """The kit handler's work (real seconds, outcome) for each published activity, drawn from
    the scenario's server handler settings."""
    from ...sim.rand import Streams

    srv = scenario.server
    streams = Streams(scenario.seed)
    fail = streams.uniform("server/failure")
    samplers: dict[str, Callable[[], float]] = {}

    def model(a: Activity) -> tuple[float, str]:
        name = a.type.name
        spec = srv.handlers.get(name) or srv.default_handler
        smp = samplers.get(name)
        if smp is None:
            smp = samplers[name] = streams.sampler(f"duration/server/{name}", spec.duration)
        d = smp()
        p = spec.failure_probability
        return d, "failed" if p and fail() < p else "succeeded"

    return model
