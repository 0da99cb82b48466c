"""The kit's own job-handler: a process that follows docs/job-handler-protocol.md.

It does what the scenario says a job-handler does (works for the job's ``duration``, ends
with its ``outcome``), one job at a time like the simulator's handlers, and talks to the
broker exactly as a user's handler must: prefetch, an ``in-progress`` report per delivery
with the broker's ``redelivered`` flag, and the final report published and the delivery
acknowledged in one AMQP transaction. It runs as a separate process so that tests can kill
it with SIGKILL mid-activity::

    python -m activitykit.live.amqp.handler --amqp-url URL --queue activitykit.jobs --name h1

Jobs with a zero duration that are already waiting in the prefetch buffer are handled as
one batch: one report message, one multiple-ack, one commit. It is what a handler with
nothing to wait for would do, and it keeps the broker round trips per job low.

``--never-ack`` makes it a broken handler for the fault tests: it reports the final status
but never acknowledges the message.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import Any

import pika

from .connection import CONNECTION_ERRORS, connect
from .protocol import decode_job, encode_reports

__all__ = ["main", "serve"]

#: At most this many zero-duration jobs go into one report message.
MAX_BATCH = 200


def _log(name: str, text: str) -> None:
    print(f"job-handler {name}: {text}", file=sys.stderr, flush=True)


def serve(
    url: str,
    queue: str,
    name: str,
    prefetch: int = 1,
    never_ack: bool = False,
    reconnect_timeout: float = 60.0,
) -> None:
    """Consume ``queue`` until killed; reconnect for up to ``reconnect_timeout`` s."""
    while True:
        conn = connect(url, time.monotonic() + reconnect_timeout)
        try:
            _serve_connection(conn, queue, name, prefetch, never_ack)
        except CONNECTION_ERRORS as exc:
            # The broker restarted, or closed the channel (consumer timeout): whatever this
            # handler had not acknowledged is requeued by the broker; start over.
            _log(name, f"connection lost ({exc!r}); reconnecting")
        finally:
            if conn.is_open:
                with contextlib.suppress(CONNECTION_ERRORS):
                    conn.close()


def _serve_connection(
    conn: pika.BlockingConnection, queue: str, name: str, prefetch: int, never_ack: bool
) -> None:
    ch = conn.channel()
    ch.basic_qos(prefetch_count=prefetch)
    ch.queue_declare(queue, durable=True)
    ch.tx_select()
    plain = pika.BasicProperties(content_type="application/json")
    deliveries = ch.consume(queue, auto_ack=False)

    def send(reply_to: str, reports: list[dict[str, Any]], ack_tag: int | None) -> None:
        ch.basic_publish("", reply_to, encode_reports(name, reports), plain)
        if ack_tag is not None and not never_ack:
            ch.basic_ack(ack_tag, multiple=True)
        ch.tx_commit()

    def accept(method: Any, props: Any, body: bytes) -> Any:
        """The job of a delivery, or None after rejecting a message that is not one."""
        try:
            job = decode_job(body)
        except ValueError as exc:
            why = str(exc)
        else:
            if props.reply_to:
                return job
            why = f"job {job.activity!r} has no reply_to"
        # Not ours to judge further: drop it (no requeue) so that it cannot loop forever.
        _log(name, f"rejecting message {method.delivery_tag}: {why}")
        ch.basic_reject(method.delivery_tag, requeue=False)
        ch.tx_commit()
        return None

    def started(job: Any, method: Any) -> dict[str, Any]:
        return {
            "activity": job.activity,
            "gen": job.gen,
            "status": "in-progress",
            "redelivered": bool(method.redelivered),
        }

    for first in deliveries:
        pending = [first]
        while pending:
            method, props, body = pending.pop()
            job = accept(method, props, body)
            if job is None:
                continue
            final = {"activity": job.activity, "gen": job.gen, "status": job.outcome}
            if job.duration > 0:
                send(props.reply_to, [started(job, method)], None)
                conn.sleep(job.duration)  # services the connection (heartbeats, deliveries)
                send(props.reply_to, [final], method.delivery_tag)
                continue
            reports = [started(job, method), final]
            tag = method.delivery_tag
            # More zero-duration work already buffered for the same reply queue: one batch.
            while len(reports) < 2 * MAX_BATCH and ch.get_waiting_message_count() > 0:
                nxt = next(deliveries)
                try:
                    j2 = decode_job(nxt[2])
                except ValueError:
                    j2 = None
                if j2 is None or j2.duration > 0 or nxt[1].reply_to != props.reply_to:
                    pending.append(nxt)  # after this batch, on its own (sequential handler)
                    break
                reports += [
                    started(j2, nxt[0]),
                    {"activity": j2.activity, "gen": j2.gen, "status": j2.outcome},
                ]
                tag = nxt[0].delivery_tag
            send(props.reply_to, reports, tag)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m activitykit.live.amqp.handler",
        description="The kit's job-handler (docs/job-handler-protocol.md).",
    )
    env = os.environ.get
    # Defaults from the environment: `activitykit conform --job-handler` sets these.
    ap.add_argument(
        "--amqp-url",
        default=env("ACTIVITYKIT_AMQP_URL"),
        help="broker URL, amqp://user:pass@host:port/vhost ($ACTIVITYKIT_AMQP_URL)",
    )
    ap.add_argument(
        "--queue",
        default=env("ACTIVITYKIT_QUEUE", "activitykit.jobs"),
        help="the job queue, durable ($ACTIVITYKIT_QUEUE)",
    )
    ap.add_argument(
        "--name",
        default=env("ACTIVITYKIT_HANDLER"),
        help="this handler's name in reports and the trace ($ACTIVITYKIT_HANDLER)",
    )
    ap.add_argument(
        "--prefetch",
        type=int,
        default=int(env("ACTIVITYKIT_PREFETCH", "1")),
        help="unacknowledged messages held, >= 1 ($ACTIVITYKIT_PREFETCH)",
    )
    ap.add_argument("--never-ack", action="store_true", help="fault: never acknowledge")
    ap.add_argument(
        "--reconnect-timeout",
        type=float,
        default=60.0,
        help="give up reconnecting after this many seconds",
    )
    args = ap.parse_args(argv)
    if not args.amqp_url or not args.name:
        ap.error("--amqp-url and --name are required (or their environment variables)")
    if args.prefetch < 1:
        ap.error("--prefetch must be >= 1")
    try:
        serve(
            args.amqp_url,
            args.queue,
            args.name,
            args.prefetch,
            args.never_ack,
            args.reconnect_timeout,
        )
    except KeyboardInterrupt:
        return 0
    except CONNECTION_ERRORS as exc:
        _log(args.name, f"giving up: no broker ({exc!r})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
