"""Capacity of the emulated Landscape server, against a bare aiohttp server on the same machine.

Two measurements:

1. Requests per second. The server runs in a child process; a bounded loopback load
   generator (keep-alive HTTP/1.1 connections, fixed numbers of requests and of
   connections) sends pings and full exchanges from simulated registered computers:
   each exchange carries an operation-result and gets an execute-script back, with the
   sequence numbers and tokens of the real protocol. The same requests then go to a bare
   aiohttp server whose handlers read the body and return a constant answer of the same
   kind. Printed: the emulator's
   pings/s and exchanges/s, the bare server's, and their ratio. Targets: >= 2,000 pings/s
   and >= 300 exchanges/s.
2. Real clients (``--real-clients N``, takes minutes): ``activitykit live`` with N real
   Landscape Clients at once, one script each, every record through the online checker;
   printed: registration time, scripts succeeded, violations. Target: 20.

Run: ``python benchmarks/bench_live.py [--pings 20000] [--exchanges 4000] [--concurrency 32]
[--real-clients 20 --client-src DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from activitykit.live import bpickle
from activitykit.live.clients import ClientCommand, find_client_source
from activitykit.live.exchange import MessageSystem
from activitykit.live.port import ComputerView
from activitykit.live.scripted import ScriptedPort, script_message
from activitykit.live.server import LandscapeServer

REPO = Path(__file__).resolve().parents[1]
SCRIPT = script_message(1, "true")


class LoadPort(ScriptedPort):
    """A script for every exchange, no bookkeeping kept (the benchmark measures the wire)."""

    def exchange(self, computer: ComputerView, results: Any, t: float) -> list[dict[str, Any]]:
        return [SCRIPT]

    def has_messages(self, computer: ComputerView, t: float) -> bool:
        return computer.insecure_id % 2 == 0

    def notify(self, notice: Any) -> None:
        pass


# ---------------------------------------------------------------------------- servers


async def _serve_emulator(ports: Any) -> None:
    async with LandscapeServer(MessageSystem(LoadPort())) as server:
        ports.put((server.message_url, server.ping_url))
        await asyncio.Event().wait()


async def _serve_bare(ports: Any) -> None:
    ping_answer = bpickle.dumps({"messages": False})
    exchange_answer = bpickle.dumps(
        {
            "server-uuid": "u",
            "server-api": "3.3",
            "messages": [SCRIPT],
            "next-expected-sequence": 1,
            "next-exchange-token": b"0" * 32,
        }
    )

    def handler(answer: bytes):
        async def handle(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(body=answer, content_type="application/octet-stream")

        return handle

    urls = []
    for path, answer in (("/message-system", exchange_answer), ("/ping", ping_answer)):
        app = web.Application()
        app.router.add_post(path, handler(answer))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}{path}")
    ports.put(tuple(urls))
    await asyncio.Event().wait()


def _child(kind: str, ports: Any) -> None:
    asyncio.run(_serve_emulator(ports) if kind == "emulator" else _serve_bare(ports))


# ---------------------------------------------------------------------------- load


class _Computer:
    def __init__(self) -> None:
        self.secure_id: str | None = None
        self.insecure_id = 1
        self.token: bytes | None = None
        self.sequence = 0
        self.server_sequence = 0
        self.op = 0

    def payload(self, messages: list[dict[str, Any]]) -> bytes:
        return bpickle.dumps(
            {
                "server-api": b"3.3",
                "client-api": b"3.8",
                "sequence": self.sequence,
                "messages": messages,
                "total-messages": len(messages),
                "next-expected-sequence": self.server_sequence,
            }
        )

    def headers(self) -> dict[str, str]:
        h = {"X-Message-API": "3.3"}
        if self.secure_id:
            h["X-Computer-ID"] = self.secure_id
        if self.token:
            h["X-Exchange-Token"] = self.token.decode()
        return h

    def take(self, answer: dict[str, Any], sent: int) -> None:
        self.sequence = answer.get("next-expected-sequence", self.sequence + sent)
        self.token = answer.get("next-exchange-token")
        for m in answer["messages"]:
            self.server_sequence += 1
            if m["type"] == "set-id":
                self.secure_id, self.insecure_id = m["id"], m["insecure-id"]


class _Connection:
    """A minimal keep-alive HTTP/1.1 client for the timed loops.

    aiohttp's client costs several times what its server does per request, and the load
    generator shares the machine with the server under test: with it, the generator would
    be what is measured. Setup traffic and correctness do not depend on this class (every
    answer's status is checked and every exchange answer decoded).
    """

    def __init__(self, url: str):
        parts = url.split("/", 3)
        host, port = parts[2].split(":")
        self.host, self.port, self.path = host, int(port), "/" + parts[3]
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _exchange(conn: _Connection, c: _Computer, messages: list[dict[str, Any]]) -> None:
    status, body = await conn.post(c.payload(messages), c.headers())
    if status != 200:
        raise RuntimeError(f"exchange answered {status}: {body[:200]!r}")
    c.take(bpickle.loads(body), len(messages))


async def _load(urls: tuple[str, str], pings: int, exchanges: int, workers: int) -> tuple:
    message_url, ping_url = urls
    computers = [_Computer() for _ in range(workers)]
    exchangers = [_Connection(message_url) for _ in computers]
    pingers = [_Connection(ping_url) for _ in computers]
    try:
        for i, (c, conn) in enumerate(zip(computers, exchangers, strict=True)):
            register = {"type": "register", "computer_title": f"b{i}", "account_name": "a"}
            await _exchange(conn, c, [register])
            await _exchange(conn, c, [])

        async def ping_worker(c: _Computer, conn: _Connection, n: int) -> None:
            body = f"insecure_id={c.insecure_id}".encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            for _ in range(n):
                status, answer = await conn.post(body, headers)
                if status != 200:
                    raise RuntimeError(f"ping answered {status}: {answer[:200]!r}")

        async def exchange_worker(c: _Computer, conn: _Connection, n: int) -> None:
            for _ in range(n):
                c.op += 1
                result = {
                    "type": "operation-result",
                    "operation-id": c.op,
                    "status": 6,
                    "result-text": "",
                }
                await _exchange(conn, c, [result])

        per = pings // workers
        start = time.perf_counter()
        await asyncio.gather(
            *(ping_worker(c, p, per) for c, p in zip(computers, pingers, strict=True))
        )
        ping_rate = per * workers / (time.perf_counter() - start)
        per = exchanges // workers
        start = time.perf_counter()
        await asyncio.gather(
            *(exchange_worker(c, e, per) for c, e in zip(computers, exchangers, strict=True))
        )
        exchange_rate = per * workers / (time.perf_counter() - start)
    finally:
        for conn in exchangers + pingers:
            conn.close()
    return ping_rate, exchange_rate


def _measure(kind: str, args: argparse.Namespace) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    ports = ctx.Queue()
    child = ctx.Process(target=_child, args=(kind, ports), daemon=True)
    child.start()
    try:
        urls = ports.get(timeout=60)
        coro = _load(urls, args.pings, args.exchanges, args.concurrency)
        return asyncio.run(asyncio.wait_for(coro, args.timeout))
    finally:
        child.terminate()
        child.join(10)


# ---------------------------------------------------------------------------- real clients


def _real_clients(count: int, src: Path) -> dict[str, Any]:
    """``activitykit live`` with one script per client (a bulk), every record checked."""
    from activitykit.live.run import LiveOptions, run_live
    from activitykit.scenario import scenario_from_data

    scenario = scenario_from_data(
        {
            "name": f"bench-live-{count}",
            "duration": 30,
            "run_until": "drained",
            "drain_limit": 300,
            "fleet": {
                "groups": [
                    {
                        "name": "bench",
                        "computers": count,
                        "exchange_interval": 60,
                        "urgent_exchange_interval": 10,
                        "ping_interval": 5,
                        "handlers": {"ExecuteScriptRequest": {"duration": 1}},
                    }
                ]
            },
            "workload": {"bulks": [{"name": "all", "type": "ExecuteScriptRequest", "at": 1}]},
            "output": {"trace_format": "jsonl", "report": False},
        }
    )
    with tempfile.TemporaryDirectory(prefix="bench-live-") as root:
        options = LiveOptions(
            clients=count, command=ClientCommand.from_source(src), out_dir=Path(root) / "run"
        )
        started = time.perf_counter()
        result = run_live(scenario, options)
        took = time.perf_counter() - started
    s = result.summary
    return {
        "activities": s["activities"]["total"],
        "succeeded": s["activities"]["by_state"].get("Succeeded", 0),
        "violations": s["violations"]["count"],
        "registration_s": s["live"]["registration_seconds"],
        "seconds": took,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pings", type=int, default=20_000)
    ap.add_argument("--exchanges", type=int, default=4_000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=300.0, help="bound on each load run (s)")
    ap.add_argument("--real-clients", type=int, default=0, help="also run N real clients")
    ap.add_argument("--client-src", type=Path, help="client source tree for --real-clients")
    args = ap.parse_args(argv)

    bare = _measure("bare", args)
    emulator = _measure("emulator", args)
    print(f"{'':12}{'emulator':>12}{'bare aiohttp':>14}{'ratio':>8}{'target':>10}")
    for name, i, target in (("pings/s", 0, 2000), ("exchanges/s", 1, 300)):
        ok = "ok" if emulator[i] >= target else "MISSED"
        print(
            f"{name:12}{emulator[i]:12.0f}{bare[i]:14.0f}{emulator[i] / bare[i]:8.2f}"
            f"{target:>8} {ok}"
        )
    if args.real_clients:
        src = find_client_source(args.client_src, REPO)
        if src is None:
            print("real clients: no client source tree found (--client-src)", file=sys.stderr)
            return 2
        r = _real_clients(args.real_clients, src)
        print(
            f"real clients: {args.real_clients} at once, "
            f"registered in {r['registration_s']:.0f} s; "
            f"{r['succeeded']}/{r['activities']} scripts succeeded, {r['violations']} violations "
            f"(every record checked), {r['seconds']:.0f} s in all (target 20 at once)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
