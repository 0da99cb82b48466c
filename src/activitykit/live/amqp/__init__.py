"""Server activities through a real RabbitMQ broker.

- ``broker``: a private broker on loopback for tests, CI and demos (``Broker``).
- ``protocol``: the job-handler protocol (docs/job-handler-protocol.md) and its validation.
- ``handler``: the kit's own job-handler process.
- ``server_side``: the harness side: publish activities, consume reports, record, forward.
- ``pool``: the job-handlers as child processes (``HandlerPool``).
- ``connection``: connecting to the broker, and what a lost connection raises.
- ``port``: ``ServerPort``, what the harness tells the server core, and ``Recorder``.
- ``crashes``: a live run's server-side task: the connection pumped, handlers crashed and
  restarted on ``faults.job_handler_crash``'s seeded schedule.

Importing this package imports neither the AMQP client (pika) nor the checker: a name is
loaded from its submodule on first use.
"""

from __future__ import annotations

from ..._lazy import lazy_exports

_WHERE = {
    "broker": ("AMQP_URL_ENV", "Broker", "BrokerError"),
    "protocol": ("PROTOCOL", "ReportError"),
    "port": ("Recorder", "ServerPort"),
    "pool": ("HandlerPool",),
    "server_side": ("AmqpServerSide",),
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
__all__ = sorted(name for names in _WHERE.values() for name in names)
