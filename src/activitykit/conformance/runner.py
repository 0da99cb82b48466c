"""Drive the IUT and the reference side by side, compare after every step, keep the trace.

A ``Session`` owns one IUT adapter for its whole life (restarting it after a crash) and the
trace of everything the IUT said. A ``Run`` is one reset-to-empty sequence of steps: each
step goes to a fresh ``ReferenceSystem`` and to the IUT; the two replies are compared
(status, per-activity moves, deliveries, consumptions, accepted results), every move the IUT
reports is judged against the machines, every operation-id must be new, and then the IUT is
asked for all states, which must match both what its events said and the reference.

The first difference ends the run and becomes a ``Deviation`` carrying the evidence; an IUT
that crashes, hangs or talks garbage becomes an ``IUTFailure`` naming the request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..check.rules import op_key
from ..model import Kind, Profile, State, machine, parse_profile
from ..trace.schema import FIELDS
from .adapters import IUT, IUTFailure
from .cases import Case, Step
from .reference import ReferenceSystem

__all__ = [
    "CaseResult",
    "Deviation",
    "Run",
    "Session",
    "StepDeviation",
    "TraceBuilder",
    "compare",
    "step_to_json",
]


def step_to_json(step: Step) -> str:
    return json.dumps(step, separators=(", ", ": "))


@dataclass(frozen=True)
class Deviation:
    """The IUT did something the reference did not (or failed at the protocol level)."""

    case: str
    run: int
    step: int
    request: Step
    message: str
    expected: dict[str, Any] | None = None
    actual: dict[str, Any] | None = None
    steps: tuple[Step, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "run": self.run,
            "step": self.step,
            "request": self.request,
            "message": self.message,
            "expected": self.expected,
            "actual": self.actual,
            "steps": list(self.steps),
        }


@dataclass
class CaseResult:
    name: str
    title: str
    #: ``pass``, ``fail`` (deviation), ``error`` (IUT failure) or ``skipped``.
    outcome: str
    steps: int = 0
    seconds: float = 0.0
    deviation: Deviation | None = None
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.name,
            "title": self.title,
            "outcome": self.outcome,
            "steps": self.steps,
            "seconds": round(self.seconds, 4),
            "note": self.note,
            "evidence": self.deviation.as_dict() if self.deviation else None,
        }


class StepDeviation(AssertionError):
    """Raised inside a run (and inside Hypothesis rules) when the IUT deviates."""

    def __init__(self, deviation: Deviation) -> None:
        super().__init__(deviation.message)
        self.deviation = deviation


# -- trace -------------------------------------------------------------------------------------
class TraceBuilder:
    """Turns what the IUT said into trace records, one time line for the whole session.

    Each run gets its own id namespace (``<label>/a1``) and starts 1 s after the previous
    run ended, so ids are unique and ``t`` never decreases. Operation-ids are renumbered per
    session (same IUT id within a run -> same trace id), so a reuse stays visible.
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._base = 0.0
        self._end = 0.0
        self._prefix = ""
        self._ops: dict[tuple[str, Any], int] = {}

    def begin(self, label: str) -> None:
        self._base = self._end + 1.0 if self.records else 0.0
        self._end = self._base
        self._prefix = label + "/"

    def _id(self, name: str | None) -> str | None:
        return None if name is None else self._prefix + name

    def _op(self, op: Any) -> int:
        key = (self._prefix, op)
        if key not in self._ops:
            self._ops[key] = len(self._ops) + 1
        return self._ops[key]

    def add(self, clock: float, event: str, **fields: Any) -> None:
        t = self._base + clock
        self._end = max(self._end, t)
        rec: dict[str, Any] = {"t": t, "event": event}
        for name in ("activity", "computer", "handler", "progress_of", "parent"):
            if fields.get(name) is not None:
                fields[name] = self._id(fields[name])
        if fields.get("depends_on"):
            fields["depends_on"] = [self._id(d) for d in fields["depends_on"]]
        if "operation_id" in fields:
            fields["operation_id"] = self._op(fields["operation_id"])
        if fields.get("deliver_after") is not None:
            fields["deliver_after"] = self._base + float(fields["deliver_after"])
        rec.update({k: v for k, v in fields.items() if v is not None})
        self.records.append({k: rec[k] for k in FIELDS if k in rec})

    def step(self, clock: float, request: Step, reply: dict[str, Any]) -> None:
        """Record one ok step: what the harness did, then the events the IUT reported."""
        cmd = request.get("cmd")
        if cmd == "create":
            self.add(
                clock,
                "created",
                **{
                    k: request.get(k)
                    for k in (
                        "activity",
                        "kind",
                        "type",
                        "state",
                        "computer",
                        "deliver_after",
                        "depends_on",
                        "progress_of",
                        "threshold",
                        "parent",
                    )
                },
            )
        elif cmd == "exchange":
            self.add(clock, "exchange", computer=request["computer"])
        elif cmd == "progress":
            self.add(clock, "progress", activity=request["activity"], value=request["value"])
        elif cmd == "crash":
            self.add(clock, "fault", fault="handler_crash", handler=request["handler"])
        for ev in reply.get("events", []):
            fields = {k: v for k, v in ev.items() if k != "event" and k in FIELDS}
            self.add(clock, ev["event"], **fields)


# -- one side's bookkeeping ------------------------------------------------------------------
@dataclass
class _Side:
    """What one implementation has told us: states, moves, operation-ids."""

    who: str
    profile: Profile
    states: dict[str, State] = field(default_factory=dict)
    kinds: dict[str, Kind] = field(default_factory=dict)
    #: the state each activity entered its current state from (the model's history input)
    entered_from: dict[str, State] = field(default_factory=dict)
    last_op: dict[str, Any] = field(default_factory=dict)
    op_owner: dict[str, str] = field(default_factory=dict)

    def created(self, request: Step) -> None:
        aid = request["activity"]
        self.states[aid] = State(request["state"])
        self.kinds[aid] = Kind(request["kind"])

    def apply(self, events: Iterable[dict[str, Any]]) -> list[str]:
        """Follow the reported events; return every problem with them."""
        problems = []
        for ev in events:
            kind = ev.get("event")
            aid = ev.get("activity")
            if kind == "deliver":
                # Unique per computer, compared as the checker's rule C1 compares them.
                key = op_key(ev.get("computer"), ev["operation_id"])
                if key in self.op_owner:
                    problems.append(
                        f"operation-id {ev['operation_id']!r} delivered for {aid} was already "
                        f"used for {self.op_owner[key]} on computer {ev.get('computer')}; "
                        "operation-ids must never be reused"
                    )
                self.op_owner[key] = str(aid)
                self.last_op[str(aid)] = ev["operation_id"]
            if kind != "transition":
                continue
            if aid not in self.states:
                problems.append(f"{self.who} reported a move of unknown activity {aid!r}")
                continue
            src, dst = State(ev["from"]), State(ev["to"])
            if src is not self.states[aid]:
                problems.append(
                    f"{self.who} reported {aid} moving from {src.value}, but it was "
                    f"{self.states[aid].value}"
                )
            # the model judges the move and its history condition (result-wins: a late
            # result settles only an activity canceled while In Progress)
            came = self.entered_from.get(aid) if src is self.states[aid] else None
            check = machine(self.kinds[aid], self.profile).check_after(came, src, dst)
            if not check.allowed:
                problems.append(f"{aid}: forbidden move: {check.reason}")
            self.entered_from[aid] = src
            self.states[aid] = dst
        return problems


def _moves(reply: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ev in reply.get("events", []):
        if ev.get("event") == "transition":
            path = out.setdefault(ev["activity"], [ev["from"]])
            path.append(ev["to"])
    return out


def _path(p: list[str] | None) -> str:
    return " -> ".join(p) if p else "no move"


def _reason(reply: dict[str, Any]) -> str:
    return f"{reply['status']} ({reply['reason']})" if reply.get("reason") else reply["status"]


def compare(step: Step, ref: dict[str, Any], iut: dict[str, Any]) -> list[str]:
    """Differences between the reference's and the IUT's replies to the same step."""
    if ref["status"] != iut["status"]:
        msg = f"expected {_reason(ref)}, the IUT answered {_reason(iut)}"
        if step.get("cmd") == "create" and step.get("release", "queue") != "queue":
            msg += (
                f" (this case needs create's release {step['release']!r}: the model's direct "
                "Scheduled/Waiting -> In Progress; docs/iut-protocol.md section 4)"
            )
        return [msg]
    out = []
    rm, im = _moves(ref), _moves(iut)
    for aid in sorted(rm.keys() | im.keys()):
        if rm.get(aid) != im.get(aid):
            out.append(f"{aid}: expected {_path(rm.get(aid))}, the IUT did {_path(im.get(aid))}")
    if ref["status"] != "ok":
        return out
    cmd = step["cmd"]
    if cmd == "exchange":
        rd = sorted(d["activity"] for d in ref["delivered"])
        idl = sorted(d["activity"] for d in iut["delivered"])
        if rd != idl:
            out.append(
                f"expected delivery of {rd or 'nothing'}, the IUT delivered {idl or 'nothing'}"
            )

        def acks(reply: dict[str, Any]) -> list[tuple[str, bool]]:
            return sorted((r.get("activity") or "?", bool(r["accepted"])) for r in reply["results"])

        if acks(ref) != acks(iut):
            out.append(f"expected results (activity, accepted) {acks(ref)}, the IUT {acks(iut)}")
    elif cmd == "consume" and ref["activity"] != iut["activity"]:
        out.append(f"expected to consume {ref['activity']}, the IUT handed out {iut['activity']}")
    elif cmd == "finish" and ref["accepted"] != iut["accepted"]:
        out.append(f"expected accepted={ref['accepted']}, the IUT said {iut['accepted']}")
    elif cmd == "query" and "state" in ref and ref["state"] != iut.get("state"):
        out.append(f"expected state {ref['state']}, the IUT said {iut.get('state')}")
    return out


def _wire(step: Step, last_op: dict[str, Any]) -> Step:
    """The request one side receives: ``result`` by activity becomes that side's op-id."""
    if step.get("cmd") == "result" and "activity" in step:
        req = {k: v for k, v in step.items() if k != "activity"}
        req["operation_id"] = last_op.get(step["activity"], -1)
        return req
    return dict(step)


# -- runs and sessions -----------------------------------------------------------------------
class Run:
    """One reset-to-empty sequence of steps against the IUT and a fresh reference."""

    def __init__(self, session: Session, case: str, run: int, label: str) -> None:
        self.session = session
        self.case, self.run, self.label = case, run, label
        self.ref = ReferenceSystem(session.profile)
        self.ref_side = _Side("the reference", session.profile)
        self.iut_side = _Side("the IUT", session.profile)
        self.clock = 0.0
        self.steps: list[Step] = []
        session.ensure_started()
        session.trace.begin(label)
        reply = self._ask({"cmd": "reset"})
        if reply["status"] != "ok":
            self._fail({"cmd": "reset"}, f"reset answered {_reason(reply)}", None, reply)

    def _ask(self, request: Step) -> dict[str, Any]:
        self.session.requests += 1
        try:
            return self.session.iut.request(request)
        except IUTFailure as exc:
            # Where it happened, for the evidence: this case, run, step and the steps so far.
            exc.where = Deviation(  # type: ignore[attr-defined]
                self.case,
                self.run,
                len(self.steps),
                self.steps[-1] if self.steps else request,
                f"IUT failure: {exc}",
                steps=tuple(self.steps),
            )
            raise

    def _fail(
        self,
        step: Step,
        message: str,
        expected: dict[str, Any] | None,
        actual: dict[str, Any] | None,
    ) -> None:
        raise StepDeviation(
            Deviation(
                self.case,
                self.run,
                len(self.steps),
                step,
                message,
                expected,
                actual,
                tuple(self.steps),
            )
        )

    def step(self, step: Step) -> None:
        """Run one step on both sides; raise ``StepDeviation`` on the first difference."""
        self.steps.append(step)
        ref = self.ref.handle({"id": 0, **_wire(step, self.ref_side.last_op)})
        iut = self._ask(_wire(step, self.iut_side.last_op))
        if iut["status"] == "ok":
            if step["cmd"] == "advance":
                self.clock += float(step["seconds"])
            self.session.trace.step(self.clock, step, iut)
        problems = compare(step, ref, iut)
        if ref["status"] == iut["status"] == "ok" and step["cmd"] == "create":
            self.ref_side.created(step)
            self.iut_side.created(step)
        own = self.ref_side.apply(ref.get("events", []))
        if own:  # pragma: no cover - the oracle itself is wrong: say so loudly
            raise AssertionError(f"reference model broke its own rules: {own}")
        problems += self.iut_side.apply(iut.get("events", []))
        if problems:
            self._fail(step, "; ".join(problems), ref, iut)
        if self.session.query_each_step:
            self._check_states(step)

    def _check_states(self, step: Step) -> None:
        reply = self._ask({"cmd": "query"})
        if reply["status"] != "ok":
            self._fail(step, f"query of all states answered {_reason(reply)}", None, reply)
        told = reply["states"]
        want = self.ref.states()
        problems = []
        for aid in sorted(want.keys() | told.keys()):
            tracked = self.iut_side.states.get(aid)
            if want.get(aid) != told.get(aid):
                problems.append(f"{aid} is {told.get(aid)} in the IUT, expected {want.get(aid)}")
            elif tracked is not None and tracked.value != told.get(aid):
                problems.append(
                    f"{aid} is {told.get(aid)} but the IUT's events left it {tracked.value}: "
                    "a state change without a transition event"
                )
        if problems:
            self._fail(
                step,
                "after this step: " + "; ".join(problems),
                {"states": want},
                {"states": told},
            )


class Session:
    """One IUT, one profile, one trace: runs cases and keeps score."""

    def __init__(
        self, iut: IUT, profile: Profile | str | None = None, query_each_step: bool = True
    ) -> None:
        self.iut = iut
        self.profile = parse_profile(profile)
        self.query_each_step = query_each_step
        self.trace = TraceBuilder()
        self.requests = 0
        self.protocol_failures = 0
        self._started = False

    def ensure_started(self) -> None:
        """Start and greet the IUT (again, after it died); ``IUTStartError`` if it cannot."""
        if not self._started or not self.iut.alive:
            self.iut.hello(self.profile.value)
            self._started = True

    def run_steps(self, case: str, run: int, steps: Iterable[Step]) -> int:
        r = Run(self, case, run, f"{case}#{run}")
        for s in steps:
            r.step(s)
        return len(r.steps)

    def run_case(self, case: Case) -> CaseResult:
        started = time.perf_counter()
        result = CaseResult(case.name, case.title, "pass")
        try:
            for i, steps in enumerate(case.runs, start=1):
                result.steps += self.run_steps(case.name, i, steps)
        except StepDeviation as exc:
            result.outcome = "fail"
            result.deviation = exc.deviation
            result.steps += exc.deviation.step
        except IUTFailure as exc:
            self.protocol_failures += 1
            result.outcome = "error"
            where = getattr(exc, "where", None)
            result.steps += where.step if where is not None else 0
            result.deviation = where or Deviation(
                case.name, 0, 0, exc.request or {}, f"IUT failure: {exc}"
            )
            result.note = exc.kind
            self.iut.close()
        result.seconds = time.perf_counter() - started
        return result

    def close(self) -> None:
        self.iut.close()
