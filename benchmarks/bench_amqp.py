"""Benchmark: server activities through a real RabbitMQ, against a bare loop on the same broker.

On one broker (the kit's own on loopback, or ``ACTIVITYKIT_AMQP_URL``), alternating over
``--rounds``:

- bare: one process publishes N persistent messages to a durable queue with pika; 4
  consumer processes (pika, the same prefetch) receive and ack each one. Nothing else.
- kit: N server activities created in the server core (``StoreServer``), published by
  ``AmqpServerSide``, run by 4 of the kit's job-handler processes (zero work time), their
  reports consumed, every record (created, enqueue, consume, transitions, ack) written to a
  JSONL trace and judged by the online checker as it arrives. The clock stops when the core
  has every activity Succeeded.

Prints activities/s of both, the ratio kit/bare per round and their medians. Goals: ratio
>= 0.5 and kit >= 1,000 activities/s with 4 job-handlers. Then the redelivery figures:
``--kills`` times, a job-handler is killed with SIGKILL while it runs an activity, and the
time from the kill to the second consume (by the other handler, ``redelivered`` set) is
measured. Usage:

    python benchmarks/bench_amqp.py                  # 20,000 activities, 3 rounds, 5 kills
    python benchmarks/bench_amqp.py --activities 5000 --rounds 1 --kills 3
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import pika

from activitykit.check import Checker
from activitykit.live.amqp.broker import AMQP_URL_ENV, Broker
from activitykit.live.amqp.core import StoreServer
from activitykit.live.amqp.port import Recorder
from activitykit.live.amqp.server_side import AmqpServerSide, HandlerPool
from activitykit.trace.writers import JsonlTraceWriter

HANDLERS = 4


# ---------------------------------------------------------------------- bare loop
def _bare_consumer(url: str, queue: str, prefetch: int, slot: int, done) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=prefetch)
    deliveries = ch.consume(queue, auto_ack=False, inactivity_timeout=5.0)
    for n, (method, _props, _body) in enumerate(deliveries, 1):
        if method is None:
            break
        ch.basic_ack(method.delivery_tag)
        done[slot] = n  # one writer per slot: no lock needed


def bare(url: str, n: int, prefetch: int) -> float:
    queue = f"bench.bare.{os.getpid()}"
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.queue_declare(queue, durable=True)
    ch.queue_purge(queue)
    done = mp.Array("q", HANDLERS, lock=False)
    procs = [
        mp.Process(target=_bare_consumer, args=(url, queue, prefetch, i, done))
        for i in range(HANDLERS)
    ]
    for p in procs:
        p.start()
    while ch.queue_declare(queue, durable=True, passive=True).method.consumer_count < HANDLERS:
        conn.sleep(0.05)
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    body = b'{"protocol":"activitykit-jobhandler/1","activity":"a000000","gen":1}'
    t0 = time.perf_counter()
    for _ in range(n):
        ch.basic_publish("", queue, body, props)
    while sum(done) < n:
        conn.sleep(0.002)
    dt = time.perf_counter() - t0
    for p in procs:
        p.terminate()
        p.join()
    ch.queue_delete(queue)
    conn.close()
    return n / dt


# ---------------------------------------------------------------------- the kit
def kit(url: str, n: int, prefetch: int, tmp: Path) -> float:
    queue = f"bench.kit.{os.getpid()}"
    with ExitStack() as stack:
        writer = stack.enter_context(JsonlTraceWriter(tmp / "bench.jsonl"))
        rec = Recorder(writer, Checker(), strict=True)
        server = StoreServer(rec.emit)
        side = AmqpServerSide(url, server, rec.emit, queue=queue, prefetch=prefetch, purge=True)
        server.side = side
        side.open()
        stack.callback(side.close)
        pool = stack.enter_context(HandlerPool(url, queue, prefetch=prefetch))
        pool.start_all([f"h{i + 1}" for i in range(HANDLERS)], side)
        store = server.store
        t0 = time.perf_counter()
        for i in range(n):
            store.create(side.clock(), f"a{i}", "server", "GenerateUsgReportActivity", "Queued")
            if i % 500 == 499:
                side.pump(0)  # take reports in while publishing, as a live run does
        if not side.run_until(lambda: store.open == 0, 600, step=0.01):
            raise SystemExit(f"kit: {store.open} of {n} activities not final after 600 s")
        dt = time.perf_counter() - t0
        assert not rec.violations
        assert side.counts.acks == n, side.counts
    return n / dt


# ---------------------------------------------------------------------- redelivery
def kill_to_redelivery(url: str, trials: int) -> list[float]:
    """Seconds from SIGKILL of the handler running an activity to its second consume."""
    out = []
    for k in range(trials):
        queue = f"bench.kill.{os.getpid()}.{k}"
        rec = Recorder(None, Checker(), strict=True)
        work = {"long": 60.0}
        server = StoreServer(
            rec.emit, handler_model=lambda a, w=work: (w.get(a.id, 0.0), "succeeded")
        )
        side = AmqpServerSide(url, server, rec.emit, queue=queue, prefetch=1, purge=True)
        server.side = side
        side.open()
        with HandlerPool(url, queue, prefetch=1) as pool:
            pool.start_all(["h1", "h2"], side)
            server.store.create(side.clock(), "long", "server", "ArchiveRequest", "Queued")
            seen = side.counts.consumed
            if not side.run_until(lambda s=seen: len(s) == 1, 30):
                raise SystemExit("redelivery: no first consume within 30 s")
            victim = seen[0].handler
            t_kill = side.clock()
            pool.kill(victim)
            side.handler_lost(victim)
            if not side.run_until(lambda s=seen: len(s) == 2, 30):
                raise SystemExit("redelivery: no second consume within 30 s of the kill")
            second = seen[1]
            assert second.redelivered and second.handler != victim
            out.append(second.t - t_kill)
        side.close()
        ch = pika.BlockingConnection(pika.URLParameters(url))
        c = ch.channel()
        c.queue_delete(queue)
        c.queue_delete(f"{queue}.reports")
        ch.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--activities", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefetch", type=int, default=10)
    ap.add_argument("--kills", type=int, default=5)
    args = ap.parse_args()
    with ExitStack() as stack:
        url = os.environ.get(AMQP_URL_ENV)
        if not url:
            broker = stack.enter_context(Broker())
            url = broker.url
            print(f"own broker {broker.node} on 127.0.0.1:{broker.port}")
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        n, pf = args.activities, args.prefetch
        print(f"{n} activities, {HANDLERS} job-handlers, prefetch {pf}, persistent messages")
        ratios, kits = [], []
        for r in range(args.rounds):
            b = bare(url, n, pf)
            k = kit(url, n, pf, tmp)
            ratios.append(k / b)
            kits.append(k)
            print(f"round {r + 1}: bare {b:8.0f}/s   kit {k:8.0f}/s   ratio {k / b:.2f}")
        ratio, rate = statistics.median(ratios), statistics.median(kits)
        print(
            f"median: kit {rate:.0f} activities/s (goal >= 1000), ratio {ratio:.2f} (goal >= 0.5)"
        )
        if args.kills:
            ds = kill_to_redelivery(url, args.kills)
            med, top = statistics.median(ds) * 1000, max(ds) * 1000
            print(
                f"kill -9 -> second consume, {len(ds)} kills: median {med:.1f} ms, max {top:.1f} ms"
            )
        ok = ratio >= 0.5 and rate >= 1000
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
