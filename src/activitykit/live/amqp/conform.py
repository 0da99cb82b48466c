"""The server-side conformance suite: a user's job-handler against a real broker.

``activitykit conform --job-handler COMMAND`` runs it. COMMAND is started by ``/bin/sh -c``
in a process group of its own, once per handler instance, with its settings in the
environment (``ACTIVITYKIT_AMQP_URL``, ``ACTIVITYKIT_QUEUE``, ``ACTIVITYKIT_HANDLER`` (its
name), ``ACTIVITYKIT_PREFETCH``); the kit's own handler reads the same variables, so
``--job-handler "python -m activitykit.live.amqp.handler"`` tests the kit itself. For the
suite a handler must honour the job's ``duration`` and ``outcome`` (work at least that long,
end that way): what is tested is the protocol, not the work.

Every case runs the activities through the server core, checks each report
(docs/job-handler-protocol.md) and the whole trace online, and ends by stopping the
handlers and asking the broker whether any message was left unacknowledged.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ...errors import InputError
from ...trace.writers import MemoryTraceWriter
from .broker import AMQP_URL_ENV, Broker, find_server_script
from .core import StoreServer
from .pool import HandlerPool
from .port import Recorder
from .protocol import ReportError
from .server_side import AmqpServerSide

__all__ = ["CASES", "CaseResult", "run_handler_suite"]


@dataclass(frozen=True)
class CaseResult:
    name: str
    ok: bool
    detail: str


class _Fail(Exception):
    pass


class _Session:
    """One case: the core, the server side, the user's handler processes."""

    def __init__(self, command: str, url: str, queue: str, prefetch: int, logs: Path) -> None:
        self.queue = queue
        self.trace = MemoryTraceWriter()
        self.rec = Recorder(self.trace, strict=False)
        self.jobs: dict[str, tuple[float, str]] = {}
        self.server = StoreServer(self.rec.emit, handler_model=lambda a: self.jobs[a.id])
        self.side = AmqpServerSide(
            url, self.server, self.rec.emit, queue=queue, prefetch=prefetch, purge=True
        ).open()
        self.server.side = self.side
        self.pool = HandlerPool(url, queue, prefetch, log_dir=str(logs), command=command)

    def start(self, name: str, timeout: float) -> None:
        # A fresh interpreter on a loaded machine can take many seconds to subscribe.
        try:
            self.pool.start_all([name], self.side, timeout=max(timeout, 90.0))
        except RuntimeError as exc:
            raise _Fail(f"{exc} (consuming from {self.queue})") from None

    def kill(self, name: str) -> None:
        self.pool.kill(name)
        self.side.handler_lost(name)

    def create(self, aid: str, duration: float, outcome: str = "succeeded") -> None:
        self.jobs[aid] = (duration, outcome)
        self.server.store.create(self.side.clock(), aid, "server", "ArchiveRequest", "Queued")

    def wait(self, what: str, cond: Callable[[], bool], timeout: float) -> None:
        for name, p in self.pool.procs.items():
            if p.poll() is not None:
                raise _Fail(
                    f"handler {name} exited with status {p.returncode}{self.pool.log_tail(name)}"
                )
        if not self.side.run_until(cond, timeout):
            raise _Fail(f"{what}: not within {timeout:g} s; states {self.states()}")

    def states(self) -> dict[str, str]:
        return {a: x.state for a, x in self.server.store.activities.items()}

    def finish(self) -> None:
        """Stop the handlers; the broker must then hold no message of the run."""
        self.pool.stop()  # SIGTERM, then SIGKILL after a grace period
        self.side.pump(0.3)
        ready, _ = self.side.queue_counts()
        if ready:
            raise _Fail(
                f"{ready} message(s) came back to the queue when the handlers stopped: "
                "final reports were not acknowledged (ack in the transaction of the report)"
            )
        bad = self.rec.violations
        if bad:
            raise _Fail(f"trace violation: {bad[0]}")

    def close(self) -> None:
        self.pool.stop()
        self.side.close()


def _finals(s: _Session) -> int:
    return sum(v in ("Succeeded", "Failed") for v in s.states().values())


def _case_each_once(s: _Session, timeout: float) -> str:
    s.start("h1", timeout)
    want = {}
    for i in range(10):
        outcome = "failed" if i % 4 == 3 else "succeeded"
        s.create(f"a{i}", 0.0, outcome)
        want[f"a{i}"] = outcome.capitalize()
    s.wait("every activity final", lambda: _finals(s) == 10, timeout)
    if s.states() != want:
        raise _Fail(f"final states {s.states()} differ from the jobs' outcomes {want}")
    again = [c for c in s.side.counts.consumed if c.redelivered]
    if again:
        raise _Fail(f"{again[0].activity} was delivered twice though no handler died")
    s.finish()
    return "10 activities, each consumed once and ended as its job said"


def _case_two_handlers(s: _Session, timeout: float) -> str:
    s.start("h1", timeout)
    s.start("h2", timeout)
    for i in range(12):
        s.create(f"a{i}", 0.05)
    s.wait("every activity final", lambda: _finals(s) == 12, timeout)
    who = {c.handler for c in s.side.counts.consumed}
    if who != {"h1", "h2"}:
        raise _Fail(f"only {sorted(who)} consumed; the broker spreads messages over consumers")
    s.finish()
    return "12 activities spread over two handlers"


def _case_crash(s: _Session, timeout: float) -> str:
    s.start("h1", timeout)
    s.start("h2", timeout)
    s.create("long", 2.0)
    seen = s.side.counts.consumed
    s.wait("the first consume", lambda: len(seen) >= 1, timeout)
    victim = seen[0].handler
    t_kill = s.side.clock()
    s.kill(victim)
    s.wait("the redelivery after the kill", lambda: len(seen) >= 2, timeout)
    second = seen[1]
    if not second.redelivered:
        raise _Fail("the second delivery was reported with redelivered false")
    s.wait("the redelivered activity final", lambda: _finals(s) == 1, timeout)
    s.finish()
    return (
        f"killed {victim} mid-activity; {second.handler} consumed it again "
        f"{(second.t - t_kill) * 1000:.0f} ms later, redelivered"
    )


CASES: dict[str, Callable[[_Session, float], str]] = {
    "server/each-once": _case_each_once,
    "server/two-handlers": _case_two_handlers,
    "server/crash-mid-activity": _case_crash,
}


@contextlib.contextmanager
def _broker(url: str | None) -> Iterator[str]:
    url = url or os.environ.get(AMQP_URL_ENV)
    if url:
        yield url
        return
    if find_server_script() is None:
        raise InputError(
            f"no broker: give --amqp-url (or {AMQP_URL_ENV}), or install rabbitmq-server "
            "for a broker of the kit's own"
        )
    with Broker() as b:
        yield b.url


def run_handler_suite(
    command: str,
    amqp_url: str | None = None,
    *,
    timeout: float = 30.0,
    prefetch: int = 1,
) -> list[CaseResult]:
    """Run every case against ``command``; each case on fresh queues of its own."""
    out = []
    with _broker(amqp_url) as url, tempfile.TemporaryDirectory() as tmp:
        for i, (name, case) in enumerate(CASES.items()):
            queue = f"activitykit.conform.{os.getpid()}.{int(time.time())}.{i}"
            s = None
            try:
                s = _Session(command, url, queue, prefetch, Path(tmp))
                out.append(CaseResult(name, True, case(s, timeout)))
            except (_Fail, ReportError) as exc:
                out.append(CaseResult(name, False, str(exc)))
            finally:
                if s is not None:
                    s.close()
                    _delete(url, queue)
    return out


def _delete(url: str, queue: str) -> None:
    import pika

    with contextlib.suppress(Exception):
        conn = pika.BlockingConnection(pika.URLParameters(url))
        ch = conn.channel()
        ch.queue_delete(queue)
        ch.queue_delete(f"{queue}.reports")
        conn.close()
