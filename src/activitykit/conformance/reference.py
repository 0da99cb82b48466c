"""The oracle: an in-process activity system that implements the IUT protocol exactly.

``ReferenceSystem.handle(request) -> reply`` speaks the same dicts as the JSON Lines wire
(``docs/iut-protocol.md``), so the harness runs it beside any implementation under test and
compares replies step by step. It is deterministic: no clock but the one ``advance`` moves,
no randomness, activities visited in creation order.

Each place where an implementation can plausibly get the spec wrong is one small method
(``_publishes_when_due``, ``_deliverable``, ``_dependency_verdict``, ``_settle``,
``_requeue``, ``_new_operation_id``, ``_may_cancel``), so that a mutant
(``examples/iut/mutants/``) is a subclass overriding one of them: one visible bug each.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from ..model import (
    START_STATES,
    Kind,
    Profile,
    State,
    UnknownActivityTypeError,
    UnknownProfileError,
    activity_type,
    machine,
    parse_profile,
)
from .protocol import PROTOCOL, RELEASE_MODES

__all__ = ["PREFETCH", "ReferenceSystem", "Refused", "serve_stdio"]

Q, S, W, B = State.QUEUED, State.SCHEDULED, State.WAITING, State.BLOCKED
IP, OK, KO, X = State.IN_PROGRESS, State.SUCCEEDED, State.FAILED, State.CANCELED
#: States in which an activity has ended for the purpose of dependencies and cancellation.
ENDED = frozenset({OK, KO, X})
#: Unacknowledged messages a job-handler may hold (RabbitMQ ``prefetch``).
PREFETCH = 1

Request = dict[str, Any]
Reply = dict[str, Any]


class Refused(Exception):
    """The request is well formed but the spec forbids it; the message is the reason."""


class _Malformed(Exception):
    """The request breaks the protocol itself (missing or mistyped field)."""


@dataclass
class _Activity:
    id: str
    kind: Kind
    type: str
    computer: str | None
    state: State
    seq: int
    deliver_after: float | None = None
    depends_on: tuple[str, ...] = ()
    progress_of: str | None = None
    threshold: float | None = None
    #: True once it moved In Progress -> Canceled (result-wins lets one late result settle it).
    canceled_running: bool = False
    progress: float | None = None
    #: ``create``'s ``release``: ``queue`` (pass through Queued) or ``direct`` (keep the
    #: Scheduled/Waiting state until the moment of delivery: SPEC.md 2.2 and 3).
    release: str = "queue"
    #: ``direct`` only: due or released, and waiting for a handler (server: it is in the
    #: queue) or for its computer's next exchange (client).
    ready: bool = False


@dataclass
class _Op:
    activity: str
    computer: str


@dataclass
class _World:
    clock: float = 0.0
    activities: dict[str, _Activity] = field(default_factory=dict)
    next_op: int = 1
    ops: dict[Any, _Op] = field(default_factory=dict)
    #: Operation-results each computer has queued and will send at its next exchange.
    outbox: dict[str, list[tuple[Any, str]]] = field(default_factory=dict)
    #: The job-handler queue: activity ids in delivery order (head first).
    queue: list[str] = field(default_factory=list)
    #: Unacknowledged messages per handler.
    held: dict[str, list[str]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)


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


class ReferenceSystem:
    """The reference implementation of protocol version 1 (see module docstring)."""

    implementation = "activitykit-reference"

    def __init__(self, profile: Profile | str | None = None) -> None:
        self.profile = parse_profile(profile)
        self._w = _World()
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

    def states(self) -> dict[str, str]:
        """Every activity's current state, by id (what ``query`` without activity returns)."""
        return {a.id: a.state.value for a in self._w.activities.values()}

    # -- helpers -----------------------------------------------------------------------------
    def _emit(self, event: str, **fields: Any) -> None:
        self._events.append({"event": event, **fields})

    def _move(self, a: _Activity, dst: State, cause: str) -> None:
        # No legality assertion here: the harness judges every move the reference makes
        # against the machines, and mutants must be able to make illegal ones.
        if a.state is IP and dst is X:
            a.canceled_running = True
        self._emit(
            "transition", activity=a.id, **{"from": a.state.value}, to=dst.value, cause=cause
        )
        a.state = dst

    def _get(self, req: Request, name: str = "activity") -> _Activity:
        aid = _field(req, name, str)
        try:
            return self._w.activities[aid]
        except KeyError:
            raise Refused(f"unknown activity {aid!r}") from None

    def _enqueue(self, a: _Activity) -> None:
        self._w.queue.append(a.id)
        self._emit("enqueue", activity=a.id)

    def _to_queued(self, a: _Activity, cause: str) -> None:
        self._move(a, Q, cause)
        if a.kind is Kind.SERVER:
            self._enqueue(a)

    def _make_ready(self, a: _Activity, cause: str) -> None:
        """Due or released: to Queued, or (``release: direct``) ready in the state it is in.

        A direct server activity is published without a move; the handler that consumes it
        moves it Scheduled/Waiting -> In Progress. A direct client activity waits, unmoved,
        for its computer's next exchange (``_deliverable``).
        """
        if a.release != "direct":
            self._to_queued(a, cause)
            return
        a.ready = True
        if a.kind is Kind.SERVER:
            self._enqueue(a)

    # -- the seven places where implementations go wrong (mutants override these) ------------
    def _publishes_when_due(self, a: _Activity) -> bool:
        """A due Scheduled activity moves to Queued by itself only when it is a server one."""
        return a.kind is Kind.SERVER

    def _deliverable(self, a: _Activity) -> bool:
        """May this client activity be sent at its computer's exchange?"""
        if a.state is Q or (a.state is W and a.ready):
            return True
        return a.state is S and a.deliver_after is not None and a.deliver_after <= self._w.clock

    def _dependency_verdict(self, a: _Activity) -> str:
        """``cancel`` if a dependency ended badly, ``release`` if all are met, else ``wait``."""
        deps = [self._w.activities[d] for d in a.depends_on]
        if any(d.state in (KO, X) for d in deps):
            return "cancel"
        if not all(d.state is OK for d in deps):
            return "wait"
        if a.progress_of is not None:
            progress = self._w.activities[a.progress_of].progress
            if progress is None or a.threshold is None or progress < a.threshold:
                return "wait"
        return "release"

    def _settle(self, a: _Activity, status: str, cause: str) -> bool:
        """Apply a result (client operation-result or handler finish); True if it moved."""
        dst = OK if status == "succeeded" else KO
        if a.state is IP:
            self._move(a, dst, cause)
            return True
        late_ok = (
            a.state is X
            and a.kind is Kind.CLIENT
            and self.profile is Profile.RESULT_WINS
            and a.canceled_running
        )
        if late_ok:
            a.canceled_running = False  # one late result only
            self._move(a, dst, cause)
            return True
        return False

    def _requeue(self, activity_ids: list[str]) -> None:
        """Put a dead handler's unacknowledged messages back at the head of the queue."""
        self._w.queue[:0] = activity_ids

    def _new_operation_id(self, computer: str) -> Any:
        op = self._w.next_op
        self._w.next_op += 1
        return op

    def _may_cancel(self, a: _Activity) -> bool:
        return machine(a.kind, self.profile).allows(a.state, X) and not (
            a.state is X and a.canceled_running
        )

    # -- propagation -------------------------------------------------------------------------
    def _propagate(self, exchanging: str | None = None) -> list[_Activity]:
        """Release or cancel Waiting activities until nothing changes.

        Client activities of the computer that is exchanging right now are not moved to
        Queued; they are returned so that the exchange delivers them directly
        (Waiting -> In Progress, SPEC.md 2.2).
        """
        ready: list[_Activity] = []
        changed = True
        while changed:
            changed = False
            for a in list(self._w.activities.values()):
                if a.state is not W or a in ready or a.ready:
                    continue
                verdict = self._dependency_verdict(a)
                if verdict == "cancel":
                    self._emit("cancel", activity=a.id)
                    self._move(a, X, "dependency")
                    changed = True
                elif verdict == "release":
                    if a.kind is Kind.CLIENT and a.computer == exchanging:
                        ready.append(a)
                    else:
                        self._make_ready(a, "released")
                        changed = True
        return ready

    # -- commands ----------------------------------------------------------------------------
    def _hello(self, req: Request) -> dict[str, Any]:
        version = _field(req, "protocol", str)
        if version != PROTOCOL:
            raise Refused(f"protocol {version!r} not supported; this side speaks {PROTOCOL}")
        try:
            self.profile = parse_profile(_field(req, "profile", str, required=False))
        except UnknownProfileError as exc:
            raise Refused(str(exc)) from None
        self._w = _World()
        return {"protocol": PROTOCOL, "implementation": self.implementation}

    def _reset(self, req: Request) -> dict[str, Any]:
        self._w = _World()
        return {}

    def _create(self, req: Request) -> dict[str, Any]:
        aid = _field(req, "activity", str)
        kind_name = _field(req, "kind", str)
        type_name = _field(req, "type", str)
        state_name = _field(req, "state", str)
        computer = _field(req, "computer", str, required=False)
        deliver_after = _field(req, "deliver_after", (int, float), required=False)
        depends_on = _field(req, "depends_on", list, required=False) or []
        progress_of = _field(req, "progress_of", str, required=False)
        threshold = _field(req, "threshold", (int, float), required=False)
        _field(req, "parent", str, required=False)
        release = _field(req, "release", str, required=False) or "queue"
        w = self._w
        if aid in w.activities:
            raise Refused(f"activity {aid!r} already exists; ids are unique")
        if kind_name not in ("client", "server"):
            raise Refused(f"unknown kind {kind_name!r}; accepted: client, server")
        kind = Kind(kind_name)
        try:
            typ = activity_type(type_name)
        except UnknownActivityTypeError as exc:
            raise Refused(str(exc)) from None
        if typ.kind is not kind:
            raise Refused(f"type {type_name} is a {typ.kind.value} activity, not {kind.value}")
        try:
            state = State(state_name)
        except ValueError:
            raise Refused(f"unknown state {state_name!r}") from None
        if state not in START_STATES:
            raise Refused(
                f"{state.value} is not a start state (Queued, Scheduled, Waiting, Blocked)"
            )
        if kind is Kind.CLIENT and computer is None:
            raise Refused("a client activity needs a computer")
        if state is S and deliver_after is None:
            raise Refused("a Scheduled activity needs deliver_after")
        for dep in [*depends_on, *([progress_of] if progress_of else [])]:
            if not isinstance(dep, str) or dep not in w.activities:
                raise Refused(f"dependency {dep!r} is not a known activity")
        if (depends_on or progress_of) and state not in (W, B):
            raise Refused("depends_on/progress_of are only for Waiting or Blocked activities")
        if state is W and not (depends_on or progress_of):
            raise Refused("a Waiting activity needs depends_on or progress_of")
        if (progress_of is None) != (threshold is None):
            raise Refused("progress_of and threshold go together")
        if threshold is not None and not 0 <= threshold <= 1:
            raise Refused(f"threshold {threshold} is outside [0, 1]")
        if release not in RELEASE_MODES:
            raise Refused(f"release {release!r} unknown; accepted: {', '.join(RELEASE_MODES)}")
        a = _Activity(
            aid,
            kind,
            type_name,
            computer if kind is Kind.CLIENT else None,
            state,
            len(w.activities),
            float(deliver_after) if deliver_after is not None else None,
            tuple(depends_on),
            progress_of,
            float(threshold) if threshold is not None else None,
            release=release,
        )
        w.activities[aid] = a
        if kind is Kind.SERVER and state is Q:
            self._enqueue(a)
        self._publish_due()
        self._propagate()
        return {}

    def _publish_due(self) -> None:
        for a in self._w.activities.values():
            due = a.deliver_after is not None and a.deliver_after <= self._w.clock
            if a.state is S and due and not a.ready and self._publishes_when_due(a):
                self._make_ready(a, "due")

    def _exchange(self, req: Request) -> dict[str, Any]:
        computer = _field(req, "computer", str)
        w = self._w
        results = []
        for op, status in w.outbox.pop(computer, []):
            known = w.ops.get(op)
            if known is None or known.computer != computer:
                results.append(
                    {
                        "operation_id": op,
                        "activity": None,
                        "accepted": False,
                        "reason": f"operation-id {op!r} was not delivered to {computer}",
                    }
                )
                continue
            a = w.activities[known.activity]
            self._emit("result", activity=a.id, computer=computer, operation_id=op, status=status)
            accepted = self._settle(a, status, "result")
            results.append({"operation_id": op, "activity": a.id, "accepted": accepted})
            self._propagate(exchanging=computer)
        ready = self._propagate(exchanging=computer)
        delivered = []
        for a in w.activities.values():
            if a.kind is not Kind.CLIENT or a.computer != computer:
                continue
            if a in ready or self._deliverable(a):
                op = self._new_operation_id(computer)
                w.ops[op] = _Op(a.id, computer)
                self._emit("deliver", activity=a.id, computer=computer, operation_id=op)
                self._move(a, IP, "exchange")
                delivered.append({"activity": a.id, "operation_id": op, "type": a.type})
        self._propagate()
        return {"delivered": delivered, "results": results}

    def _result(self, req: Request) -> dict[str, Any]:
        computer = _field(req, "computer", str)
        op = req.get("operation_id")
        if op is None or isinstance(op, bool) or not isinstance(op, int | str):
            raise _Malformed("field 'operation_id' must be an integer or a string")
        status = _field(req, "status", str)
        if status not in ("succeeded", "failed"):
            raise _Malformed(f"status must be 'succeeded' or 'failed', got {status!r}")
        self._w.outbox.setdefault(computer, []).append((op, status))
        return {}

    def _consume(self, req: Request) -> dict[str, Any]:
        handler = _field(req, "handler", str)
        w = self._w
        held = w.held.setdefault(handler, [])
        if len(held) >= PREFETCH:
            raise Refused(
                f"handler {handler} already holds {held} unacknowledged (prefetch {PREFETCH})"
            )
        while w.queue:
            aid = w.queue.pop(0)
            a = w.activities[aid]
            # Canceled or blocked since it was published: the broker drops the message.
            if a.state not in (Q, IP) and not (a.state in (S, W) and a.ready):
                continue
            held.append(aid)
            w.attempts[aid] = w.attempts.get(aid, 0) + 1
            self._emit("consume", activity=aid, handler=handler, attempt=w.attempts[aid])
            if a.state is not IP:  # Queued, or Scheduled/Waiting published by ``direct``
                self._move(a, IP, "consume")
            return {"activity": aid}
        return {"activity": None}

    def _finish(self, req: Request) -> dict[str, Any]:
        handler = _field(req, "handler", str)
        a = self._get(req)
        status = _field(req, "status", str)
        if status not in ("succeeded", "failed"):
            raise _Malformed(f"status must be 'succeeded' or 'failed', got {status!r}")
        held = self._w.held.get(handler, [])
        if a.id not in held:
            raise Refused(f"handler {handler} does not hold activity {a.id}")
        held.remove(a.id)
        accepted = self._settle(a, status, "finish")
        self._propagate()
        return {"accepted": accepted}

    def _crash(self, req: Request) -> dict[str, Any]:
        handler = _field(req, "handler", str)
        held = self._w.held.pop(handler, [])
        self._requeue([aid for aid in held if self._w.activities[aid].state is IP])
        return {}

    def _approve(self, req: Request) -> dict[str, Any]:
        a = self._get(req)
        if a.state is not B:
            raise Refused(f"only a Blocked activity can be approved; {a.id} is {a.state.value}")
        self._emit("approve", activity=a.id)
        # SPEC.md section 6: -> Waiting only while a dependency is unmet (a failed one
        # is unmet too; the release rule then cancels it), else straight to Queued.
        unmet = (a.depends_on or a.progress_of) and self._dependency_verdict(a) != "release"
        if unmet:
            self._move(a, W, "approve")
        else:
            self._to_queued(a, "approve")
        self._propagate()
        return {}

    def _block(self, req: Request) -> dict[str, Any]:
        a = self._get(req)
        if a.state is not Q:
            raise Refused(f"only a Queued activity can be blocked; {a.id} is {a.state.value}")
        if a.id in self._w.queue:
            self._w.queue.remove(a.id)
        self._move(a, B, "block")
        return {}

    def _cancel(self, req: Request) -> dict[str, Any]:
        a = self._get(req)
        if not self._may_cancel(a):
            raise Refused(f"{a.id} is {a.state.value} and can no longer be canceled")
        if a.id in self._w.queue:
            self._w.queue.remove(a.id)
        self._emit("cancel", activity=a.id)
        self._move(a, X, "cancel")
        self._propagate()
        return {}

    def _progress(self, req: Request) -> dict[str, Any]:
        a = self._get(req)
        value = _field(req, "value", (int, float))
        if not 0 <= value <= 1:
            raise Refused(f"progress {value} is outside [0, 1]")
        if a.state is not IP:
            raise Refused(f"only a running activity reports progress; {a.id} is {a.state.value}")
        a.progress = float(value)
        self._propagate()
        return {}

    def _advance(self, req: Request) -> dict[str, Any]:
        seconds = _field(req, "seconds", (int, float))
        if seconds < 0:
            raise Refused(f"the clock never goes back; seconds {seconds} < 0")
        self._w.clock += seconds
        self._publish_due()
        self._propagate()
        return {}

    def _query(self, req: Request) -> dict[str, Any]:
        if req.get("activity") is None:
            return {"states": self.states()}
        return {"state": self._get(req).state.value}


def serve_stdio(system: Any, stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Serve ``system.handle`` over JSON Lines until stdin closes (the subprocess IUT loop)."""
    src = stdin or sys.stdin
    dst = stdout or sys.stdout
    for line in src:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError as exc:
            reply: Reply = {"id": 0, "status": "error", "reason": f"not JSON: {exc}"}
        else:
            reply = system.handle(request)
        dst.write(json.dumps(reply, separators=(",", ":")) + "\n")
        dst.flush()
    return 0
