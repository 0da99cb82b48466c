"""Runs and sessions: each step to a fresh reference and to the IUT, compared after each.

A ``Session`` owns one IUT adapter for its whole life (restarting it after a crash) and the
trace of everything the IUT said. A ``Run`` is one reset-to-empty sequence of steps.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from ...model import Profile, parse_profile
from ..adapters import IUT, IUTFailure
from ..cases import Case, Step
from ..reference import ReferenceSystem
from .replies import NO_OPERATION, OpRenaming, SentResult, compare, reply_status
from .results import CaseResult, Deviation, StepDeviation
from .sides import Side
from .trace import TraceBuilder

__all__ = ["Run", "Session"]


def _wire(step: Step, last_op: dict[str, Any]) -> Step:
    """The request one side receives: ``result`` by activity becomes that side's op-id."""
    if step.get("cmd") == "result" and "activity" in step:
        req = {k: v for k, v in step.items() if k != "activity"}
        req["operation_id"] = last_op.get(step["activity"], NO_OPERATION)
        return req
    return dict(step)


class Run:
    """One reset-to-empty sequence of steps against the IUT and a fresh reference."""

    def __init__(self, session: Session, case: str, run: int, label: str) -> None:
        self.session = session
        self.case, self.run, self.label = case, run, label
        self.ref = ReferenceSystem(session.profile)
        self.ref_side = Side("the reference", session.profile)
        self.iut_side = Side("the IUT", session.profile)
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
            self._fail({"cmd": "reset"}, f"reset answered {reply_status(reply)}", None, reply)

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
            self._fail(step, f"query of all states answered {reply_status(reply)}", None, reply)
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
