"""A fleet of real Landscape Client processes, each in a process group of its own.

Every instance gets its own folder (config, data path, logs, pid file) and title, and runs
in a new session, so that stopping it signals the watchdog and everything it started
(broker, monitor, manager, the scripts the manager runs) at once. :class:`Fleet` stops
every instance it started when it is closed, whatever ended the run; stopping waits a
bounded time and then kills. Which client to run, and how (``ClientCommand``), is in
``client_command``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from ..errors import InputError
from .client_command import ClientCommand, find_client_source
from .exchange import Intervals

__all__ = [
    "DEFAULT_INTERVALS",
    "ClientCommand",
    "ClientDiedError",
    "ClientSettings",
    "Fleet",
    "LiveClient",
    "find_client_source",
    "leftover_processes",
]

#: Short intervals for test runs: an urgent exchange 10 s after a request (the client's
#: minimum), a regular one every 30 s, a ping every 2 s.
DEFAULT_INTERVALS = Intervals(exchange=30, urgent_exchange=10, ping=2)
#: What a client's watchdog gets to stop its daemons before the whole group is killed.
STOP_GRACE_S = 10.0
#: Longest UNIX socket path the kernel takes (sun_path holds 108 bytes with its NUL), with
#: a margin for the longest socket name a client daemon uses.
_MAX_SOCKET_PATH = 100


class ClientDiedError(RuntimeError):
    """A client process ended on its own; the message carries the end of its output."""


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What goes into every instance's config file besides its own paths and title."""

    intervals: Intervals = DEFAULT_INTERVALS
    account: str = "activitykit"
    manager_plugins: str = "ScriptExecution"
    monitor_plugins: str = "LoadAverage"
    script_users: str = "ALL"
    log_level: str = "debug"


@dataclass
class LiveClient:
    """One client instance: its folder, config and process group."""

    name: str
    root: Path
    command: ClientCommand
    settings: ClientSettings
    message_url: str
    ping_url: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0
    _short_data: Path | None = field(default=None, repr=False)

    @property
    def data_path(self) -> Path:
        """Where the client keeps its data, including the UNIX sockets of its daemons.

        A socket path has at most 107 bytes; when the run folder is too deep for that, the
        data goes to a short temporary folder, linked from the client's folder as ``data``.
        """
        inside = self.root / "data"
        if len(str(inside / "sockets" / "manager.sock")) <= _MAX_SOCKET_PATH:
            return inside
        if self._short_data is None:
            self._short_data = Path(tempfile.mkdtemp(prefix=f"ak-{self.name}-"))
            self.root.mkdir(parents=True, exist_ok=True)
            with suppress(FileExistsError):
                inside.symlink_to(self._short_data, target_is_directory=True)
        return self._short_data

    def remove_short_data(self) -> None:
        """Delete the temporary data folder (if one was needed) once the client is stopped."""
        if self._short_data is not None:
            shutil.rmtree(self._short_data, ignore_errors=True)
            with suppress(OSError):
                (self.root / "data").unlink()
            self._short_data = None

    @property
    def config_path(self) -> Path:
        return self.root / "client.conf"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    def write_config(self) -> None:
        i = self.settings.intervals
        lines = {
            "computer_title": self.name,
            "account_name": self.settings.account,
            "url": self.message_url,
            "ping_url": self.ping_url,
            "data_path": self.data_path,
            "log_dir": self.log_dir,
            "pid_file": self.root / "landscape-client.pid",
            "log_level": self.settings.log_level,
            "manager_plugins": self.settings.manager_plugins,
            "monitor_plugins": self.settings.monitor_plugins,
            "script_users": self.settings.script_users,
            "exchange_interval": i.exchange,
            "urgent_exchange_interval": i.urgent_exchange,
            "ping_interval": i.ping,
        }
        text = "[client]\n" + "".join(f"{k} = {v}\n" for k, v in lines.items())
        self.config_path.write_text(text)

    def start(self) -> None:
        """Start the watchdog in a new session (its pid is the group id)."""
        if self.running:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.data_path.mkdir(parents=True, exist_ok=True)
        if self.starts == 0:  # set-intervals rewrites the file; a restart keeps that
            self.write_config()
        out = open(self.log_dir / "watchdog-output.log", "ab")  # noqa: SIM115 (child owns it)
        try:
            self.process = subprocess.Popen(
                [*self.command.argv, "-c", str(self.config_path)],
                env={**_base_env(), **self.command.env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
            )
        finally:
            out.close()
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def processes(self) -> list[psutil.Process]:
        """The watchdog and everything in its process group or below it."""
        if self.process is None:
            return []
        found: dict[int, psutil.Process] = {}
        with suppress(psutil.Error):
            top = psutil.Process(self.process.pid)
            found[top.pid] = top
            for child in top.children(recursive=True):
                found[child.pid] = child
        for p in _group_members(self.process.pid):
            found.setdefault(p.pid, p)
        return list(found.values())

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stop the whole instance: TERM to the group, KILL whatever outlives ``grace``."""
        if self.process is None:
            return
        procs = self.processes()
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=grace)
        for p in alive:
            with suppress(psutil.Error):
                p.kill()
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=grace)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        self.process = None

    def output_tail(self, lines: int = 15) -> str:
        """The last lines the watchdog printed (start-up errors land there)."""
        path = self.log_dir / "watchdog-output.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def restart(self) -> None:
        """Stop and start again: running scripts are lost, queued results are kept."""
        self.stop()
        self.start()

    def restart_broker(self) -> bool:
        """Terminate the broker only; the watchdog starts a new one. False if none ran."""
        for p in self.processes():
            with suppress(psutil.Error):
                if any(part.endswith("landscape-broker") for part in p.cmdline()):
                    p.terminate()
                    return True
        return False


def _group_members(pgid: int) -> Iterator[psutil.Process]:
    for p in psutil.process_iter():
        with suppress(psutil.Error, OSError):  # it may end while we look
            if os.getpgid(p.pid) == pgid:
                yield p


def _base_env() -> dict[str, str]:
    """The environment a client starts with: ours minus what would confuse it."""
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "TZ")
    return {k: os.environ[k] for k in keep if k in os.environ}


class Fleet:
    """N client instances under one folder; closing the fleet stops every one of them."""

    def __init__(
        self,
        root: str | Path,
        command: ClientCommand | None,
        count: int,
        *,
        message_url: str,
        ping_url: str,
        settings: ClientSettings | None = None,
        prefix: str = "live",
        names: Sequence[str] | None = None,
    ):
        # An empty fleet serves a live run of server activities only (no command needed).
        if count < 0 or (count and command is None):
            raise InputError(f"--clients must be at least 0 and name a client, got {count}")
        if names is not None and (len(names) != count or len(set(names)) != count):
            raise ValueError(f"need {count} distinct client names, got {list(names)}")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        command = command.prepared(self.root) if command is not None else None
        settings = settings or ClientSettings()
        width = len(str(count))
        if names is None:
            names = [f"{prefix}-{i:0{width}d}" for i in range(1, count + 1)]
        self.clients = [
            LiveClient(
                name=name,
                root=self.root / name,
                command=command,
                settings=settings,
                message_url=message_url,
                ping_url=ping_url,
            )
            for name in names
        ]

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __iter__(self) -> Iterator[LiveClient]:
        return iter(self.clients)

    def __len__(self) -> int:
        return len(self.clients)

    def client(self, name: str) -> LiveClient:
        for c in self.clients:
            if c.name == name:
                return c
        raise KeyError(f"no client named {name!r}; the fleet has {self.names()}")

    def names(self) -> list[str]:
        return [c.name for c in self.clients]

    def start(self, stagger: float = 0.0) -> None:
        """Start every instance (``stagger`` seconds apart, to spread their start-up cost)."""
        try:
            for i, c in enumerate(self.clients):
                if i and stagger:
                    time.sleep(stagger)
                c.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every instance; the TERM grace periods run concurrently."""
        started = [c for c in self.clients if c.process is not None]
        for c in started:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(c.process.pid, signal.SIGTERM)  # type: ignore[union-attr]
        for c in started:
            c.stop()
        for c in self.clients:
            c.remove_short_data()

    def check_alive(self) -> None:
        """Raise :class:`ClientDiedError` if a started instance has exited."""
        for c in self.clients:
            if c.process is not None and c.process.poll() is not None:
                raise ClientDiedError(
                    f"client {c.name} exited with status {c.process.returncode}; its output "
                    f"ends with:\n{c.output_tail()}\n(logs in {c.log_dir})"
                )

    def pids(self) -> set[int]:
        return {p.pid for c in self.clients for p in c.processes()}


def leftover_processes(marker: str | Path, pids: Sequence[int] = ()) -> list[psutil.Process]:
    """Processes still alive among ``pids`` or whose command line mentions ``marker``."""
    marker = str(marker)
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        with suppress(psutil.Error):
            cmdline = " ".join(p.info["cmdline"] or ())
            if (p.pid in pids or marker in cmdline) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
    return found
