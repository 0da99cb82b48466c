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
    "OpRenaming",
    "Run",
    "SentResult",
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


#: The fields of each event that the protocol fixes (section 3), compared per activity in
#: the order reported. ``cause`` is optional there, so it is not compared; operation-ids
#: are compared by role (``OpRenaming``), the rest by value.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "transition": ("from", "to"),
    "deliver": ("computer", "operation_id"),
    "result": ("computer", "operation_id", "status"),
    "consume": ("handler", "attempt"),
    "enqueue": (),
    "approve": (),
    "cancel": (),
}


class OpRenaming:
    """The consistent renaming of operation-ids between the reference and the IUT.

    The IUT chooses its own operation-ids (section 4: "integer or string", never reused on a
    computer), so values differ from the reference's; what must agree is *which* id went
    with which activity. Each delivery pairs (computer, reference id) with the IUT's id; a
    later mention of either must use its partner.
    """

    def __init__(self) -> None:
        self._to_iut: dict[tuple[Any, Any], Any] = {}
        self._to_ref: dict[tuple[Any, Any], Any] = {}

    def bind(self, computer: Any, ref_op: Any, iut_op: Any) -> str | None:
        """Pair two ids delivered together; a problem if either is already paired otherwise."""
        rk, ik = op_key(computer, ref_op), op_key(computer, iut_op)
        have = self._to_iut.get(rk, _MISSING)
        back = self._to_ref.get(ik, _MISSING)
        if have is _MISSING and back is _MISSING:
            self._to_iut[rk] = iut_op
            self._to_ref[ik] = ref_op
            return None
        if have is not _MISSING and op_key(computer, have) == ik:
            return None
        return (
            f"operation-id {iut_op!r} on {computer} stands for the reference's {ref_op!r} here, "
            "but was paired with another operation before"
        )

    def iut(self, computer: Any, ref_op: Any) -> Any:
        """The IUT's id for the reference's ``ref_op`` on ``computer`` (itself if unpaired)."""
        return self._to_iut.get(op_key(computer, ref_op), ref_op)


_MISSING = object()


def _per_activity(reply: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for ev in reply.get("events", []):
        out.setdefault(str(ev.get("activity")), []).append(ev)
    return out


def _show_event(ev: dict[str, Any] | None) -> str:
    if ev is None:
        return "nothing"
    fields = ", ".join(f"{k}={ev.get(k)!r}" for k in EVENT_FIELDS.get(ev["event"], ()))
    return f"{ev['event']}({fields})"


def _compare_events(
    aid: str, ref: list[dict[str, Any]], iut: list[dict[str, Any]], ops: OpRenaming
) -> str | None:
    """The first difference between two activities' event sequences, or None."""
    for i in range(max(len(ref), len(iut))):
        r = ref[i] if i < len(ref) else None
        u = iut[i] if i < len(iut) else None
        differs = r is None or u is None or r["event"] != u["event"]
        if not differs:
            assert r is not None and u is not None
            for name in EVENT_FIELDS.get(r["event"], ()):
                want = r.get(name)
                if name == "operation_id":
                    if r["event"] == "deliver":
                        problem = ops.bind(r.get("computer"), want, u.get(name))
                        if problem:
                            return f"{aid}: events[{i}] ({r['event']}): {problem}"
                        continue
                    want = ops.iut(r.get("computer"), want)
                if want != u.get(name):
                    return (
                        f"{aid}: field {name!r} of its event {i + 1} ({r['event']}): expected "
                        f"{want!r}, the IUT said {u.get(name)!r}"
                    )
        if differs:
            return (
                f"{aid}: its event {i + 1}: expected {_show_event(r)}, "
                f"the IUT reported {_show_event(u)}"
            )
    return None


@dataclass(frozen=True)
class SentResult:
    """An operation-result the harness queued on a computer: what each side was sent."""

    activity: str | None
    ref_op: Any
    iut_op: Any

    def describe(self) -> str:
        if self.activity is None:
            return f"operation-id {self.iut_op!r}"
        if self.ref_op == NO_OPERATION:
            return f"the result for {self.activity} (never delivered: operation-id {NO_OPERATION})"
        return f"the result for {self.activity} (operation-id {self.iut_op!r})"


#: The operation-id the harness sends for an activity that was never delivered.
NO_OPERATION = -1


def compare(
    step: Step,
    ref: dict[str, Any],
    iut: dict[str, Any],
    ops: OpRenaming | None = None,
    sent: list[SentResult] | None = None,
) -> list[str]:
    """Differences between the reference's and the IUT's replies to the same step.

    Every field section 2 gives a reply and every event field of section 3 is compared, in
    order where the protocol fixes one (events per activity, deliveries in creation order,
    results in the order queued). ``ops`` carries the operation-id renaming of the run;
    ``sent`` the results queued on the exchanging computer (to name them in messages).
    """
    ops = ops or OpRenaming()
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
    if not out:
        re_, ie = _per_activity(ref), _per_activity(iut)
        for aid in sorted(re_.keys() | ie.keys()):
            problem = _compare_events(aid, re_.get(aid, []), ie.get(aid, []), ops)
            if problem:
                out.append(problem)
    if ref["status"] != "ok":
        return out
    cmd = step["cmd"]
    if cmd == "exchange":
        out += _compare_exchange(step["computer"], ref, iut, ops, sent)
    elif cmd == "consume" and ref["activity"] != iut["activity"]:
        out.append(
            f"field 'activity': expected to consume {ref['activity']}, "
            f"the IUT handed out {iut['activity']}"
        )
    elif cmd == "finish" and ref["accepted"] != iut["accepted"]:
        out.append(f"field 'accepted': expected {ref['accepted']}, the IUT said {iut['accepted']}")
    elif cmd == "query" and "state" in ref and ref["state"] != iut.get("state"):
        out.append(f"field 'state': expected {ref['state']}, the IUT said {iut.get('state')}")
    elif cmd == "query" and "states" in ref and ref["states"] != iut.get("states"):
        want, told = ref["states"], iut.get("states") or {}
        diff = [
            f"{a}: expected {want.get(a)}, the IUT said {told.get(a)}"
            for a in sorted(want.keys() | told.keys())
            if want.get(a) != told.get(a)
        ]
        out.append("field 'states': " + "; ".join(diff))
    return out


def _compare_exchange(
    computer: str,
    ref: dict[str, Any],
    iut: dict[str, Any],
    ops: OpRenaming,
    sent: list[SentResult] | None,
) -> list[str]:
    out = []
    rd = [d["activity"] for d in ref["delivered"]]
    idl = [d["activity"] for d in iut["delivered"]]
    if rd != idl:
        order = " (in creation order)" if sorted(rd) == sorted(idl) else ""
        out.append(
            f"field 'delivered'{order}: expected {rd or 'nothing'}, "
            f"the IUT delivered {idl or 'nothing'}"
        )
    else:
        own = {
            ev["activity"]: ev.get("operation_id")
            for ev in iut.get("events", [])
            if ev.get("event") == "deliver"
        }
        for i, (r, u) in enumerate(zip(ref["delivered"], iut["delivered"], strict=True)):
            if u.get("type") is not None and u["type"] != r["type"]:
                out.append(
                    f"field 'delivered[{i}].type' ({r['activity']}): expected {r['type']!r}, "
                    f"the IUT said {u['type']!r}"
                )
            if u["activity"] in own and own[u["activity"]] != u["operation_id"]:
                out.append(
                    f"field 'delivered[{i}].operation_id' ({u['activity']}): the IUT's deliver "
                    f"event said {own[u['activity']]!r}, its reply {u['operation_id']!r}"
                )
            else:
                problem = ops.bind(computer, r["operation_id"], u["operation_id"])
                if problem:
                    out.append(f"field 'delivered[{i}].operation_id' ({u['activity']}): {problem}")
    rr, ir = ref["results"], iut["results"]
    if len(rr) != len(ir):
        out.append(
            f"field 'results': expected {len(rr)} answer(s) (one per result queued on "
            f"{computer}), the IUT gave {len(ir)}"
        )
        return out
    for i, (r, u) in enumerate(zip(rr, ir, strict=True)):
        what = sent[i].describe() if sent and i < len(sent) else f"result {i + 1}"
        if sent and i < len(sent) and u["operation_id"] != sent[i].iut_op:
            out.append(
                f"field 'results[{i}].operation_id' ({what}): expected {sent[i].iut_op!r} "
                f"(results answered in the order queued), the IUT said {u['operation_id']!r}"
            )
        for name in ("activity", "accepted"):
            if r.get(name) != u.get(name):
                out.append(
                    f"field 'results[{i}].{name}' ({what}): expected {r.get(name)!r}, "
                    f"the IUT said {u.get(name)!r}"
                )
    return out


def _wire(step: Step, last_op: dict[str, Any]) -> Step:
    """The request one side receives: ``result`` by activity becomes that side's op-id."""
    if step.get("cmd") == "result" and "activity" in step:
        req = {k: v for k, v in step.items() if k != "activity"}
        req["operation_id"] = last_op.get(step["activity"], NO_OPERATION)
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
        self.ops = OpRenaming()
        #: Results queued per computer, until its next exchange answers them.
        self.outbox: dict[str, list[SentResult]] = {}
        #: The step the last answered request belonged to (0: the reset).
        self._answered = 0
        session.ensure_started()
        session.trace.begin(label)
        reply = self._ask({"cmd": "reset"})
        if reply["status"] != "ok":
            self._fail({"cmd": "reset"}, f"reset answered {_reason(reply)}", None, reply)

    def _ask(self, request: Step) -> dict[str, Any]:
        self.session.requests += 1
        try:
            reply = self.session.iut.request(request)
        except IUTFailure as exc:
            self._locate(exc, request)
            raise
        self._answered = len(self.steps)
        return reply

    def _locate(self, exc: IUTFailure, request: Step) -> None:
        """Attach where it happened, for the evidence: case, run, step, the steps so far.

        A fault of the previous request (an extra reply found before sending this one) is
        the step that request belonged to, not the innocent step about to be sent.
        """
        n = self._answered if exc.previous else len(self.steps)
        message = f"IUT failure: {exc}"
        if exc.previous and n == 0:
            message += " (it came after the previous run had ended)"
        exc.where = Deviation(  # type: ignore[attr-defined]
            self.case,
            self.run,
            n,
            self.steps[n - 1] if n else request,
            f"step {n} ({self.steps[n - 1].get('cmd')}): {message}" if n else message,
            steps=tuple(self.steps[:n]),
        )

    def finish(self) -> None:
        """End of the run: a reply still arriving for its last requests is its fault."""
        try:
            self.session.iut.check_quiet(wait=0.01)
        except IUTFailure as exc:
            self._locate(exc, {"cmd": "query"})
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
                f"step {len(self.steps)} ({step.get('cmd')}): {message}",
                expected,
                actual,
                tuple(self.steps),
            )
        )

    def step(self, step: Step) -> dict[str, Any]:
        """Run one step on both sides; raise ``StepDeviation`` on the first difference.

        Returns the reference's reply (what the stateful run's coverage counts)."""
        self.steps.append(step)
        ref_req, iut_req = _wire(step, self.ref_side.last_op), _wire(step, self.iut_side.last_op)
        ref = self.ref.handle({"id": 0, **ref_req})
        iut = self._ask(iut_req)
        if iut["status"] == "ok":
            if step["cmd"] == "advance":
                self.clock += float(step["seconds"])
            self.session.trace.step(self.clock, step, iut)
        sent: list[SentResult] = []
        both_ok = ref["status"] == iut["status"] == "ok"
        if both_ok and step["cmd"] == "result":
            self.outbox.setdefault(step["computer"], []).append(
                SentResult(step.get("activity"), ref_req["operation_id"], iut_req["operation_id"])
            )
        elif both_ok and step["cmd"] == "exchange":
            sent = self.outbox.pop(step["computer"], [])
        problems = compare(step, ref, iut, self.ops, sent)
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
        return ref

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
        r.finish()
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
