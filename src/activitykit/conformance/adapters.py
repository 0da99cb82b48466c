"""Adapters that carry protocol requests to an implementation under test (IUT).

Two ways in: an object in this Python process (``--iut-python package.module:Class``) and
a child process speaking JSON Lines on stdin/stdout (``--iut "COMMAND"``). Both validate
every reply (``protocol.validate_reply``) and turn any misbehaviour into ``IUTFailure``,
whose message names the request that provoked it. The subprocess adapter bounds every
request by a timeout, runs the child in its own process group and, on close or failure,
escalates close-stdin -> wait -> SIGTERM -> SIGKILL on the whole group, so the harness never
hangs and never leaves processes behind.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import inspect
import json
import os
import queue
import signal
import subprocess
import threading
import time
from typing import Any

import orjson

from .._json import loads as json_loads
from .._json import reason
from ..errors import InputError
from .protocol import PROTOCOL, ReplyShapeError, validate_reply

__all__ = [
    "IUT",
    "IUTFailure",
    "IUTStartError",
    "PythonIUT",
    "SubprocessIUT",
    "load_python_iut",
]

#: The longest reply line accepted; a longer one is garbage (and would exhaust memory).
MAX_LINE = 1 << 20


class IUTFailure(Exception):
    """The IUT crashed, hung, or answered with something that is not a valid reply.

    ``kind`` is one of ``crash``, ``timeout``, ``garbage``, ``encoding``, ``invalid``,
    ``extra`` (a reply nobody asked for), ``exception``. ``previous`` is True when the fault
    belongs to the request before the one being sent (an extra or duplicate reply to it).
    """

    def __init__(
        self,
        kind: str,
        message: str,
        request: dict[str, Any] | None = None,
        previous: bool = False,
    ) -> None:
        self.kind = kind
        self.request = request
        self.previous = previous
        where = f" (request {json.dumps(request, sort_keys=True)})" if request else ""
        super().__init__(f"{kind}: {message}{where}")
        self.detail = message


def _extra_reply(prev: dict[str, Any], shown: str) -> IUTFailure:
    """An extra (early, canned or duplicated) reply line, blamed on the request before.

    It is found either waiting before the next request goes out (``check_quiet``) or read
    in place of the next request's reply, depending on when the IUT wrote it: one fault,
    one message, whichever way the race went.
    """
    return IUTFailure(
        "extra",
        f"an extra reply line after the reply to request id {prev.get('id')}: {shown}; "
        "exactly one reply line per request",
        prev,
        previous=True,
    )


class IUTStartError(IUTFailure):
    """The IUT could not be started or refused the ``hello`` handshake."""


class IUT:
    """Common part of the adapters: request ids, reply validation, the handshake."""

    name = "iut"

    def __init__(self) -> None:
        self._next_id = 1
        self.implementation: str | None = None
        #: The last request sent: an extra reply found later is blamed on it.
        self.last_request: dict[str, Any] | None = None

    # Subclasses provide these two.
    def _exchange_raw(self, request: dict[str, Any]) -> Any:
        raise NotImplementedError

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def check_quiet(self, wait: float = 0.0) -> None:
        """Raise ``IUTFailure`` (``previous``) if a reply arrived that nobody asked for."""

    @property
    def alive(self) -> bool:
        return True

    def request(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send one command (without ``id``), return its validated reply."""
        req = {"id": self._next_id, **command}
        self._next_id += 1
        self.check_quiet()
        prev, self.last_request = self.last_request, req
        raw = self._exchange_raw(req)
        if (
            isinstance(raw, dict)
            and prev is not None
            and raw.get("id") == prev["id"]
            and raw.get("id") != req["id"]
        ):
            # A second answer to the previous request, read in place of this one's.
            self.close()
            raise _extra_reply(prev, _short(raw))
        try:
            return validate_reply(req, raw)
        except ReplyShapeError as exc:
            raise IUTFailure("invalid", f"reply {_short(raw)} is not valid: {exc}", req) from None

    def hello(self, profile: str) -> dict[str, Any]:
        """Start (if needed) and shake hands; any problem is an ``IUTStartError``."""
        try:
            self.start()
            reply = self.request({"cmd": "hello", "protocol": PROTOCOL, "profile": profile})
        except IUTStartError:
            raise
        except IUTFailure as exc:
            raise IUTStartError(exc.kind, exc.detail, exc.request) from None
        if reply["status"] != "ok":
            raise IUTStartError(
                "refused",
                f"the IUT did not accept hello for {PROTOCOL} profile {profile}: "
                f"{reply.get('reason')}",
            )
        self.implementation = reply.get("implementation")
        return reply

    def __enter__(self) -> IUT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _short(raw: Any, limit: int = 300) -> str:
    text = raw if isinstance(raw, str) else json.dumps(raw, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."


class PythonIUT(IUT):
    """An object with ``handle(request: dict) -> dict`` living in this process.

    Requests and replies go through a JSON round trip so the object sees exactly what a
    subprocess would. There is no timeout: a Python call cannot be interrupted safely; use
    the subprocess adapter for an IUT that might hang.
    """

    def __init__(self, obj: Any, name: str | None = None) -> None:
        super().__init__()
        if not callable(getattr(obj, "handle", None)):
            raise InputError(f"{obj!r} has no handle(request) method; see docs/iut-protocol.md")
        self.obj = obj
        self.name = name or type(obj).__name__

    def _exchange_raw(self, request: dict[str, Any]) -> Any:
        try:
            reply = self.obj.handle(json.loads(json.dumps(request)))
        except Exception as exc:
            raise IUTFailure("exception", f"handle raised {exc!r}", request) from None
        try:
            return json.loads(json.dumps(reply))
        except (TypeError, ValueError, RecursionError) as exc:  # nested too deep: recursion
            raise IUTFailure("garbage", f"reply is not JSON-serialisable: {exc}", request) from None


def load_python_iut(spec: str) -> PythonIUT:
    """``package.module:NAME`` -> a ``PythonIUT``. NAME is a class (made without arguments),
    a factory function (called without arguments) or an object; what results must have a
    ``handle(request)`` method. Built-in functions are never called: they make no IUT
    (``os:system``), and some would act on this process (``os:abort``)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"--iut-python {spec!r}: expected package.module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"--iut-python {spec!r}: cannot import {module_name}: {exc}") from None
    target = getattr(module, attr, None)
    if target is None:
        raise InputError(f"--iut-python {spec!r}: {module_name} has no attribute {attr!r}")
    made = isinstance(target, type) or (
        inspect.isfunction(target)
        and not callable(getattr(target, "handle", None))
        and _takes_no_arguments(target)
    )
    if made:
        what = "class" if isinstance(target, type) else "factory"
        try:
            target = target()
        except Exception as exc:
            raise InputError(
                f"--iut-python {spec!r}: {attr}() failed: {exc!r}; the {what} must be "
                "callable without arguments"
            ) from None
    if not callable(getattr(target, "handle", None)):
        got = f"{attr}() gave {_kind(target)}" if made else f"{attr} is {_kind(target)}"
        raise InputError(
            f"--iut-python {spec!r}: {got}, which has no handle(request) method; expected a "
            "class or a factory function (called without arguments) whose result has one, "
            "or such an object; see docs/iut-protocol.md"
        )
    return PythonIUT(target, name=spec)


def _takes_no_arguments(fn: Any) -> bool:
    try:
        inspect.signature(fn).bind()
    except TypeError:
        return False
    return True


def _kind(value: Any) -> str:
    if inspect.isbuiltin(value):
        return f"the built-in function {value.__name__}"
    if inspect.isroutine(value):
        try:
            return f"the function {value.__qualname__}{inspect.signature(value)}"
        except (TypeError, ValueError):  # no signature to show
            return f"the function {getattr(value, '__qualname__', value)}"
    if inspect.ismodule(value):
        return f"the module {value.__name__}"
    return f"{type(value).__name__} {_short(repr(value), 60)}"


class SubprocessIUT(IUT):
    """A child process speaking JSON Lines; see the module docstring for the guarantees."""

    def __init__(
        self, command: str, timeout: float = 5.0, start_timeout: float | None = None
    ) -> None:
        super().__init__()
        if not command.strip():
            raise InputError("--iut: the command is empty")
        self.command = command
        self.name = command
        self.timeout = timeout
        self.start_timeout = start_timeout if start_timeout is not None else max(timeout, 10.0)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._threads: list[threading.Thread] = []
        self._first = True

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self.close()
        self._lines = queue.Queue()
        self.last_request = None
        self._stderr.clear()
        self._first = True
        try:
            self._proc = subprocess.Popen(
                ["/bin/sh", "-c", self.command],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: killed as a whole
            )
        except OSError as exc:
            raise IUTStartError("crash", f"cannot run {self.command!r}: {exc}") from None
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self._proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self._proc.stderr,), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read_stdout(self, stream: Any) -> None:
        try:
            while True:
                line = stream.readline(MAX_LINE + 1)
                if not line:
                    break
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def _read_stderr(self, stream: Any) -> None:
        try:
            for line in iter(lambda: stream.readline(8192), b""):
                self._stderr.append(line.decode("utf-8", "replace").rstrip())
        except (OSError, ValueError):
            pass

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def close(self, grace: float = 1.0) -> None:
        """Close stdin, wait ``grace`` s, then SIGTERM and SIGKILL the process group."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        # Grandchildren (a shell pipeline, a runtime's helpers) may outlive the leader.
        self._signal_group(proc.pid, signal.SIGKILL)
        for stream in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()
        for t in self._threads:
            t.join(timeout=grace)
        self._threads = []

    @staticmethod
    def _signal_group(pgid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    # -- one request -------------------------------------------------------------------------
    def _stderr_tail(self) -> str:
        tail = " | ".join(list(self._stderr)[-5:])
        return f"; its stderr ends: {tail}" if tail else ""

    def check_quiet(self, wait: float = 0.0) -> None:
        """A line waiting before the next request is sent is an extra reply to the last one
        (early, canned or duplicated): blame that request, not the one about to go out."""
        if self._proc is None or self.last_request is None:
            return
        try:
            line = self._lines.get(timeout=wait) if wait > 0 else self._lines.get_nowait()
        except queue.Empty:
            return
        if line is None:
            self._lines.put(None)  # the process ended: the next request reports it
            return
        prev = self.last_request
        self.close(grace=0.2)
        raise _extra_reply(prev, repr(_short(line.decode("utf-8", "replace").rstrip())))

    def _exchange_raw(self, request: dict[str, Any]) -> Any:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise IUTFailure("crash", "the IUT process is not running", request)
        try:
            proc.stdin.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self._died(request)
        limit = self.start_timeout if self._first else self.timeout
        self._first = False
        try:
            line = self._lines.get(timeout=limit)
        except queue.Empty:
            self.close(grace=0.2)
            raise IUTFailure(
                "timeout", f"no reply within {limit:g} s{self._stderr_tail()}", request
            ) from None
        if line is None:
            self._died(request)
        assert line is not None
        if len(line) > MAX_LINE:
            self.close(grace=0.2)
            raise IUTFailure("garbage", f"reply line longer than {MAX_LINE} bytes", request)
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.close(grace=0.2)
            raise IUTFailure(
                "encoding",
                f"reply is not valid UTF-8 (byte {line[exc.start]:#04x} at offset {exc.start}: "
                f"{exc.reason}); replies are UTF-8 JSON: "
                f"{_short(line.decode('utf-8', 'replace').rstrip())!r}{self._stderr_tail()}",
                request,
            ) from None
        try:  # orjson: nesting beyond 1024 levels is an error, not a recursion
            return json_loads(text)
        except orjson.JSONDecodeError as exc:
            self.close(grace=0.2)
            raise IUTFailure(
                "garbage",
                f"reply is not JSON ({reason(exc)}): {_short(text.rstrip())!r}"
                + self._stderr_tail(),
                request,
            ) from None

    def _died(self, request: dict[str, Any]) -> None:
        proc = self._proc
        code = None
        if proc is not None:
            deadline = time.monotonic() + 1.0
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            code = proc.poll()
        time.sleep(0.05)  # let the stderr reader catch the last words
        tail = self._stderr_tail()
        self.close(grace=0.2)
        status = f"exit status {code}" if code is not None else "closed its stdout"
        raise IUTFailure("crash", f"the IUT process ended ({status}){tail}", request)
