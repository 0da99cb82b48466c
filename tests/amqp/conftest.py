"""A RabbitMQ broker for the tests marked ``amqp``: the user's, an own one, or a skip.

``ACTIVITYKIT_AMQP_URL`` names a broker to use; otherwise one broker of the kit's own is
started per test session (per xdist worker) when ``rabbitmq-server`` is installed, and
stopped at the end. Tests take ``amqp_url`` (skips with the reason when there is none) and
``amqp_queue`` (a fresh queue name, so tests sharing a broker never see each other's jobs).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from activitykit.live.amqp.broker import Broker, broker_url_for_tests

_names = itertools.count(1)


@pytest.fixture(scope="session")
def _amqp_session() -> Iterator[tuple[str | None, str, Broker | None]]:
    with broker_url_for_tests() as found:
        yield found


@pytest.fixture
def amqp_url(_amqp_session: tuple[str | None, str, Broker | None]) -> str:
    url, reason, _ = _amqp_session
    if url is None:
        pytest.skip(reason)
    return url


@pytest.fixture
def own_broker(_amqp_session: tuple[str | None, str, Broker | None]) -> Broker:
    """The session's own broker, for tests that restart it (skip on a user's broker)."""
    url, reason, broker = _amqp_session
    if url is None:
        pytest.skip(reason)
    if broker is None:
        pytest.skip("restarting the broker needs the kit's own broker, not ACTIVITYKIT_AMQP_URL")
    return broker


@pytest.fixture
def amqp_queue(request: pytest.FixtureRequest) -> str:
    return f"activitykit.test.{os.getpid()}.{next(_names)}.{request.node.name[:40]}"


class Live:
    """A server side on the test broker: the server core, a checked in-memory trace."""

    def __init__(self, url: str, queue: str, prefetch: int, tmp: str) -> None:
        from activitykit.live.amqp.core import StoreServer
        from activitykit.live.amqp.port import Recorder
        from activitykit.live.amqp.server_side import AmqpServerSide, HandlerPool
        from activitykit.trace.writers import MemoryTraceWriter

        self.trace = MemoryTraceWriter()
        self.recorder = Recorder(self.trace)
        #: activity -> (work time, outcome) its job message carries
        self.jobs: dict[str, tuple[float, str]] = {}
        self.server = StoreServer(self.recorder.emit, handler_model=lambda a: self.jobs[a.id])
        self.store = self.server.store
        self.side = AmqpServerSide(
            url, self.server, self.recorder.emit, queue=queue, prefetch=prefetch, purge=True
        ).open()
        self.server.side = self.side
        self.pool = HandlerPool(url, queue, prefetch=prefetch, log_dir=tmp)

    def publish(
        self,
        activity: str,
        duration: float = 0.0,
        outcome: str = "succeeded",
        atype: str = "GenerateUsgReportActivity",
    ) -> None:
        """Create a Queued server activity: the core publishes it at once."""
        self.jobs[activity] = (duration, outcome)
        self.store.create(self.side.clock(), activity, "server", atype, "Queued")

    def state(self, activity: str) -> str:
        return self.store.get(activity).state

    def states(self) -> dict[str, str]:
        return {a: x.state for a, x in self.store.activities.items()}

    def finals(self) -> int:
        return sum(s in ("Succeeded", "Failed", "Canceled") for s in self.states().values())

    def wait_final(self, n: int, timeout: float = 60.0) -> None:
        ok = self.side.run_until(lambda: self.finals() >= n, timeout)
        assert ok, f"{self.finals()} of {n} activities final after {timeout} s: {self.states()}"

    def records(self, event: str) -> list[dict]:
        return [r for r in self.trace.records if r["event"] == event]

    def close(self) -> None:
        self.pool.stop()
        self.side.close()


@pytest.fixture
def live(amqp_url: str, amqp_queue: str, tmp_path) -> Iterator[Live]:  # type: ignore[no-untyped-def]
    lv = Live(amqp_url, amqp_queue, prefetch=1, tmp=str(tmp_path))
    yield lv
    lv.close()
    _delete_queues(amqp_url, amqp_queue)


@pytest.fixture
def make_live(amqp_url: str, amqp_queue: str, tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    made: list[Live] = []

    def make(prefetch: int = 1) -> Live:
        lv = Live(amqp_url, f"{amqp_queue}.{len(made)}", prefetch, str(tmp_path))
        made.append(lv)
        return lv

    yield make
    for i, lv in enumerate(made):
        lv.close()
        _delete_queues(amqp_url, f"{amqp_queue}.{i}")


def _delete_queues(url: str, queue: str) -> None:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.queue_delete(queue)
    ch.queue_delete(f"{queue}.reports")
    conn.close()
