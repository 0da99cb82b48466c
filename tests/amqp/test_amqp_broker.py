"""The kit's own broker leaves nothing behind: not when stopped, not when its owner dies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from activitykit.live.amqp.broker import (
    Broker,
    BrokerError,
    find_server_script,
    wait_for_amqp,
)

pytestmark = [
    pytest.mark.amqp,
    pytest.mark.slow,
    pytest.mark.skipif(find_server_script() is None, reason="rabbitmq-server is not installed"),
]


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie counts as gone: it runs nothing and holds no port.
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(") ", 1)[1].startswith("Z"):
                return True
        time.sleep(0.2)
    return False


def test_stop_ends_the_node_and_its_epmd_and_removes_the_data() -> None:
    b = Broker().start()
    node, epmd, data = b._proc.pid, b._epmd.pid, b.data_dir  # type: ignore[union-attr]
    assert data is not None and data.is_dir()
    wait_for_amqp(b.url, 10)
    b.stop()
    assert _gone(node, 10) and _gone(epmd, 10)
    assert not data.exists()


def test_a_dead_owner_does_not_leave_the_broker_running(tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(
        "import os, sys\n"
        "from activitykit.live.amqp.broker import Broker\n"
        "b = Broker().start()\n"
        "print(b._proc.pid, b._epmd.pid, b.data_dir, flush=True)\n"
        "os._exit(0)  # no teardown at all\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=180, check=True
    ).stdout.split()
    node, epmd, data = int(out[0]), int(out[1]), Path(out[2])
    assert _gone(node, 40) and _gone(epmd, 40)
    deadline = time.monotonic() + 10
    while data.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not data.exists()


def _hold(port: int) -> socket.socket:
    """Listen on ``port`` as another process would that bound it first."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


def test_a_port_taken_before_the_start_is_replaced_by_a_fresh_one() -> None:
    b = Broker()
    taken = b.port
    with _hold(taken):
        b.start()
        try:
            assert b.port != taken
            wait_for_amqp(b.url, 10)
        finally:
            b.stop()


def test_a_node_that_cannot_bind_says_so_when_no_attempt_is_left() -> None:
    b = Broker(start_attempts=1)
    with _hold(b.port), pytest.raises(BrokerError, match="exited during start-up") as err:
        b.start()
    assert b.data_dir is None and not b.running
    assert "last lines of its output" in str(err.value)
