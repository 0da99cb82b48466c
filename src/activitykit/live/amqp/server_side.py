"""The live harness's server side: server activities through a real RabbitMQ queue.

``AmqpServerSide`` publishes each server activity as a persistent message to a durable job
queue, consumes the job-handlers' reports from its reports queue, validates them
(``protocol``), records ``enqueue`` / ``consume`` (with the broker's ``redelivered`` flag) /
``ack`` / ``fault`` records and hands each event to a ``ServerPort``, which makes the state
changes. One thread, one connection: ``pump`` services the connection for a while and
handles every report that arrives, so records are written in the order things happened.

``HandlerPool`` (in ``pool``, re-exported here) starts job-handlers as processes, the kit's
own (``handler.py``) or a user's command (why it reports their deaths: see ``pool``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pika

from .connection import CONNECTION_ERRORS, connect
from .pool import HandlerPool, handler_env
from .port import Emit, ServerPort
from .protocol import Ledger, encode_job, parse_reports

__all__ = ["AmqpServerSide", "ConsumeSeen", "HandlerPool", "handler_env"]


@dataclass(frozen=True, slots=True)
class ConsumeSeen:
    """One delivery as the harness saw it (for tests and the redelivery figures).

    ``accepted`` is the core's verdict: False for a stale message (dropped)."""

    t: float
    activity: str
    gen: int
    handler: str
    redelivered: bool
    accepted: bool


@dataclass
class _Counts:
    published: int = 0
    consumes: int = 0
    redelivered: int = 0
    acks: int = 0
    report_messages: int = 0
    reconnects: int = 0
    consumed: list[ConsumeSeen] = field(default_factory=list)


class AmqpServerSide:
    """Publish server activities, consume job-handler reports, record and forward them.

    ``queue`` is the durable job queue; reports come back on ``<queue>.reports`` (durable,
    so that reports survive a broker restart). ``prefetch``, when given, is the prefetch
    every handler is expected to use (checked: a handler never holds more). ``clock`` gives
    the trace's ``t`` (default: seconds since this object was made).
    """

    def __init__(
        self,
        url: str,
        port: ServerPort,
        emit: Emit,
        *,
        queue: str = "activitykit.jobs",
        prefetch: int | None = None,
        clock: Callable[[], float] | None = None,
        reconnect_timeout: float = 60.0,
        purge: bool = False,
    ) -> None:
        self.url = url
        self.port = port
        self.emit = emit
        self.queue = queue
        self.reports_queue = f"{queue}.reports"
        self.ledger = Ledger(prefetch)
        t0 = time.monotonic()
        self.clock = clock or (lambda: time.monotonic() - t0)
        self.reconnect_timeout = reconnect_timeout
        self.counts = _Counts()
        self._purge = purge
        self._conn: pika.BlockingConnection | None = None
        self._ch: object = None
        self._last_tag = 0
        #: Handlers known dead, until ``handler_lost``: whether their loss is recorded yet.
        self._dying: dict[str, bool] = {}
        #: Handlers restarted whose return is not recorded yet (see ``handler_restarted``).
        self._starting: set[str] = set()
        self._props = pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent,
            content_type="application/json",
            reply_to=self.reports_queue,
        )

    # ------------------------------------------------------------------ connection
    def open(self) -> AmqpServerSide:
        self._connect(time.monotonic() + self.reconnect_timeout)
        if self._purge:
            self._ch.queue_purge(self.queue)  # type: ignore[attr-defined]
            self._ch.queue_purge(self.reports_queue)  # type: ignore[attr-defined]
        return self

    def _connect(self, deadline: float) -> None:
        conn = connect(self.url, deadline)
        ch = conn.channel()
        ch.queue_declare(self.queue, durable=True)
        ch.queue_declare(self.reports_queue, durable=True)
        ch.basic_qos(prefetch_count=1000)
        ch.basic_consume(self.reports_queue, self._on_report, auto_ack=False)
        self._conn, self._ch, self._last_tag = conn, ch, 0

    def _reconnect(self, exc: BaseException) -> None:
        """The broker went away (restart, network): record it and connect again.

        Reports published before the loss are in the durable reports queue and come again
        (unacknowledged by us); job messages the broker had accepted survive as persistent
        messages. Publishes are not confirmed, so a job published in the last moments before
        a crash of the broker can be lost; a clean broker stop loses none.
        """
        self.counts.reconnects += 1
        self.emit({"t": self.clock(), "event": "fault", "fault": "broker_connection_lost"})
        self.ledger.reconnected()
        with contextlib.suppress(Exception):
            if self._conn is not None and self._conn.is_open:
                self._conn.close()
        self._conn = None
        self._connect(time.monotonic() + self.reconnect_timeout)
        self.emit({"t": self.clock(), "event": "fault", "fault": "broker_connection_restored"})

    def close(self) -> None:
        if self._conn is not None and self._conn.is_open:
            with contextlib.suppress(*CONNECTION_ERRORS):
                self._flush_acks()
                self._conn.close()
        self._conn = None

    def __enter__(self) -> AmqpServerSide:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ publishing
    def publish(
        self,
        activity: str,
        gen: int,
        atype: str,
        duration: float = 0.0,
        outcome: str = "succeeded",
    ) -> None:
        """Put publication ``gen`` of a server activity on the queue (the core has written
        its ``enqueue``). ``duration`` (real seconds) and ``outcome`` are for the kit's
        handler."""
        body = encode_job(activity, gen, atype, duration, outcome)
        self.ledger.published.add((activity, gen))
        self.counts.published += 1
        while True:
            try:
                self._ch.basic_publish("", self.queue, body, self._props)  # type: ignore[attr-defined]
                break
            except CONNECTION_ERRORS as exc:
                self._reconnect(exc)

    # ------------------------------------------------------------------ consuming reports
    def pump(self, seconds: float = 0.0) -> None:
        """Service the connection for ``seconds`` (at least once), handling reports."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                self._conn.process_data_events(  # type: ignore[union-attr]
                    time_limit=max(0.0, deadline - time.monotonic())
                )
                self._flush_acks()
            except CONNECTION_ERRORS as exc:
                self._reconnect(exc)
                continue
            if time.monotonic() >= deadline:
                return

    def run_until(self, done: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
        """Pump until ``done()`` is true; False if ``timeout`` s passed first."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                return False
            self.pump(min(step, max(0.0, deadline - time.monotonic())))
        return True

    def _flush_acks(self) -> None:
        if self._last_tag:
            self._ch.basic_ack(self._last_tag, multiple=True)  # type: ignore[attr-defined]
            self._last_tag = 0

    def _on_report(self, ch: object, method: object, props: object, body: bytes) -> None:
        c = self.counts
        c.report_messages += 1
        msg = parse_reports(body, c.report_messages)
        if self._dying:
            # A redelivery of a dead handler's message: the broker requeued it because the
            # handler's connection closed, so its death comes first in the trace.
            for r in msg.reports:
                holder = self.ledger.holder.get((r.activity, r.gen))
                if r.redelivered and self._dying.get(holder) is False and holder != msg.handler:
                    self._lose(holder)  # type: ignore[arg-type]
        if msg.handler in self._starting:  # its first report can beat the consumer count
            self.handler_restarted(msg.handler)
        self.ledger.check(msg, c.report_messages)
        t = self.clock()
        h = msg.handler
        port = self.port
        for r in msg.reports:
            if r.status == "in-progress":
                red = bool(r.redelivered)
                ok = port.consumed(r.activity, r.gen, h, red, t)
                c.consumes += 1
                c.redelivered += red
                c.consumed.append(ConsumeSeen(t, r.activity, r.gen, h, red, ok))
            else:
                port.finished(r.activity, r.gen, h, r.status, t)
                c.acks += 1
                self.emit({"t": t, "event": "ack", "activity": r.activity, "handler": h})
        self._last_tag = method.delivery_tag  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ handlers
    def handler_dying(self, handler: str) -> None:
        """The handler's process has just died; its loss is recorded by ``handler_lost``,
        or earlier, by the first redelivery of one of its messages."""
        self._dying.setdefault(handler, False)

    def handler_lost(self, handler: str, fault: str = "handler_crash") -> None:
        """A handler is gone (its process died): record it and tell the server.

        Reports it committed before it died may still wait in the reports queue: they are
        handled first (they happened first, and a final report handled after the loss would
        find nothing held). Call it once the broker has closed the handler's channel (its
        consumer is gone), so that every such report is in the queue.
        """
        self._dying.setdefault(handler, False)
        self.drain_reports()
        if not self._dying.pop(handler):  # else a redelivery of its messages recorded it
            self._lose(handler, fault)

    def handler_starting(self, handler: str) -> None:
        """A new process of a lost handler has started; ``handler_restarted`` follows."""
        self._starting.add(handler)

    def handler_restarted(self, handler: str) -> None:
        """The restarted handler consumes again: a ``handler_restart`` record, once."""
        if handler in self._starting:
            self._starting.discard(handler)
            t = self.clock()
            self.emit({"t": t, "event": "fault", "handler": handler, "fault": "handler_restart"})

    def _lose(self, handler: str, fault: str = "handler_crash") -> None:
        if handler in self._dying:
            self._dying[handler] = True
        t = self.clock()
        self.emit({"t": t, "event": "fault", "handler": handler, "fault": fault})
        self.ledger.lose(handler)
        self.port.handler_lost(handler, t)

    def drain_reports(self, timeout: float = 5.0) -> None:
        """Handle every report the reports queue holds now (bounded by ``timeout`` s).

        The broker sends a queue's deliveries on the channel before the answer to a later
        question about that queue, so once it says nothing is ready, one more pump handles
        whatever it had sent.
        """
        deadline = time.monotonic() + timeout
        while True:
            ready = self._declared(self.reports_queue)[0]
            self.pump(0)
            if ready == 0 or time.monotonic() >= deadline:
                return
            self.pump(0.01)

    def queue_counts(self) -> tuple[int, int]:
        """``(ready messages, consumers)`` of the job queue, as the broker reports them."""
        return self._declared(self.queue)

    def _declared(self, queue: str) -> tuple[int, int]:
        while True:
            try:
                ok = self._ch.queue_declare(queue, durable=True, passive=True)  # type: ignore[attr-defined]
                return ok.method.message_count, ok.method.consumer_count
            except CONNECTION_ERRORS as exc:
                self._reconnect(exc)
