"""The server activities' half of a live run: the broker connection and the job-handlers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..scenario import Scenario
from .core import CorePort, RunClock, TraceSink
from .options import LiveOptions

__all__ = ["ServerActivities", "own_broker"]


class ServerActivities:
    """The server activities' half of a live run: broker connection and job-handlers.

    ``StoreServer`` runs on the run's one store (``port.store``): the store's ``on_publish``
    puts each server activity on the job queue, and the handlers' reports come back as
    ``consume`` / ``ack`` records through the same sink. The connection is a blocking one,
    serviced from the event loop between other work (``pump_task``), so the store is only
    ever touched by the loop's thread.
    """

    PUMP_EVERY_S = 0.02

    def __init__(
        self,
        scenario: Scenario,
        port: CorePort,
        sink: TraceSink,
        clock: RunClock,
        url: str | None,
        options: LiveOptions,
        out: Path,
    ) -> None:
        self.scenario = scenario
        self.url = url
        self.connect_timeout = options.amqp_connect_timeout
        self.side: Any = None
        self.pool: Any = None
        if url is None:
            return
        from .amqp.core import StoreServer, handler_model_for
        from .amqp.pool import HandlerPool
        from .amqp.server_side import AmqpServerSide

        core = StoreServer(sink, store=port.store, handler_model=handler_model_for(scenario))
        self.side = AmqpServerSide(
            url,
            core,
            sink,
            queue=options.amqp_queue,
            prefetch=scenario.server.prefetch,
            clock=clock,
            purge=True,
        )
        core.side = self.side
        (out / "handlers").mkdir(exist_ok=True)
        self.pool = HandlerPool(
            url,
            options.amqp_queue,
            prefetch=scenario.server.prefetch,
            log_dir=str(out / "handlers"),
            command=options.job_handler,
        )

    def start(self) -> None:
        if self.side is None:
            return
        from .amqp.broker import BrokerError, wait_for_amqp

        try:  # bounded here; once running, the side reconnects for longer (broker restarts)
            wait_for_amqp(self.url, self.connect_timeout)
        except BrokerError as exc:
            raise InputError(f"--amqp-url: {exc}") from None
        self.side.open()
        n = self.scenario.server.job_handlers
        try:
            self.pool.start_all([f"h{i + 1}" for i in range(n)], self.side)
        except RuntimeError as exc:
            raise InputError(f"live run could not start its job-handlers: {exc}") from None

    def pump_task(self) -> asyncio.Task[None] | None:
        """The connection serviced and ``faults.job_handler_crash`` carried out (until
        cancelled)."""
        if self.side is None:
            return None
        from .amqp.crashes import CrashPlan, serve

        names = list(self.pool.procs)
        plan = CrashPlan.of(self.scenario)
        return asyncio.create_task(
            serve(self.side, self.pool, names, plan, self.side.clock, self.PUMP_EVERY_S)
        )

    def stop(self) -> None:
        if self.side is not None:
            self.pool.stop()
            self.side.close()

    def summary(self) -> dict[str, Any]:
        c = self.side.counts
        return {
            "job_handlers": self.scenario.server.job_handlers,
            "queue": self.side.queue,
            "published": c.published,
            "consumes": c.consumes,
            "redelivered": c.redelivered,
            "acks": c.acks,
            "reconnects": c.reconnects,
        }


def own_broker() -> Any:
    """A private RabbitMQ node for the run; BrokerError becomes a clear input error."""
    from contextlib import contextmanager

    from .amqp.broker import Broker, BrokerError

    @contextmanager
    def running():
        broker = Broker()
        try:
            broker.start()
        except BrokerError as exc:
            broker.stop()
            raise InputError(f"--own-broker: {exc}") from None
        try:
            yield broker
        finally:
            broker.stop()

    return running()
