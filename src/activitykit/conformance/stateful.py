"""Hypothesis stateful testing: random command sequences, reference beside IUT, every step.

The rule-based machine below draws protocol steps (creates of every start state and kind,
exchanges, results, consumes, finishes, crashes, approvals, blocks, cancels, progress,
clock advances, queries) with a bias towards requests that make sense (results for
activities that were delivered, finishes by the handler that holds the activity) and a
share of arbitrary ones (which probe refusals). Every step goes through ``runner.Run``,
which compares the IUT with the reference after it. Hypothesis shrinks a failure to a
minimal sequence; that sequence is what we print and save for ``--replay``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .adapters import IUTFailure
from .cases import Step, adv, approve, block, cancel, cl, con, crash, ex, fin, prog, query, res, sv
from .runner import CaseResult, Deviation, Run, Session, StepDeviation

__all__ = ["REPLAY_HEADER", "StatefulOutcome", "read_replay", "run_stateful", "write_replay"]

REPLAY_HEADER = "activitykit-replay/1"
COMPUTERS = ("c1", "c2")
HANDLERS = ("h1", "h2")


@dataclass
class StatefulOutcome:
    result: CaseResult
    #: The shrunk failing sequence (empty when everything passed).
    counterexample: list[Step] = field(default_factory=list)
    examples: int = 0


def write_replay(steps: list[Step], profile: str) -> str:
    """Replay file text: a header line, then one abstract step per line."""
    lines = [json.dumps({"replay": REPLAY_HEADER, "profile": profile})]
    lines += [json.dumps(s, separators=(", ", ": ")) for s in steps]
    return "\n".join(lines) + "\n"


def read_replay(text: str, source: str = "replay") -> tuple[str | None, list[Step]]:
    """Parse a replay file; returns (profile or None, steps). A bad line is an InputError."""
    from ..errors import InputError
    from .protocol import COMMANDS

    profile: str | None = None
    steps: list[Step] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON ({exc.msg})", source=source, line=n) from None
        if not isinstance(obj, dict):
            raise InputError("each line must be a JSON object", source=source, line=n)
        if "replay" in obj:
            if obj["replay"] != REPLAY_HEADER:
                raise InputError(
                    f"replay format {obj['replay']!r} unknown; expected {REPLAY_HEADER}",
                    source=source,
                    line=n,
                )
            profile = obj.get("profile")
            continue
        cmd = obj.get("cmd")
        if cmd not in COMMANDS or cmd in ("hello", "reset"):
            allowed = ", ".join(c for c in COMMANDS if c not in ("hello", "reset"))
            raise InputError(
                f"field 'cmd' is {cmd!r}; a replay step is one of: {allowed}",
                source=source,
                line=n,
            )
        steps.append(obj)
    if not steps:
        raise InputError("no steps to replay", source=source)
    return profile, steps


def run_stateful(
    session: Session, examples: int = 50, seed: int = 0, steps: int = 25
) -> StatefulOutcome:
    """Run the machine for ``examples`` sequences of up to ``steps`` steps each."""
    import hypothesis
    from hypothesis import HealthCheck, Verbosity, settings
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

    state: dict[str, Any] = {"last": [], "failure": None, "n": 0, "steps": 0}

    class IUTMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.dead = state["failure"] is not None
            self.run: Run | None = None
            self.ids: list[str] = []
            state["n"] += 1
            state["last"] = []

        @initialize()
        def start(self) -> None:
            if self.dead:
                return
            self.run = self._guard(
                lambda: Run(session, "stateful", state["n"], f"stateful#{state['n']}")
            )

        def _guard(self, fn: Any) -> Any:
            try:
                return fn()
            except IUTFailure as exc:
                state["failure"] = exc
                self.dead = True
                raise

        def do(self, step: Step) -> None:
            if self.dead or self.run is None:
                return
            state["last"] = [*self.run.steps, step]
            state["steps"] += 1
            run = self.run
            self._guard(lambda: run.step(step))

        def _ref(self) -> Any:
            assert self.run is not None
            return self.run.ref._w

        def _pick(self, data: st.DataObject, pool: list[str]) -> str:
            if not pool or data.draw(st.integers(0, 9), label="arbitrary") == 0:
                pool = self.ids or ["a1"]
            return data.draw(st.sampled_from(pool))

        @rule(
            data=st.data(),
            kind=st.sampled_from(("client", "server")),
            start=st.sampled_from(("Queued", "Scheduled", "Waiting", "Blocked")),
            computer=st.sampled_from(COMPUTERS),
            after=st.sampled_from((0, 30, 60, 300)),
        )
        def create(self, data: Any, kind: str, start: str, computer: str, after: int) -> None:
            aid = f"a{len(self.ids) + 1}"
            kw: dict[str, Any] = {}
            if start == "Scheduled":
                kw["deliver_after"] = after
            if start in ("Waiting", "Blocked") and self.ids:
                if data.draw(st.booleans(), label="threshold"):
                    kw["progress_of"] = data.draw(st.sampled_from(self.ids))
                    kw["threshold"] = data.draw(st.sampled_from((0.0, 0.5, 1.0)))
                else:
                    deps = data.draw(st.lists(st.sampled_from(self.ids), min_size=1, max_size=2))
                    kw["depends_on"] = sorted(set(deps))
            elif start == "Waiting":
                start = "Queued"
            step = cl(aid, start, computer, **kw) if kind == "client" else sv(aid, start, **kw)
            self.ids.append(aid)
            self.do(step)

        @rule(computer=st.sampled_from(COMPUTERS))
        def exchange(self, computer: str) -> None:
            self.do(ex(computer))

        @rule(data=st.data(), status=st.sampled_from(("succeeded", "failed")))
        def result(self, data: Any, status: str) -> None:
            if self.run is None:
                return
            ops = self._ref().ops
            delivered = sorted({o.activity for o in ops.values()})
            aid = self._pick(data, delivered)
            activity = self._ref().activities.get(aid)
            computer = activity.computer if activity and activity.computer else "c1"
            self.do(res(aid, status, computer))

        @rule(handler=st.sampled_from(HANDLERS))
        def consume(self, handler: str) -> None:
            self.do(con(handler))

        @rule(
            data=st.data(),
            handler=st.sampled_from(HANDLERS),
            status=st.sampled_from(("succeeded", "failed")),
        )
        def finish(self, data: Any, handler: str, status: str) -> None:
            if self.run is None:
                return
            held = list(self._ref().held.get(handler, []))
            self.do(fin(self._pick(data, held), status, handler))

        @rule(handler=st.sampled_from(HANDLERS))
        def crash_handler(self, handler: str) -> None:
            self.do(crash(handler))

        @rule(data=st.data(), action=st.sampled_from(("approve", "block", "cancel")))
        def admin(self, data: Any, action: str) -> None:
            if self.run is None:
                return
            wanted = {"approve": "Blocked", "block": "Queued", "cancel": None}[action]
            pool = [
                a.id
                for a in self._ref().activities.values()
                if wanted is None or a.state.value == wanted
            ]
            aid = self._pick(data, pool)
            self.do({"approve": approve, "block": block, "cancel": cancel}[action](aid))

        @rule(data=st.data(), value=st.sampled_from((0.25, 0.5, 1.0)))
        def progress(self, data: Any, value: float) -> None:
            if self.run is None:
                return
            running = [
                a.id for a in self._ref().activities.values() if a.state.value == "In Progress"
            ]
            self.do(prog(self._pick(data, running), value))

        @rule(seconds=st.sampled_from((1, 30, 60, 300)))
        def advance(self, seconds: int) -> None:
            self.do(adv(seconds))

        @rule(data=st.data())
        def ask(self, data: Any) -> None:
            if self.ids:
                self.do(query(data.draw(st.sampled_from(self.ids))))

        @invariant()
        def alive(self) -> None:
            # Comparison happens inside every step; nothing more to assert here.
            pass

    settings_ = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
    )
    from hypothesis.stateful import get_state_machine_test

    test = get_state_machine_test(IUTMachine, settings=settings_)
    test = hypothesis.seed(seed)(test)
    result = CaseResult("stateful", f"{examples} random sequences of up to {steps} steps", "pass")
    import time

    started = time.perf_counter()
    outcome = StatefulOutcome(result)
    try:
        test()
    except StepDeviation as exc:
        result.outcome = "fail"
        dev = exc.deviation
        outcome.counterexample = list(dev.steps)
        result.deviation = Deviation(
            "stateful",
            dev.run,
            dev.step,
            dev.request,
            dev.message,
            dev.expected,
            dev.actual,
            dev.steps,
        )
    except Exception as exc:  # IUT failure, or Hypothesis saying the failure was flaky
        failure = state["failure"]
        result.outcome = "error" if failure is not None else "fail"
        where = getattr(failure, "where", None)
        if where is not None:
            outcome.counterexample = list(where.steps)
            result.deviation = where
            result.note = failure.kind
        else:
            message = f"IUT failure: {failure}" if failure else f"{type(exc).__name__}: {exc}"
            result.deviation = Deviation(
                "stateful",
                0,
                0,
                state["last"][-1] if state["last"] else {},
                message,
                steps=tuple(state["last"]),
            )
            outcome.counterexample = list(state["last"])
        if failure is not None:
            session.protocol_failures += 1
            session.iut.close()
    result.seconds = time.perf_counter() - started
    result.steps = state["steps"]
    outcome.examples = state["n"]
    result.note = (result.note + "; " if result.note else "") + f"{state['n']} sequences"
    return outcome
