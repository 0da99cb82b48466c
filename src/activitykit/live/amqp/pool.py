"""Job-handlers as child processes: the kit's own or a user's command, started and stopped.

``HandlerPool`` tells the server side when one of them dies (``reap``), so the trace shows
the crash before the redelivery it causes is judged.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .broker import AMQP_URL_ENV

if TYPE_CHECKING:
    from .server_side import AmqpServerSide

__all__ = ["HandlerPool", "handler_env"]


def handler_env(url: str, queue: str, name: str, prefetch: int) -> dict[str, str]:
    """The environment a user's handler instance is started with (docs/job-handler-protocol.md)."""
    return {
        **os.environ,
        AMQP_URL_ENV: url,
        "ACTIVITYKIT_QUEUE": queue,
        "ACTIVITYKIT_HANDLER": name,
        "ACTIVITYKIT_PREFETCH": str(prefetch),
    }


class HandlerPool:
    """Job-handlers as child processes, each in a process group of its own.

    Without ``command`` they are the kit's own (``extra_args`` go to each); with it, each is
    ``/bin/sh -c COMMAND`` with its settings in the environment (``handler_env``), and its
    output in the log.
    """

    def __init__(
        self,
        url: str,
        queue: str,
        prefetch: int = 1,
        extra_args: Iterable[str] = (),
        log_dir: str | None = None,
        command: str | None = None,
    ) -> None:
        self.url = url
        self.queue = queue
        self.prefetch = prefetch
        self.extra_args = list(extra_args)
        self.log_dir = log_dir
        self.command = command
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        env = None
        if self.command is not None:
            if extra or self.extra_args:
                raise ValueError("extra arguments are for the kit's own handler, not a command")
            cmd = ["/bin/sh", "-c", self.command]
            env = handler_env(self.url, self.queue, name, self.prefetch)
        else:
            cmd = [
                sys.executable,
                "-m",
                "activitykit.live.amqp.handler",
                "--amqp-url",
                self.url,
                "--queue",
                self.queue,
                "--name",
                name,
                "--prefetch",
                str(self.prefetch),
                *self.extra_args,
                *extra,
            ]
        err = subprocess.DEVNULL
        if self.log_dir is not None:
            err = open(os.path.join(self.log_dir, f"{name}.log"), "ab")  # noqa: SIM115
        try:
            p = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                # The kit's handler writes nothing to stdout; a user's may: keep it.
                stdout=err if self.command is not None else subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        finally:
            if err is not subprocess.DEVNULL:
                err.close()  # type: ignore[union-attr]
        self.procs[name] = p
        return p

    def start_all(self, names: Iterable[str], side: AmqpServerSide, timeout: float = 90.0):
        """Start handlers one by one, each subscribed before the next starts.

        The broker hands out messages round-robin in subscription order; starting them in
        turn makes that order the order of ``names`` (the simulator's h1, h2, ...). The
        timeout is generous: on a loaded two-core machine a fresh interpreter importing
        pika and pydantic can take many seconds.
        """
        for name in names:
            _, before = side.queue_counts()
            p = self.start(name)
            subscribed = side.run_until(
                lambda b=before, p=p: side.queue_counts()[1] > b or p.poll() is not None,
                timeout,
                0.05,
            )
            if not subscribed or p.poll() is not None:
                why = (
                    f"exited with status {p.returncode}"
                    if p.poll() is not None
                    else (f"did not subscribe within {timeout:g} s")
                )
                raise RuntimeError(f"job-handler {name} {why}{self.log_tail(name)}")

    def log_tail(self, name: str) -> str:
        """The end of the handler's log, as "; its last output: ...", or "" without one."""
        if self.log_dir is None:
            return ""
        with contextlib.suppress(OSError):
            with open(os.path.join(self.log_dir, f"{name}.log"), errors="replace") as f:
                lines = f.read().splitlines()[-5:]
            if lines:
                return "; its last output: " + " | ".join(lines)
        return ""

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the handler's process group and wait for it; ``reap`` will not list it
        (the caller records the loss)."""
        p = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, sig)
        p.wait(10)

    def reap(self) -> list[str]:
        """Names of handlers whose process has ended since the last call."""
        gone = [n for n, p in self.procs.items() if p.poll() is not None]
        for n in gone:
            del self.procs[n]
        return gone

    def stop(self) -> None:
        for name in list(self.procs):
            p = self.procs.pop(name)
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                    p.wait(10)

    def __enter__(self) -> HandlerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
