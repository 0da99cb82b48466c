"""The server's message broker (RabbitMQ-like) and its job-handlers (SimPy processes).

``Broker`` is a ``simpy.Store`` of messages ``(activity, publication, redelivered)``: FIFO,
each message handed to one consumer, requeued messages at the head. A ``JobHandler`` holds
at most ``prefetch`` unacknowledged messages (it keeps that many ``get`` requests open, so the
broker pushes to it round-robin with the other handlers, as RabbitMQ does), works one at a
time and acknowledges each when done. When it crashes, every unacknowledged message goes back
to the head of the queue in order, flagged ``redelivered`` (at-least-once).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import simpy

from ..server.activity import IP, Activity
from .kernel import Record, exact_delay

if TYPE_CHECKING:
    from ..server import ActivityStore

__all__ = ["Broker", "JobHandler", "Message"]

Message = tuple[Activity, int, bool]


class Broker(simpy.Store):
    """The job queue. ``publish`` appends; ``requeue`` puts messages back at the head."""

    def publish(self, a: Activity, t: float) -> None:
        self.put(((a, a.gen, False), False))

    def requeue(self, messages: list[Message]) -> None:
        for a, gen, _ in reversed(messages):
            self.put(((a, gen, True), True))

    def _do_put(self, event: Any) -> None:  # SimPy's documented hook for store subclasses
        msg, head = event.item
        if head:
            self.items.insert(0, msg)
        else:
            self.items.append(msg)
        event.succeed()


class JobHandler:
    """One job-handler service: a SimPy process consuming from the broker.

    Extension points: ``duration(activity) -> seconds`` (the work time model; the default
    draws from the activity's handler spec), ``pause()`` / ``resume()`` (it finishes what it is
    doing, then takes nothing until resumed; what it holds stays unacknowledged), ``crash()``.
    """

    def __init__(
        self,
        index: int,
        env: simpy.Environment,
        broker: Broker,
        store: ActivityStore,
        emit: Callable[[Record], None],
        counters: dict[str, int],
        prefetch: int,
        progress_interval: float,
        failure_draw: Callable[[], float],
        restart_delay: Callable[[], float],
    ) -> None:
        self.name = f"h{index + 1}"
        self.env = env
        self.broker = broker
        self.store = store
        self.emit = emit
        self.c = counters
        self.prefetch = prefetch
        self.progress_interval = progress_interval
        self._u_fail = failure_draw
        self._restart_delay = restart_delay
        self.duration: Callable[[Activity], float] = _drawn_duration
        self.held: deque[Message] = deque()  # unacknowledged, the one in work first
        self._gets: list[Any] = []
        self._idle: simpy.Event | None = None
        self._paused: simpy.Event | None = None
        self.up = True
        #: Triggered (and replaced) each time the handler is back after a crash.
        self.restarted = env.event()
        # No ``get`` yet: ``subscribe`` opens them round-robin over all handlers, as RabbitMQ
        # fills its consumers' prefetch windows one message per consumer in turn.
        self.process = env.process(self._run())

    # -- control -----------------------------------------------------------------------------
    def pause(self) -> None:
        if self._paused is None:
            self._paused = self.env.event()

    def resume(self) -> None:
        if self._paused is not None:
            self._paused.succeed()
            self._paused = None

    def crash(self) -> None:
        self.process.interrupt("crash")

    # -- the broker side ---------------------------------------------------------------------
    @staticmethod
    def subscribe(handlers: list[JobHandler]) -> None:
        """Open every handler's prefetch window, one ``get`` per handler in turn.

        The broker serves ``get`` requests in the order they were made, so the order of the
        first requests is the spread of the first messages: h1, h2, h1, h2... (checked against
        a real RabbitMQ in tests/amqp/test_amqp_sim_queue.py). Later requests follow acks.
        """
        for _ in range(max((h.prefetch for h in handlers), default=0)):
            for h in handlers:
                h._request(1)

    def _request(self, most: int | None = None) -> None:
        """Keep ``prefetch`` messages held or asked for (at most ``most`` new requests)."""
        while len(self.held) + len(self._gets) < self.prefetch and most != 0:
            g = self.broker.get()
            g.callbacks.append(self._got)
            self._gets.append(g)
            most = None if most is None else most - 1

    def _got(self, ev: Any) -> None:
        if not self.up or ev not in self._gets:  # handed over as it died: back to the head
            self.broker.requeue([ev.value])
            return
        self._gets.remove(ev)
        self.held.append(ev.value)
        if self._idle is not None:
            self._idle.succeed()
            self._idle = None

    def _ack(self, a: Activity) -> None:
        self.held.popleft()
        self.c["acks"] += 1
        self.emit({"t": self.env.now, "event": "ack", "activity": a.id, "handler": self.name})
        self._request()

    # -- the process -------------------------------------------------------------------------
    def _run(self):
        env = self.env
        while True:
            try:
                while self._paused is not None or not self.held:
                    if self._paused is not None:
                        yield self._paused
                    else:
                        self._idle = env.event()
                        yield self._idle
                yield from self._work(*self.held[0])
            except simpy.Interrupt:
                yield from self._crashed()

    def _work(self, a: Activity, gen: int, redelivered: bool):
        env, store = self.env, self.store
        t0 = env.now
        was_running = a.state == IP
        if not store.consume(t0, a, gen, self.name, redelivered):
            self.c["dropped_messages"] += 1  # canceled or blocked while queued
            self._ack(a)
            return
        self.c["consumes"] += 1
        if was_running:
            # Redelivery after a crash: already In Progress; the work starts again (no move).
            self.c["redeliveries"] += 1
        d = self.duration(a)
        end = t0 + d
        pi = self.progress_interval
        if a.type.reports_progress and pi < d:
            while env.now + pi < end:
                yield env.timeout(pi)
                if a.state == IP:
                    store.progress(env.now, a, min((env.now - t0) / d, 1.0))
        yield env.timeout(exact_delay(env.now, end))
        t = env.now
        if a.state == IP:
            failp = a.extra.failp
            ok = not (failp and self._u_fail() < failp)
            if ok and (a.type.reports_progress or store.watched(a)):
                store.progress(t, a, 1.0)
            store.finish(t, a, "succeeded" if ok else "failed")
        self._ack(a)

    def _crashed(self):
        env = self.env
        self.c["handler_crashes"] += 1
        self.emit({"t": env.now, "event": "fault", "handler": self.name, "fault": "handler_crash"})
        self.up = False
        for g in self._gets:
            g.cancel()
        self._gets.clear()
        back = list(self.held)
        self.held.clear()
        self.broker.requeue(back)
        self._idle = None
        yield env.timeout(self._restart_delay())
        self.up = True
        self.emit(
            {"t": env.now, "event": "fault", "handler": self.name, "fault": "handler_restart"}
        )
        done, self.restarted = self.restarted, env.event()
        done.succeed()
        self._request()


def _drawn_duration(a: Activity) -> float:
    return a.extra.duration()
