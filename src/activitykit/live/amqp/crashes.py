"""A live run's server side while it runs: the connection pumped, handlers crashed on time.

``serve`` is the task ``activitykit live`` runs next to its clients: it services the broker
connection (reports become records as they arrive), records a handler process that died on
its own, and carries out ``faults.job_handler_crash``:

- each handler ``hN`` crashes after exponential gaps of mean ``mtbf`` drawn from a seeded
  stream of its own (``live/crash/hN``; its restart delays from ``live/crash-restart/hN``),
  so that its schedule does not depend on how long the others took to restart. As in the
  simulator a gap is uptime, counted from the handler's (re)start; the first crash falls
  within ``duration``, later ones before the run's stop (``duration``, or ``drain_limit``
  for ``run_until: drained``, where the run usually ends sooner);
- a crash is SIGKILL to the handler's process group: no goodbye, the kernel closes its
  connection and the broker requeues what it held, flagged ``redelivered``. The trace gets
  ``handler_crash`` once the broker has dropped the handler's consumer and every report it
  committed before it died has been handled;
- ``restart_delay`` after the kill a new process of the same name starts; ``handler_restart``
  is written when it has subscribed, or at its first report if that comes sooner (so the
  record means "consumes again", as in the simulator; the process's start-up time comes on
  top of the delay).

Kills and restarts take turns (one lock): the broker's consumer count tells when a consumer
has gone or come, which only works when one changes at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ...errors import InputError
from ...scenario.schema import Exponential, Scenario
from ...sim.rand import Streams
from ..harness import wait_until
from .pool import HandlerPool
from .server_side import AmqpServerSide

__all__ = ["CrashPlan", "serve"]

#: Longest wait for the broker to notice a killed handler's closed connection (s).
GONE_TIMEOUT_S = 10.0
#: Longest wait for a restarted handler to subscribe; a fresh interpreter importing pika and
#: pydantic on a loaded two-core machine can take many seconds.
SUBSCRIBE_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class CrashPlan:
    """When a live run's handlers crash and come back (``faults.job_handler_crash``)."""

    gap: Callable[[str], Callable[[], float]]
    restart_delay: Callable[[str], Callable[[], float]]
    first_before: float
    t_stop: float

    @classmethod
    def of(cls, scenario: Scenario) -> CrashPlan | None:
        """The scenario's crash model; None when its handlers never crash."""
        jc = scenario.faults.job_handler_crash
        if jc.mtbf is None:
            return None
        streams = Streams(scenario.seed)
        every = Exponential(dist="exponential", mean=jc.mtbf)
        return cls(
            gap=lambda h: streams.sampler(f"live/crash/{h}", every),
            restart_delay=lambda h: streams.sampler(f"live/crash-restart/{h}", jc.restart_delay),
            first_before=scenario.duration,
            t_stop=scenario.duration if scenario.run_until == "duration" else scenario.drain_limit,
        )


async def serve(
    side: AmqpServerSide,
    pool: HandlerPool,
    handlers: Iterable[str],
    plan: CrashPlan | None,
    clock: Callable[[], float],
    every: float = 0.02,
) -> None:
    """Pump ``side`` every ``every`` s and run ``plan``'s crashes until cancelled.

    A crash or restart that fails (a handler that does not come back) ends this task with
    an ``InputError``, as a misbehaving report does, and the other crash loops with it.
    """
    lock = asyncio.Lock()
    loops = [
        asyncio.create_task(_crashes(h, side, pool, plan, clock, lock))
        for h in (handlers if plan is not None else ())
    ]
    try:
        while True:
            side.pump(0)
            for name in pool.reap():  # died on its own: a crash nobody planned
                side.handler_lost(name)
            for task in loops:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            await asyncio.sleep(every)
    finally:
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)


async def _crashes(
    name: str,
    side: AmqpServerSide,
    pool: HandlerPool,
    plan: CrashPlan | None,
    clock: Callable[[], float],
    lock: asyncio.Lock,
) -> None:
    """One handler's crashes, the simulator's ``handler_crashes`` in real seconds."""
    assert plan is not None
    gap, restart_delay = plan.gap(name), plan.restart_delay(name)
    due = gap()
    if due >= plan.first_before:
        return
    while True:
        await asyncio.sleep(max(0.0, due - clock()))
        async with lock:
            if name not in pool.procs:  # it died on its own meanwhile: recorded, not restarted
                return
            await _kill(name, side, pool)
        await asyncio.sleep(restart_delay())
        async with lock:
            await _restart(name, side, pool)
        nxt = gap()
        if clock() + nxt >= plan.t_stop:
            return
        due = clock() + nxt


async def _kill(name: str, side: AmqpServerSide, pool: HandlerPool) -> None:
    _, before = side.queue_counts()
    pool.kill(name)
    side.handler_dying(name)
    try:
        await wait_until(
            lambda: side.queue_counts()[1] < before,
            GONE_TIMEOUT_S,
            f"the broker to drop the consumer of killed job-handler {name}",
            poll=0.01,
        )
    except TimeoutError as exc:
        raise InputError(f"faults.job_handler_crash: {exc}") from None
    finally:  # also when the run ends meanwhile: the kill happened, the trace says so
        side.handler_lost(name)


async def _restart(name: str, side: AmqpServerSide, pool: HandlerPool) -> None:
    _, before = side.queue_counts()
    proc = pool.start(name)
    side.handler_starting(name)
    try:
        await wait_until(
            lambda: proc.poll() is not None or side.queue_counts()[1] > before,
            SUBSCRIBE_TIMEOUT_S,
            f"job-handler {name} to subscribe again after its crash",
            poll=0.05,
        )
    except TimeoutError as exc:
        raise InputError(f"faults.job_handler_crash: {exc}") from None
    if proc.poll() is not None:
        raise InputError(
            f"faults.job_handler_crash: job-handler {name} exited with status "
            f"{proc.returncode} when restarted after its crash{pool.log_tail(name)}"
        )
    side.handler_restarted(name)
