"""The emulated Landscape server over HTTP: message system and ping server.

Two aiohttp applications on two ports, as a real Landscape deployment has them, so that a
slow exchange (a large body still arriving, a long decode) never delays a ping: bodies are
read asynchronously, and large ones are decoded and encoded in a worker thread while the
event loop keeps answering. All protocol state lives in
:class:`~activitykit.live.exchange.MessageSystem` and is only touched on the loop thread.

Bad requests are answered, never raised: 400 for a body that is not a valid payload, 403
for a wrong exchange token, 404 for an unknown ping id, 405 for a wrong method, 413 for an
oversized body, 500 when the activity port fails; each is also reported as a notice.
aiohttp was chosen because it is a maintained asyncio HTTP server and client in one
package: the emulator, the tests' scripted clients and the load benchmark share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from . import bpickle
from .exchange import MessageSystem, ProtocolError
from .port import Notice

__all__ = ["BusyWindow", "LandscapeServer"]

log = logging.getLogger(__name__)

#: Largest exchange body accepted (HTTP 413 above): 100 messages of 100 kB script output
#: each, with room to spare.
DEFAULT_MAX_BODY = 16 * 1024 * 1024
#: Largest ping body: a form with one short field.
MAX_PING_BODY = 4096
#: Bodies above this size are decoded and encoded off the event loop.
_OFFLOAD_BYTES = 64 * 1024
_OCTETS = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class BusyWindow:
    """Answer ``status`` (429 or 5xx) to exchanges (and pings, if asked) in [start, end)."""

    start: float
    end: float
    status: int = 503
    pings: bool = False

    def __post_init__(self) -> None:
        if not (self.status == 429 or 500 <= self.status <= 599):
            raise ValueError(f"busy status must be 429 or 5xx, got {self.status}")
        if self.end <= self.start:
            raise ValueError(f"busy window must end after it starts, got {self.start}..{self.end}")


class LandscapeServer:
    """Serve a :class:`MessageSystem` over HTTP on ``host`` (ports 0 pick free ones)."""

    def __init__(
        self,
        system: MessageSystem,
        *,
        host: str = "127.0.0.1",
        message_port: int = 0,
        ping_port: int = 0,
        max_body: int = DEFAULT_MAX_BODY,
        clock: Callable[[], float] | None = None,
        record_dir: Path | None = None,
    ):
        self.system = system
        self.host = host
        self.max_body = max_body
        self._ports = (message_port, ping_port)
        self._clock = clock or _since(time.monotonic())
        self._busy: list[BusyWindow] = []
        self._runners: list[web.AppRunner] = []
        self.message_port = self.ping_port = 0
        self.requests = {"exchange": 0, "ping": 0}
        self._recorder = None if record_dir is None else _Recorder(Path(record_dir))

    # ------------------------------------------------------------------ lifecycle

    @property
    def message_url(self) -> str:
        return f"http://{self.host}:{self.message_port}/message-system"

    @property
    def ping_url(self) -> str:
        return f"http://{self.host}:{self.ping_port}/ping"

    async def start(self) -> None:
        message_app = web.Application(client_max_size=self.max_body)
        message_app.router.add_post("/message-system", self._recorded(self._exchange, "exchange"))
        ping_app = web.Application(client_max_size=MAX_PING_BODY)
        ping_app.router.add_post("/ping", self._recorded(self._ping, "ping"))
        try:
            for app, port in zip((message_app, ping_app), self._ports, strict=True):
                runner = web.AppRunner(app, access_log=None, handle_signals=False)
                await runner.setup()
                self._runners.append(runner)
                site = web.TCPSite(runner, self.host, port)
                await site.start()
                sockets = runner.addresses
                if app is message_app:
                    self.message_port = sockets[0][1]
                else:
                    self.ping_port = sockets[0][1]
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()

    async def __aenter__(self) -> LandscapeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ faults

    def busy(self, window: BusyWindow) -> None:
        """Answer busy during ``window`` (times on this server's clock)."""
        self._busy.append(window)

    def _busy_status(self, t: float, ping: bool) -> int | None:
        for w in self._busy:
            if w.start <= t < w.end and (w.pings or not ping):
                return w.status
        return None

    # ------------------------------------------------------------------ handlers

    # Each handler reads the clock right before it calls the system or notifies, with no
    # await in between, so that notices (and the trace records they lead to) are in time
    # order even when requests interleave.

    async def _exchange(self, request: web.Request) -> web.Response:
        self.requests["exchange"] += 1
        computer_id = request.headers.get("X-Computer-ID")
        status = self._busy_status(self._clock(), ping=False)
        if status is not None:
            name = self.system.name_of(secure_id=computer_id)
            detail = {"endpoint": "exchange", "status": status}
            self._notify(Notice("busy", self._clock(), name, detail))
            await _drain(request)
            return web.Response(status=status, text="server busy (emulated fault)\n")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reject(413, f"body larger than {self.max_body} bytes", "exchange")
        try:
            payload = await self._off_loop(len(body), bpickle.loads, body, max_size=self.max_body)
        except bpickle.BpickleError as exc:
            return self._reject(400, f"body is not bpickle: {exc}", "exchange")
        token = request.headers.get("X-Exchange-Token")
        try:
            answer = self.system.exchange(payload, computer_id, token, self._clock())
        except ProtocolError as exc:
            return self._reject(exc.status, exc.reason, "exchange")
        except Exception as exc:  # the port under test failed: answer, keep serving
            return self._port_failed(exc, "exchange")
        data = await self._off_loop(len(body), bpickle.dumps, answer)
        return web.Response(body=data, content_type=_OCTETS)

    async def _ping(self, request: web.Request) -> web.Response:
        self.requests["ping"] += 1
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reject(413, f"body larger than {MAX_PING_BODY} bytes", "ping")
        if body.startswith(b"insecure_id=") and body[12:].isdigit():
            insecure_id = body[12:].decode()  # what every client sends: skip the parser
        else:
            try:
                form = parse_qs(body.decode("ascii"), strict_parsing=True, max_num_fields=4)
            except (UnicodeDecodeError, ValueError) as exc:
                return self._reject(400, f"body is not a urlencoded form: {exc}", "ping")
            ids = form.get("insecure_id", [])
            if len(ids) != 1:
                return self._reject(400, "form needs exactly one insecure_id field", "ping")
            insecure_id = ids[0]
        status = self._busy_status(self._clock(), ping=True)
        if status is not None:
            name = self.system.name_of(insecure_id=insecure_id)
            detail = {"endpoint": "ping", "status": status}
            self._notify(Notice("busy", self._clock(), name, detail))
            return web.Response(status=status, text="server busy (emulated fault)\n")
        try:
            waiting = self.system.ping(insecure_id, self._clock())
        except ProtocolError as exc:
            return self._reject(exc.status, exc.reason, "ping")
        except Exception as exc:
            return self._port_failed(exc, "ping")
        return web.Response(body=_PING_ANSWER[waiting], content_type=_OCTETS)

    # ------------------------------------------------------------------ helpers

    def _recorded(self, handler: _Handler, endpoint: str) -> _Handler:
        recorder = self._recorder
        if recorder is None:
            return handler

        async def record(request: web.Request) -> web.Response:
            response = await handler(request)
            try:  # aiohttp caches the body the handler read
                body = await request.read()
            except web.HTTPException:  # too large: the handler refused it unread
                body = b""
            recorder.write(endpoint, request, body, response)
            return response

        return record

    def _reject(self, status: int, reason: str, endpoint: str) -> web.Response:
        detail = {"endpoint": endpoint, "status": status, "reason": reason}
        self._notify(Notice("rejected", self._clock(), None, detail))
        return web.Response(status=status, text=reason + "\n")

    def _port_failed(self, exc: Exception, endpoint: str) -> web.Response:
        log.error(
            "activity port failed during a%s %s",
            "n" if endpoint[0] == "e" else "",
            endpoint,
            exc_info=exc,
        )
        detail = {"endpoint": endpoint, "error": f"{type(exc).__name__}: {exc}"}
        self._notify(Notice("port-error", self._clock(), None, detail))
        return web.Response(status=500, text="activity port failed\n")

    def _notify(self, notice: Notice) -> None:
        # A failing port must not turn a refusal into a crash of the handler.
        try:
            self.system.port.notify(notice)
        except Exception:
            log.exception("activity port failed to take a notice")

    @staticmethod
    async def _off_loop(size: int, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if size < _OFFLOAD_BYTES:
            return fn(*args, **kw)
        return await asyncio.to_thread(fn, *args, **kw)


_Handler = Callable[[web.Request], Awaitable[web.Response]]


class _Recorder:
    """Writes every request and answer to a folder: the raw material of protocol tests."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.count = 0

    def write(
        self, endpoint: str, request: web.Request, body: bytes, response: web.Response
    ) -> None:
        self.count += 1
        stem = f"{self.count:04d}-{endpoint}"
        (self.folder / f"{stem}-request.body").write_bytes(body)
        answer = response.body if isinstance(response.body, bytes) else b""
        (self.folder / f"{stem}-answer.body").write_bytes(answer)
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-")}
        meta = {"endpoint": endpoint, "headers": headers, "status": response.status}
        (self.folder / f"{stem}.json").write_text(json.dumps(meta, indent=1) + "\n")


_PING_ANSWER = {flag: bpickle.dumps({"messages": flag}) for flag in (False, True)}


async def _drain(request: web.Request) -> None:
    """Read and drop a body we are not going to look at (keeps the connection reusable)."""
    with contextlib.suppress(Exception):
        await request.read()


def _since(origin: float) -> Callable[[], float]:
    return lambda: time.monotonic() - origin
