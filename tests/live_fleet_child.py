"""Child process for tests/test_live_clients.py: a fleet that is ended from outside.

Usage: python live_fleet_child.py CLIENT_SRC ROOT MODE, MODE being ``wait`` (until a
signal comes) or ``error`` (raise once the clients run). Writes ROOT/ready when every
client has its daemons running.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from activitykit.live.clients import ClientCommand
from activitykit.live.exchange import MessageSystem
from activitykit.live.harness import running_fleet, wait_until
from activitykit.live.scripted import ScriptedPort


async def main(src: str, root: Path, mode: str) -> None:
    system = MessageSystem(ScriptedPort())
    async with running_fleet(system, ClientCommand.from_source(src), 2, root) as (_, fleet):
        # watchdog, broker, monitor and manager for each client
        await wait_until(lambda: len(fleet.pids()) >= 8, 60, "the clients' daemons")
        (root / "pids").write_text(" ".join(map(str, sorted(fleet.pids()))))
        (root / "ready").write_text("")
        if mode == "error":
            raise RuntimeError("the run failed")
        await asyncio.sleep(600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
