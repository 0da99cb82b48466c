"""Hypothesis stateful testing: random command sequences, reference beside IUT, every step.

The machine below has one rule that draws an entry from a weighted menu and aims it where
it makes sense (results for delivered operations, finishes by the handler holding the
activity, consumes by a free handler), with one draw in ten aimed at any activity (which
probes refusals). Single commands (creates of every start state, kind and release mode,
exchanges, results, consumes, finishes, crashes, approvals, blocks, cancels, progress,
clock advances) are not enough: the interesting bugs sit at the end of short *coherent*
sequences that a uniform draw of 25 steps rarely assembles (a crash, then two consumes
while the redelivered message is still unacknowledged; a cancel of a running activity,
then its result; a second delivery on a computer after a settled one). So the menu also
holds *episodes*, each a few steps of one life cycle; the run is still one flat sequence
of steps, and ``minimize`` drops any step an episode contributed that a failure does not
need. Two handlers and a computer chosen two times in three make collisions (redelivery
racing a second consumer, operation-ids reused on one computer) likely.

Every step goes through ``runner.Run``, which compares the IUT with the reference after
it. A failure is shrunk by Hypothesis within a time budget, then made 1-minimal by
``minimize``; that sequence is what we print and save for ``--replay``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..model import START_STATES, State
from .adapters import IUTFailure
from .cases import Step, adv, approve, block, cancel, cl, con, crash, ex, fin, prog, res, sv
from .runner import CaseResult, Deviation, Run, Session, StepDeviation

__all__ = [
    "REPLAY_HEADER",
    "StatefulOutcome",
    "minimize",
    "read_replay",
    "renumber",
    "run_stateful",
    "write_replay",
]

REPLAY_HEADER = "activitykit-replay/1"
#: c1 twice as often as c2: deliveries pile up on one computer (operation-id reuse shows).
COMPUTERS = ("c1", "c1", "c2")
#: Two handlers: after a crash both are free, so a duplicated message finds a taker.
HANDLERS = ("h1", "h2")
#: The stateful menu: a command or episode name per entry, repeated for weight; simplest
#: first, so that shrinking (towards the first entry) prefers creating to anything else.
#: Weights were tuned so that the default run (100 sequences, seed 0) catches every mutant
#: of examples/iut/mutants (tests/test_conformance_mutants.py checks it).
_MENU = (
    *("create",) * 3,
    *("exchange",) * 2,
    *("result",) * 2,
    *("consume",) * 2,
    *("finish",) * 2,
    *("cancel",) * 2,
    "approve",
    "block",
    "crash",
    "progress",
    "advance",
    # episodes: a few steps of one life cycle each
    *("client_cycle",) * 2,  # create on a computer, exchange, result, exchange
    *("server_cycle",) * 2,  # create a server activity, a free handler consumes it
    *("redelivery",) * 2,  # a holding handler crashes, both handlers consume
    *("cancel_running",) * 2,  # cancel an In Progress activity, then its result arrives
    *("chain",) * 2,  # a dependent of an existing activity, then that one ends
)
_EPISODES = frozenset({"client_cycle", "server_cycle", "redelivery", "cancel_running", "chain"})
#: Start states a drawn activity may be created in, in ``State`` order (stable draws).
_START_STATES = tuple(s.value for s in State if s in START_STATES)


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


def _evidence(session: Session, steps: list[Step]) -> Deviation | None:
    """The deviation ``steps`` provoke when run afresh (None if they no longer do)."""
    run = Run(session, "stateful", 0, "stateful#final")
    try:
        for step in steps:
            run.step(step)
    except StepDeviation as exc:
        return exc.deviation
    return None


@contextlib.contextmanager
def _shrink_budget(seconds: float) -> Iterator[None]:
    """Bound Hypothesis's shrink phase (its own limit is 300 s, far too long for CI).

    This sets an internal constant of Hypothesis; if a future version drops it, shrinking
    simply keeps Hypothesis's default budget.
    """
    try:
        from hypothesis.internal.conjecture import engine
    except ImportError:  # pragma: no cover
        yield
        return
    old = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    if old is None:  # pragma: no cover
        yield
        return
    engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[attr-defined]
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = old  # type: ignore[attr-defined]


def renumber(steps: list[Step]) -> list[Step]:
    """The same steps with activities renamed a1, a2, ... in order of creation.

    Shrinking drops creates, so a minimal sequence may start at ``a4``; the behaviour does
    not depend on names (everything is visited in creation order), only the reading does.
    """
    names: dict[str, str] = {}
    for step in steps:
        if step.get("cmd") == "create" and isinstance(step.get("activity"), str):
            names.setdefault(step["activity"], f"a{len(names) + 1}")

    def rename(value: Any) -> Any:
        return names.get(value, value) if isinstance(value, str) else value

    out = []
    for step in steps:
        new = dict(step)
        for key in ("activity", "progress_of", "parent"):
            if key in new:
                new[key] = rename(new[key])
        if isinstance(new.get("depends_on"), list):
            new["depends_on"] = [rename(d) for d in new["depends_on"]]
        out.append(new)
    return out


_WAIT_FIELDS = ("depends_on", "progress_of", "threshold")


def _simpler(step: Step) -> list[Step]:
    """Simpler variants of one ``create``: without ``release``, without its dependencies.

    Dropping a dependency can make its target's ``create`` droppable in turn, which the
    step-dropping pass alone never reaches (removing the target first is refused).
    """
    if step.get("cmd") != "create":
        return []
    out = []
    if "release" in step:
        out.append({k: v for k, v in step.items() if k != "release"})
    if any(k in step for k in _WAIT_FIELDS):
        free = {k: v for k, v in step.items() if k not in _WAIT_FIELDS}
        out.append(free if free.get("state") != "Waiting" else {**free, "state": "Queued"})
    return out


def minimize(session: Session, steps: list[Step], label: str = "minimize") -> list[Step]:
    """Drop single steps while the sequence still deviates (a 1-minimal counterexample).

    Hypothesis's shrinker works on its choice sequence and may stop at its time budget;
    this deterministic pass over the abstract steps guarantees that no single step of the
    printed counterexample can be removed, nor a ``create`` simplified (``_simpler``).
    Each candidate is a fresh run.
    """
    n = 0

    def fails(candidate: list[Step]) -> bool:
        nonlocal n
        n += 1
        run = Run(session, label, n, f"{label}#{n}")
        try:
            for step in candidate:
                run.step(step)
        except StepDeviation:
            return True
        return False

    current = list(steps)
    changed = True
    while changed:
        changed = False
        for i in range(len(current) - 1, -1, -1):
            candidate = current[:i] + current[i + 1 :]
            if candidate and fails(candidate):
                current = candidate
                changed = True
        for i in range(len(current)):
            for variant in _simpler(current[i]):
                candidate = [*current[:i], variant, *current[i + 1 :]]
                if fails(candidate):
                    current = candidate
                    changed = True
                    break
    return current


def run_stateful(
    session: Session,
    examples: int = 100,
    seed: int = 0,
    steps: int = 25,
    shrink_seconds: float = 30.0,
) -> StatefulOutcome:
    """Run the machine for ``examples`` sequences of up to ``steps`` steps each.

    A deviation is shrunk by Hypothesis (for at most ``shrink_seconds``), then made
    1-minimal by ``minimize``; the outcome carries that sequence and its evidence.
    """
    import hypothesis
    from hypothesis import HealthCheck, Verbosity, settings
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

    state: dict[str, Any] = {"last": [], "failure": None, "n": 0, "steps": 0}

    class IUTMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.dead = state["failure"] is not None
            self.run: Run | None = None
            self.ids: list[str] = []
            #: What an episode's later steps aim at (an activity or a computer).
            self.focus = ""
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
            return self.run.ref

        def _ids(self, *states: str) -> list[str]:
            """Activities the reference holds in one of ``states`` (all when none given)."""
            if self.run is None:
                return []
            acts = self._ref().activities.values()
            return [a.id for a in acts if not states or a.state in states]

        def _pick(self, data: st.DataObject, pool: list[str]) -> str:
            # Mostly a sensible target; one draw in ten any activity at all (probes refusals).
            if not pool or data.draw(st.integers(0, 9), label="arbitrary") == 0:
                pool = self.ids or ["a1"]
            return data.draw(st.sampled_from(pool))

        @rule(data=st.data(), command=st.sampled_from(_MENU))
        def act(self, data: Any, command: str) -> None:
            # One rule drawing from a weighted menu: Hypothesis picks rules uniformly, and
            # most bugs need several related steps (deliver, result, exchange) in a row.
            if self.run is None:
                return
            if command in _EPISODES:
                # Each step is drawn after the previous one ran: it aims at the new state.
                for draw in getattr(self, f"_episode_{command}")():
                    if self.dead:
                        return
                    self.do(draw(data))
            else:
                self.do(getattr(self, f"_draw_{command}")(data))

        # -- episodes: lists of step drawers, run in order ----------------------------------
        def _episode_client_cycle(self) -> list[Any]:
            def create(data: Any) -> Step:
                step = self._draw_create(data, kind="client", start="Queued")
                self.focus = step["computer"]
                return step

            return [
                create,
                lambda data: ex(self.focus),
                lambda data: self._draw_result(data, computer=self.focus),
                lambda data: ex(self.focus),
            ]

        def _episode_server_cycle(self) -> list[Any]:
            return [
                lambda data: self._draw_create(data, kind="server", start="Queued"),
                self._draw_consume,
            ]

        def _episode_redelivery(self) -> list[Any]:
            held = any(self._ref().held.values())
            setup = [] if held else self._episode_server_cycle()
            return [*setup, self._draw_crash, self._draw_consume, self._draw_consume]

        def _episode_cancel_running(self) -> list[Any]:
            def cancel_one(data: Any) -> Step:
                step = cancel(self._pick(data, self._ids("In Progress")))
                self.focus = step["activity"]
                return step

            def settle(data: Any) -> Step:
                w = self._ref()
                a = w.activities.get(self.focus)
                status = data.draw(st.sampled_from(("succeeded", "failed")))
                if a is not None and a.kind.value == "client":
                    return res(a.id, status, a.computer or "c1")
                holder = [h for h, acts in w.held.items() if self.focus in acts]
                return fin(self.focus, status, holder[0] if holder else HANDLERS[0])

            def follow_up(data: Any) -> Step:
                a = self._ref().activities.get(self.focus)
                if a is not None and a.computer:
                    return ex(a.computer)
                return self._draw_consume(data)

            return [cancel_one, settle, follow_up]

        def _episode_chain(self) -> list[Any]:
            def dependent(data: Any) -> Step:
                start = data.draw(st.sampled_from(("Waiting", "Waiting", "Blocked")))
                step = self._draw_create(data, start=start, dependency=True)
                self.focus = step["activity"]
                return step

            def approve_it(data: Any) -> Step:
                return approve(self.focus)

            def end_one(data: Any) -> Step:
                # End a running dependency (a finish or a client result) or cancel one.
                held = sorted((h, a) for h, acts in self._ref().held.items() for a in acts)
                if held and data.draw(st.booleans()):
                    handler, aid = data.draw(st.sampled_from(held))
                    return fin(aid, data.draw(st.sampled_from(("succeeded", "failed"))), handler)
                return (
                    self._draw_result(data)
                    if data.draw(st.booleans())
                    else (self._draw_cancel(data))
                )

            return [dependent, approve_it, end_one, self._draw_exchange, self._draw_consume]

        # -- single commands ----------------------------------------------------------------
        def _draw_create(
            self,
            data: Any,
            kind: str | None = None,
            start: str | None = None,
            dependency: bool = False,
        ) -> Step:
            aid = f"a{len(self.ids) + 1}"
            kind = kind or data.draw(st.sampled_from(("client", "server")))
            start = start or data.draw(st.sampled_from(_START_STATES))
            computer = data.draw(st.sampled_from(COMPUTERS))
            kw: dict[str, Any] = {}
            if (
                start in ("Scheduled", "Waiting", "Blocked")
                and data.draw(st.integers(0, 2), label="direct") == 0
            ):
                kw["release"] = "direct"
            if start == "Scheduled":
                kw["deliver_after"] = data.draw(st.sampled_from((0, 30, 60, 300)))
            if dependency and not self.ids:
                start = "Queued"
            if start in ("Waiting", "Blocked") and self.ids:
                if data.draw(st.integers(0, 3), label="threshold") == 0:
                    kw["progress_of"] = data.draw(st.sampled_from(self.ids))
                    kw["threshold"] = data.draw(st.sampled_from((0.0, 0.5, 1.0)))
                else:
                    deps = data.draw(st.lists(st.sampled_from(self.ids), min_size=1, max_size=2))
                    kw["depends_on"] = sorted(set(deps))
            elif start == "Waiting":
                start = "Queued"
            self.ids.append(aid)
            return cl(aid, start, computer, **kw) if kind == "client" else sv(aid, start, **kw)

        def _draw_exchange(self, data: Any) -> Step:
            return ex(data.draw(st.sampled_from(COMPUTERS)))

        def _draw_result(self, data: Any, computer: str | None = None) -> Step:
            w = self._ref()
            delivered = sorted(
                {o.id for o in w.ops.values() if computer in (None, o.computer)}
            )
            running = [a for a in delivered if w.activities[a].state == "In Progress"]
            unsettled = [a for a in delivered if w.activities[a].state != "Succeeded"]
            aid = self._pick(data, running or unsettled or delivered)
            activity = w.activities.get(aid)
            computer = activity.computer if activity and activity.computer else "c1"
            return res(aid, data.draw(st.sampled_from(("succeeded", "failed"))), computer)

        def _handlers(self, data: Any, holding: bool) -> str:
            # Prefer a handler for which the command does something (prefetch is 1).
            held = self._ref().held
            pool = [h for h in HANDLERS if bool(held.get(h)) is holding] or list(HANDLERS)
            return data.draw(st.sampled_from(pool))

        def _draw_consume(self, data: Any) -> Step:
            return con(self._handlers(data, holding=False))

        def _draw_finish(self, data: Any) -> Step:
            held = sorted((h, a) for h, acts in self._ref().held.items() for a in acts)
            handler, aid = data.draw(st.sampled_from(held)) if held else ("h1", "a1")
            if not held or data.draw(st.integers(0, 9), label="arbitrary") == 0:
                aid = self._pick(data, [])
            return fin(aid, data.draw(st.sampled_from(("succeeded", "failed"))), handler)

        def _draw_crash(self, data: Any) -> Step:
            return crash(self._handlers(data, holding=True))

        def _draw_approve(self, data: Any) -> Step:
            return approve(self._pick(data, self._ids("Blocked")))

        def _draw_block(self, data: Any) -> Step:
            return block(self._pick(data, self._ids("Queued")))

        def _draw_cancel(self, data: Any) -> Step:
            return cancel(self._pick(data, self._ids()))

        def _draw_progress(self, data: Any) -> Step:
            value = data.draw(st.sampled_from((0.25, 0.5, 1.0)))
            return prog(self._pick(data, self._ids("In Progress")), value)

        def _draw_advance(self, data: Any) -> Step:
            return adv(data.draw(st.sampled_from((1, 30, 60, 300))))

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
        with _shrink_budget(shrink_seconds):
            test()
    except StepDeviation as exc:
        result.outcome = "fail"
        dev = exc.deviation
        # If the IUT breaks while we minimise, keep Hypothesis's sequence.
        with contextlib.suppress(IUTFailure):
            dev = _evidence(session, minimize(session, list(dev.steps))) or dev
            # Readable names, kept only if the renamed sequence still fails.
            dev = _evidence(session, renumber(list(dev.steps))) or dev
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
