"""Start the emulated server and a fleet of real clients together, and always stop both.

:func:`running_fleet` is the one place that owns the processes of a live run: the CLI,
the live tests and the benchmark use it. The fleet is stopped in a ``finally`` block,
synchronously (so a second Ctrl-C cannot cut the cleanup short), and SIGTERM cancels the
run the way Ctrl-C does, so the same block runs for success, failure and both signals.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from .clients import ClientCommand, ClientSettings, Fleet
from .exchange import MessageSystem
from .server import LandscapeServer

__all__ = ["running_fleet", "wait_until"]


@asynccontextmanager
async def running_fleet(
    system: MessageSystem,
    command: ClientCommand | None,
    count: int,
    root: str | Path,
    *,
    settings: ClientSettings | None = None,
    stagger: float = 0.0,
    names: Sequence[str] | None = None,
    **server_kw: Any,
) -> AsyncIterator[tuple[LandscapeServer, Fleet]]:
    """Serve ``system`` over HTTP and start ``count`` clients pointed at it."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    handled = False
    if task is not None:
        with suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
            handled = True
    server = LandscapeServer(system, **server_kw)
    fleet: Fleet | None = None
    try:
        await server.start()
        fleet = Fleet(
            Path(root),
            command,
            count,
            message_url=server.message_url,
            ping_url=server.ping_url,
            settings=settings,
            names=names,
        )
        for client in fleet:
            client.start()
            if stagger:
                await asyncio.sleep(stagger)
        yield server, fleet
    finally:
        if fleet is not None:
            fleet.stop()
        await server.stop()
        if handled:
            loop.remove_signal_handler(signal.SIGTERM)


async def wait_until(predicate: Any, timeout: float, what: str, poll: float = 0.2) -> None:
    """Wait until ``predicate()`` is true; raise TimeoutError naming ``what`` otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(poll)
