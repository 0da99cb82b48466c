"""A RabbitMQ broker of the kit's own: loopback only, private node, data and epmd.

Tests, ``.ci/run`` and users who have no broker at hand start one with ``Broker``; everyone
else points the kit at theirs with an AMQP URL (``--amqp-url``, ``ACTIVITYKIT_AMQP_URL``).
An own broker must not collide with a system broker or with another test session on the
same machine, and must leave nothing behind, so it gets:

- its own node name (``activitykit-<pid>-<random>@localhost``) and free loopback ports for
  AMQP and for Erlang distribution;
- its own epmd (the Erlang port mapper), started here on a free loopback port so that its
  pid is ours to stop; an epmd started by ``erl`` itself would daemonize and outlive us;
- a temporary data directory holding the configuration, Mnesia (the message store), the
  logs and the Erlang cookie (``HOME`` points there), so nothing of ``/etc/rabbitmq`` or
  ``/var/lib/rabbitmq`` is read or written;
- no plugins.

Debian's ``/usr/sbin/rabbitmq-server`` is a wrapper that switches to the ``rabbitmq`` user;
the real script under ``/usr/lib/rabbitmq/bin`` is run instead, as the current user, in a
process group of its own, and stopped with SIGTERM (Erlang shuts RabbitMQ down cleanly on
it, which also writes persistent messages to disk), then SIGKILL if that takes too long.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AMQP_URL_ENV",
    "Broker",
    "BrokerError",
    "broker_url_for_tests",
    "find_server_script",
    "wait_for_amqp",
]

#: Environment variable naming a broker to use instead of starting one.
AMQP_URL_ENV = "ACTIVITYKIT_AMQP_URL"
#: Where Debian keeps the real (not user-switching) scripts.
_DEBIAN_BIN = Path("/usr/lib/rabbitmq/bin")


class BrokerError(RuntimeError):
    """The broker could not be started, reached or stopped; the message says why."""


class _ExitedAtStartUp(BrokerError):
    """The node (or its epmd) ended before it accepted a connection."""


def find_server_script() -> Path | None:
    """The ``rabbitmq-server`` script to run as the current user, or None if not installed.

    ``ACTIVITYKIT_RABBITMQ_SERVER`` overrides the search (a path to the script).
    """
    override = os.environ.get("ACTIVITYKIT_RABBITMQ_SERVER")
    if override:
        return Path(override) if Path(override).is_file() else None
    debian = _DEBIAN_BIN / "rabbitmq-server"
    if debian.is_file():
        return debian
    found = shutil.which("rabbitmq-server")
    return Path(found) if found else None


def _free_port() -> int:
    # The port is released before the broker binds it; another process that binds port 0 in
    # between (the other test worker, a browser's debugging port) can take it. The node then
    # exits at start-up, and start() picks fresh ports and tries again.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_amqp(url: str, timeout: float, alive: object = None) -> None:
    """Return once ``url`` accepts an AMQP connection; BrokerError after ``timeout`` s.

    ``alive``, when given, is a callable returning False once the broker process is gone
    (no point waiting for a broker that died at boot).
    """
    import pika  # here: importing the broker module needs no AMQP client

    params = pika.URLParameters(url)
    params.socket_timeout = 2.0
    params.blocked_connection_timeout = 2.0
    params.connection_attempts = 1
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():  # type: ignore[operator]
            raise BrokerError("the broker process exited during start-up")
        try:
            pika.BlockingConnection(params).close()
            return
        except Exception as exc:  # every failure mode means "not ready yet"
            last = exc
        time.sleep(0.25)
    raise BrokerError(f"no AMQP connection to {_redact(url)} within {timeout:g} s ({last!r})")


def _redact(url: str) -> str:
    # amqp://user:password@host -> amqp://user:***@host; messages must not leak passwords.
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, cred = head.partition("://")
    user = cred.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"


@dataclass
class Broker:
    """One private RabbitMQ node; ``with Broker() as b: ... b.url``.

    ``consumer_timeout`` (seconds) makes the broker close the channel of a consumer that
    holds a message unacknowledged that long (RabbitMQ's own guard against handlers that
    never ack); None keeps RabbitMQ's default (30 minutes).
    """

    start_timeout: float = 90.0
    stop_timeout: float = 30.0
    consumer_timeout: float | None = None
    data_dir: Path | None = None
    #: Starts tried with fresh ports when the node exits at start-up (a port taken).
    start_attempts: int = 3

    def __post_init__(self) -> None:
        self._script = find_server_script()
        self._own_dir = self.data_dir is None
        self._pick_ports()
        self._started = False
        self.node = f"activitykit-{os.getpid()}-{secrets.token_hex(3)}@localhost"
        self._proc: subprocess.Popen[bytes] | None = None
        self._epmd: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _pick_ports(self) -> None:
        self.port = _free_port()
        self.dist_port = _free_port()
        self.epmd_port = _free_port()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Broker:
        """Start the node (and its epmd) and wait until it accepts AMQP connections.

        A first start whose node exits before it accepts a connection is tried again on
        fresh ports, up to ``start_attempts`` times: the usual cause is a port that another
        process bound after ``_free_port`` released it. A restart keeps its ports (clients
        reconnect to the same URL), so it is not retried.
        """
        if self._script is None:
            raise BrokerError(
                "rabbitmq-server is not installed (Debian: apt-get install rabbitmq-server)"
            )
        if self.running:
            return self
        attempts = 1 if self._started else max(1, self.start_attempts)
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
            except _ExitedAtStartUp as exc:
                if attempt == attempts:
                    raise BrokerError(str(exc)) from None
                self._pick_ports()
            else:
                self._started = True
                return self
        raise AssertionError("unreachable")  # the loop returns or raises

    def _start_once(self) -> None:
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="activitykit-rabbitmq-"))
        self._write_config()
        env = self._env()
        if self._epmd is None or self._epmd.poll() is not None:
            epmd = shutil.which("epmd") or "epmd"
            self._epmd = subprocess.Popen(
                [epmd, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        log = (self.data_dir / "server.out").open("ab")
        try:
            self._proc = subprocess.Popen(
                [str(self._script)],
                env=env,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self._start_watchdog()
        try:
            wait_for_amqp(self.url, self.start_timeout, alive=lambda: self.running)
        except BrokerError as exc:
            exited = not self.running
            tail = self._log_tail()
            self.stop()
            error = _ExitedAtStartUp if exited else BrokerError
            raise error(f"{exc}; last lines of its output:\n{tail}") from None

    def _start_watchdog(self) -> None:
        """A small process that stops the broker if this process dies without stopping it.

        A test run killed from outside (a timeout, Ctrl-C twice) skips every teardown; the
        broker and its epmd would run on. The watchdog polls this process and, once it is
        gone, ends both process groups (and removes a data directory of our own); it exits
        by itself when they have ended.
        """
        assert self._proc is not None and self._epmd is not None
        if self._watchdog is not None:  # a restart: the old one watches a node that is gone
            self._watchdog.terminate()
            self._watchdog.wait(5.0)
        self._watchdog = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WATCHDOG,
                str(os.getpid()),
                str(self._proc.pid),
                str(self._epmd.pid),
                *([str(self.data_dir)] if self._own_dir else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self, *, cleanup: bool = True) -> None:
        """Stop the node (SIGTERM, then SIGKILL after ``stop_timeout``) and its epmd.

        ``cleanup`` also removes a data directory this object created.
        """
        self._stop_node()
        if self._epmd is not None:
            _end_group(self._epmd, 5.0)
            self._epmd = None
        if self._watchdog is not None:
            # It sees both groups gone within a second and exits; reap it.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(5.0)
            self._watchdog = None
        if cleanup and self._own_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    def restart(self) -> None:
        """Stop the node cleanly and start it again on the same data (messages survive)."""
        self._stop_node()
        self.start()

    def kill(self) -> None:
        """SIGKILL the node (a crash: only what RabbitMQ already wrote to disk survives)."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(self.stop_timeout)

    def _stop_node(self) -> None:
        if self._proc is not None:
            _end_group(self._proc, self.stop_timeout)
            self._proc = None

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ files
    def _write_config(self) -> None:
        d = self.data_dir
        assert d is not None
        lines = [
            f"listeners.tcp.1 = 127.0.0.1:{self.port}",
            "log.console = false",
            "log.file.level = warning",
            # A private test broker: never refuse publishers for lack of disk or memory.
            "disk_free_limit.absolute = 1MB",
        ]
        if self.consumer_timeout is not None:
            lines.append(f"consumer_timeout = {round(self.consumer_timeout * 1000)}")
        (d / "rabbitmq.conf").write_text("\n".join(lines) + "\n")
        (d / "enabled_plugins").write_text("[].\n")
        (d / "rabbitmq-env.conf").write_text("")

    def _env(self) -> dict[str, str]:
        d = self.data_dir
        assert d is not None
        env = dict(os.environ)
        env.update(
            HOME=str(d),  # the Erlang cookie goes here
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_USE_LONGNAME="false",
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONFIG_FILE=str(d / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(d / "rabbitmq-env.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_LOG_BASE=str(d / "log"),
            # Erlang distribution (used by rabbitmqctl) on loopback only.
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        return env

    def _log_tail(self, n: int = 15) -> str:
        if self.data_dir is None:
            return ""
        texts = []
        for p in [self.data_dir / "server.out", *sorted((self.data_dir / "log").glob("*.log"))]:
            with contextlib.suppress(OSError):
                texts.extend(p.read_text(errors="replace").splitlines()[-n:])
        return "\n".join(texts[-n:])


_WATCHDOG = """
import os, shutil, signal, sys, time
owner, *groups = map(int, sys.argv[1:4])
data_dir = sys.argv[4] if len(sys.argv) > 4 else None
def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
while True:
    if not alive(owner):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for g in groups:
                try:
                    os.killpg(g, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            for _ in range(20):
                if not any(alive(g) for g in groups):
                    break
                time.sleep(0.5)
        if data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        break
    if not any(alive(g) for g in groups):
        break  # stopped by its owner, which cleans up itself
    time.sleep(1)
"""


def _end_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL it after ``timeout`` s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    # Children (erl_child_setup, inet_gethost) share the group; take them down too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5.0)


@contextlib.contextmanager
def broker_url_for_tests(**broker_args: object) -> Iterator[tuple[str | None, str, Broker | None]]:
    """``(url, reason, broker)`` for a test session.

    ``ACTIVITYKIT_AMQP_URL`` if set (broker None: it is the user's); else an own broker when
    ``rabbitmq-server`` is installed (stopped on exit; BrokerError if it does not start);
    else ``(None, reason, None)``: the tests that need a broker skip with that reason.
    """
    url = os.environ.get(AMQP_URL_ENV)
    if url:
        yield url, f"broker from {AMQP_URL_ENV}", None
        return
    if find_server_script() is None:
        why = f"no RabbitMQ: {AMQP_URL_ENV} is unset and rabbitmq-server is not installed"
        yield None, why, None
        return
    # An installed broker that fails to start is an error, not a skip: it would otherwise
    # hide a broken CI machine behind a row of skipped tests.
    broker = Broker(**broker_args)  # type: ignore[arg-type]
    broker.start()
    try:
        yield broker.url, f"own broker {broker.node} on port {broker.port}", broker
    finally:
        broker.stop()
