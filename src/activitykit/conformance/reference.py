"""The oracle: an in-process activity system that implements the IUT protocol exactly.

``ReferenceSystem.handle(request) -> reply`` speaks the same dicts as the JSON Lines wire
(``docs/iut-protocol.md``), so the harness runs it beside any implementation under test and
compares replies step by step. It is deterministic: no clock but the one ``advance`` moves,
no randomness, activities visited in creation order.

The semantics are not written here: ``ReferenceSystem`` *is* the server's activity store
(``activitykit.server.ActivityStore``, the same code the simulator runs) plus the protocol
(field checks, replies), a clock moved by ``advance``, the operation-results each computer
queues until its next exchange, and a FIFO broker with prefetch 1. Each place where an
implementation can plausibly get the spec wrong is one small method (the store's
``_publishes_when_due``, ``_deliverable``, ``_dependency_verdict``, ``_settle``,
``_new_operation_id``, ``_may_cancel``, and this broker's ``_requeue``), so that a mutant
(``examples/iut/mutants/``) is a subclass overriding one of them: one visible bug each.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import IO, Any

import orjson

from .._json import loads as json_loads
from ..model import Profile, UnknownProfileError, parse_profile
from ..server import Activity, ActivityStore, Refused
from ..server.activity import IP
from .protocol import PROTOCOL

__all__ = ["PREFETCH", "ReferenceSystem", "Refused", "serve_stdio"]

#: Unacknowledged messages a job-handler may hold (RabbitMQ ``prefetch``).
PREFETCH = 1
#: Store records that are protocol events (``created``, ``progress`` and ``group`` records
#: come from the harness's own requests, docs/iut-protocol.md section 5).
EVENTS = frozenset({"transition", "deliver", "result", "consume", "enqueue", "approve", "cancel"})

Request = dict[str, Any]
Reply = dict[str, Any]
#: A broker message: the activity and the publication it belongs to.
Message = tuple[Activity, int]


class _Malformed(Exception):
    """The request breaks the protocol itself (missing or mistyped field)."""


def _field(req: Request, name: str, types: type | tuple[type, ...], required: bool = True) -> Any:
    value = req.get(name)
    if value is None:
        if required:
            raise _Malformed(f"field {name!r} is required for {req.get('cmd')!r}")
        return None
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise _Malformed(f"field {name!r} must not be a boolean, got {value!r}")
    if not isinstance(value, types):
        raise _Malformed(f"field {name!r} has the wrong type: {value!r}")
    return value


class ReferenceSystem(ActivityStore):
    """The reference implementation of protocol version 1 (see module docstring)."""

    implementation = "activitykit-reference"

    def __init__(self, profile: Profile | str | None = None) -> None:
        # Not strict: the harness judges every move against the machines, and mutants must
        # be able to make illegal ones.
        super().__init__(
            profile, emit=self._record, at=self._wake_at, on_publish=self._enqueue, strict=False
        )
        self._events: list[dict[str, Any]] = []
        self._dispatch: dict[str, Callable[[Request], dict[str, Any]]] = {
            "hello": self._hello,
            "reset": self._reset,
            "create": self._create,
            "exchange": self._exchange,
            "result": self._result,
            "consume": self._consume,
            "finish": self._finish,
            "crash": self._crash,
            "approve": self._approve,
            "block": self._block,
            "cancel": self._cancel,
            "progress": self._progress,
            "advance": self._advance,
            "query": self._query,
        }

    def clear(self) -> None:
        super().clear()
        self.clock = 0.0
        #: Wake-ups the store asked for: (time, callback), fired by ``advance``.
        self._timers: list[tuple[float, Callable[[float], None]]] = []
        #: Operation-results each computer has queued and will send at its next exchange.
        self._outbox: dict[str, list[tuple[Any, str]]] = {}
        #: The job-handler queue, head first, and the unacknowledged messages per handler.
        self._queue: list[Message] = []
        self._held: dict[str, list[Message]] = {}

    # -- the protocol entry point ------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        """Answer one request dict with one reply dict (never raises on bad input)."""
        rid = request.get("id") if isinstance(request, dict) else None
        base: Reply = {"id": rid if isinstance(rid, int) else 0}
        if not isinstance(request, dict):
            return base | {"status": "error", "reason": "a request must be a JSON object"}
        cmd = request.get("cmd")
        handler = self._dispatch.get(cmd) if isinstance(cmd, str) else None
        if handler is None:
            known = ", ".join(self._dispatch)
            return base | {"status": "error", "reason": f"unknown cmd {cmd!r}; known: {known}"}
        self._events = []
        try:
            extra = handler(request)
        except Refused as exc:
            # A refusal changes nothing, so no events (a refusal is decided before any move).
            return base | {"status": "refused", "reason": str(exc), "events": []}
        except _Malformed as exc:
            return base | {"status": "error", "reason": str(exc), "events": []}
        return base | {"status": "ok", "events": self._events} | extra

    @property
    def held(self) -> dict[str, list[str]]:
        """Activity ids each handler holds unacknowledged (what the stateful drawer reads)."""
        return {h: [a.id for a, _ in msgs] for h, msgs in self._held.items()}

    def states(self) -> dict[str, str]:
        """Every activity's current state, by id (what ``query`` without activity returns)."""
        return {a.id: a.state for a in self.activities.values()}

    # -- what the store asks of its driver ---------------------------------------------------
    def _record(self, rec: dict[str, Any]) -> None:
        if rec["event"] in EVENTS:
            fields = {k: v for k, v in rec.items() if k != "t" and k != "event"}
            self._emit(rec["event"], **fields)

    def _emit(self, event: str, **fields: Any) -> None:
        self._events.append({"event": event, **fields})

    def _wake_at(self, t: float, callback: Callable[[float], None]) -> None:
        self._timers.append((t, callback))

    def _enqueue(self, a: Activity, t: float) -> None:
        self._queue.append((a, a.gen))

    def _requeue(self, messages: list[Message]) -> None:
        """Put a dead handler's unacknowledged messages back at the head of the queue."""
        self._queue[:0] = messages

    # -- commands ----------------------------------------------------------------------------
    def _hello(self, req: Request) -> dict[str, Any]:
        version = _field(req, "protocol", str)
        if version != PROTOCOL:
            raise Refused(f"protocol {version!r} not supported; this side speaks {PROTOCOL}")
        try:
            self.profile = parse_profile(_field(req, "profile", str, required=False))
        except UnknownProfileError as exc:
            raise Refused(str(exc)) from None
        self._configure_profile()
        self.clear()
        return {"protocol": PROTOCOL, "implementation": self.implementation}

    def _reset(self, req: Request) -> dict[str, Any]:
        self.clear()
        return {}

    def _create(self, req: Request) -> dict[str, Any]:
        aid = _field(req, "activity", str)
        kind = _field(req, "kind", str)
        type_name = _field(req, "type", str)
        state_name = _field(req, "state", str)
        computer = _field(req, "computer", str, required=False)
        deliver_after = _field(req, "deliver_after", (int, float), required=False)
        depends_on = _field(req, "depends_on", list, required=False) or []
        progress_of = _field(req, "progress_of", str, required=False)
        threshold = _field(req, "threshold", (int, float), required=False)
        parent = _field(req, "parent", str, required=False)
        release = _field(req, "release", str, required=False) or "queue"
        self.create(
            self.clock,
            aid,
            kind,
            type_name,
            state_name,
            computer=computer,
            cname=computer,
            deliver_after=deliver_after,
            depends_on=depends_on,
            progress_of=progress_of,
            threshold=threshold,
            parent=parent,
            release=release,
        )
        return {}

    def _exchange(self, req: Request) -> dict[str, Any]:
        computer = _field(req, "computer", str)
        delivered, answers = self.exchange(self.clock, computer, self._outbox.pop(computer, []))
        results = []
        for op, a, accepted in answers:
            if a is None:
                results.append(
                    {
                        "operation_id": op,
                        "activity": None,
                        "accepted": False,
                        "reason": f"operation-id {op!r} was not delivered to {computer}",
                    }
                )
            else:
                results.append({"operation_id": op, "activity": a.id, "accepted": accepted})
        return {
            "delivered": [
                {"activity": a.id, "operation_id": a.op, "type": a.type.name} for a in delivered
            ],
            "results": results,
        }

    def _result(self, req: Request) -> dict[str, Any]:
        computer = _field(req, "computer", str)
        op = req.get("operation_id")
        if op is None or isinstance(op, bool) or not isinstance(op, int | str):
            raise _Malformed("field 'operation_id' must be an integer or a string")
        status = _status(req)
        self._outbox.setdefault(computer, []).append((op, status))
        return {}

    def _consume(self, req: Request) -> dict[str, Any]:
        handler = _field(req, "handler", str)
        held = self._held.setdefault(handler, [])
        if len(held) >= PREFETCH:
            ids = [a.id for a, _ in held]
            raise Refused(
                f"handler {handler} already holds {ids} unacknowledged (prefetch {PREFETCH})"
            )
        while self._queue:
            a, gen = msg = self._queue.pop(0)
            # Canceled, blocked or republished since: the broker's copy is dropped.
            if self.consume(self.clock, a, gen, handler):
                held.append(msg)
                return {"activity": a.id}
        return {"activity": None}

    def _finish(self, req: Request) -> dict[str, Any]:
        handler = _field(req, "handler", str)
        a = self._get(req)
        status = _status(req)
        held = self._held.get(handler, [])
        msg = next((m for m in held if m[0] is a), None)
        if msg is None:
            raise Refused(f"handler {handler} does not hold activity {a.id}")
        held.remove(msg)
        return {"accepted": self.finish(self.clock, a, status)}

    def _crash(self, req: Request) -> dict[str, Any]:
        handler = _field(req, "handler", str)
        held = self._held.pop(handler, [])
        self._requeue([m for m in held if m[0].state == IP])
        return {}

    def _approve(self, req: Request) -> dict[str, Any]:
        self.approve(self.clock, self._get(req))
        return {}

    def _block(self, req: Request) -> dict[str, Any]:
        self.block(self.clock, self._get(req))
        return {}

    def _cancel(self, req: Request) -> dict[str, Any]:
        self.cancel(self.clock, self._get(req))
        return {}

    def _progress(self, req: Request) -> dict[str, Any]:
        a = self._get(req)
        value = _field(req, "value", (int, float))
        self.progress(self.clock, a, value)
        return {}

    def _advance(self, req: Request) -> dict[str, Any]:
        seconds = _field(req, "seconds", (int, float))
        if seconds < 0:
            raise Refused(f"the clock never goes back; seconds {seconds} < 0")
        self.clock += seconds
        # Everything that came due during the advance happens now, in the order asked for
        # (creation order: the store asks at creation).
        due = [cb for t, cb in self._timers if t <= self.clock]
        self._timers = [(t, cb) for t, cb in self._timers if t > self.clock]
        for cb in due:
            cb(self.clock)
        return {}

    def _query(self, req: Request) -> dict[str, Any]:
        if req.get("activity") is None:
            return {"states": self.states()}
        return {"state": self._get(req).state}

    def _get(self, req: Request, name: str = "activity") -> Activity:
        return self.get(_field(req, name, str))


def _status(req: Request) -> str:
    status = _field(req, "status", str)
    if status not in ("succeeded", "failed"):
        raise _Malformed(f"status must be 'succeeded' or 'failed', got {status!r}")
    return status


def serve_stdio(system: Any, stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Serve ``system.handle`` over JSON Lines until stdin closes (the subprocess IUT loop)."""
    src = stdin or sys.stdin
    dst = stdout or sys.stdout
    for line in src:
        if not line.strip():
            continue
        try:  # orjson: nesting beyond 1024 levels is an error, not a recursion
            request = json_loads(line)
        except orjson.JSONDecodeError as exc:
            reply: Reply = {"id": 0, "status": "error", "reason": f"not JSON: {exc}"}
        else:
            reply = system.handle(request)
        dst.write(json.dumps(reply, separators=(",", ":")) + "\n")
        dst.flush()
    return 0
