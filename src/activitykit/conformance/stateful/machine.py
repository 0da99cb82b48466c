"""The stateful machine: a weighted menu of commands and episodes, each drawing its steps.

The machine has one rule that draws an entry from a weighted menu and aims it where
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

One idea over 400 lines: the menu, its episodes and the single-command drawers they share.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...model import START_STATES, State
from ..adapters import IUTFailure
from ..cases import (
    Step,
    adv,
    approve,
    block,
    cancel,
    cl,
    con,
    crash,
    ex,
    fin,
    prog,
    query,
    res,
    sv,
)
from ..runner import Run, Session
from .coverage import Coverage

__all__ = ["COMPUTERS", "HANDLERS", "machine_class"]

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
    "schedule",  # a fractional deliver_after, the clock just before it, then at it
    *("threshold",) * 2,  # a dependent on progress, progress below, at and above its threshold
    "batch",  # several activities on one computer, one exchange (rarely beyond every cap)
    "crash_many",  # both handlers hold a message, both crash, the queue redelivers both
    *("cancel_fresh",) * 2,  # an activity in any start state (maybe approved first), canceled
)
_EPISODES = frozenset(
    {
        "client_cycle",
        "server_cycle",
        "redelivery",
        "cancel_running",
        "chain",
        "schedule",
        "threshold",
        "batch",
        "crash_many",
        "cancel_fresh",
    }
)
#: Times are real numbers: whole and fractional values, so rounding shows.
_DELAYS = (0, 0.5, 30, 30.5, 60, 300)
_ADVANCES = (0.25, 0.5, 1, 30, 60, 300)
#: A bulk batch: more deliverable activities than any page or batch limit (cases.BULK).
_BULK_MIN, _BULK_MAX = 101, 130
#: Start states a drawn activity may be created in, in ``State`` order (stable draws).
_START_STATES = tuple(s.value for s in State if s in START_STATES)


def machine_class(session: Session, state: dict[str, Any], coverage: Coverage) -> type:
    """The machine class of one run against ``session``.

    Hypothesis makes one instance per sequence, so what outlives a sequence lives outside
    the class: ``state`` (the steps so far, an IUT failure, the counts) and ``coverage``.
    """
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

    class IUTMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.dead = state["failure"] is not None
            self.run: Run | None = None
            self.ids: list[str] = []
            #: What an episode's later steps aim at (an activity or a computer).
            self.focus = ""
            self._threshold = 0.5
            self._dependent: Step = {}
            state["n"] += 1
            state["last"] = []

        @initialize()
        def start(self) -> None:
            if self.dead:
                return
            self.run = self._guard(
                lambda: Run(session, "stateful", state["n"], f"stateful#{state['n']}")
            )

        def teardown(self) -> None:
            # A reply still arriving for the sequence's last requests is this sequence's.
            if not self.dead and self.run is not None:
                run = self.run
                self._guard(run.finish)

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
            ref = self._guard(lambda: run.step(step))
            kinds = {a: k.value for a, k in run.ref_side.kinds.items()}
            coverage.see(step, ref, kinds)

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
            coverage.menu[command] = coverage.menu.get(command, 0) + 1
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
            # Queued, or Blocked then approved (published again); both handlers then ask,
            # so a message handed out twice shows.
            def create(data: Any) -> Step:
                start = data.draw(st.sampled_from(("Queued", "Blocked")))
                step = self._draw_create(data, kind="server", start=start)
                self.focus = step["activity"]
                return step

            def approve_it(data: Any) -> Step:
                a = self._ref().activities.get(self.focus)
                return approve(self.focus) if a is not None and a.state == "Blocked" else query()

            def free_one(data: Any) -> Step:
                # Both handlers busy (prefetch 1): neither consume could take the message,
                # so a duplicate would go unseen; one of them finishes what it holds first.
                held = self._ref().held
                if all(held.get(h) for h in HANDLERS):
                    return fin(held[HANDLERS[0]][0], "succeeded", HANDLERS[0])
                return query()

            return [create, approve_it, free_one, self._draw_consume, self._draw_consume]

        def _episode_redelivery(self) -> list[Any]:
            held = any(self._ref().held.values())
            setup = [] if held else self._episode_server_cycle()
            # A second crash of the new holder: a redelivery of a redelivery (attempt 3).
            return [
                *setup,
                self._draw_crash,
                self._draw_consume,
                self._draw_consume,
                self._draw_crash,
                self._draw_consume,
            ]

        def _episode_cancel_fresh(self) -> list[Any]:
            # Cancels at every state: a fresh activity in a drawn start state, maybe moved
            # once (approved, blocked), then canceled.
            def create(data: Any) -> Step:
                step = self._draw_create(data)
                self.focus = step["activity"]
                return step

            def maybe_approve(data: Any) -> Step:
                # Blocked: approved one time in two; Queued: blocked one time in two.
                a = self._ref().activities.get(self.focus)
                if a is not None and a.state in ("Blocked", "Queued") and data.draw(st.booleans()):
                    return approve(self.focus) if a.state == "Blocked" else block(self.focus)
                return query(self.focus)

            return [create, maybe_approve, lambda data: cancel(self.focus)]

        def _episode_crash_many(self) -> list[Any]:
            # Several messages unacknowledged at once: each handler takes one, both crash
            # (requeued at the head, the last crash's first), then the queue hands them out.
            return [
                lambda data: self._draw_create(data, kind="server", start="Queued"),
                lambda data: self._draw_create(data, kind="server", start="Queued"),
                lambda data: con("h1"),
                lambda data: con("h2"),
                lambda data: crash("h1"),
                lambda data: crash("h2"),
                lambda data: con("h2"),
                lambda data: con("h1"),
            ]

        def _episode_schedule(self) -> list[Any]:
            # deliver_after a fraction past a whole second; the clock stops just before it,
            # then exactly at it: rounding, truncating or a strict comparison shows.
            def create(data: Any) -> Step:
                kind = data.draw(st.sampled_from(("client", "server")))
                step = self._draw_create(data, kind=kind, start="Scheduled")
                step["deliver_after"] = self._ref().clock + data.draw(st.sampled_from((0.5, 30.5)))
                self.focus = step["activity"]
                return step

            def near(data: Any, before: float) -> Step:
                a = self._ref().activities.get(self.focus)
                due = a.deliver_after if a is not None and a.deliver_after is not None else 0.0
                return adv(max(0.0, due - before - self._ref().clock))

            def look(data: Any) -> Step:
                a = self._ref().activities.get(self.focus)
                if a is not None and a.computer:
                    return ex(a.computer)
                return self._draw_consume(data)

            return [create, lambda d: near(d, 0.25), look, lambda d: near(d, 0.0), look]

        def _episode_threshold(self) -> list[Any]:
            # A dependent on a running activity's progress; progress below, at, then above
            # its threshold (>= releases: an exact hit must release).
            def running(data: Any) -> Step:
                step = self._draw_create(data, kind="server", start="Queued")
                self.focus = step["activity"]
                return step

            def dependent(data: Any) -> Step:
                kind = data.draw(st.sampled_from(("client", "server")))
                step = self._draw_create(data, kind=kind, start="Waiting", dependency=True)
                step.pop("depends_on", None)
                step["progress_of"] = self.focus
                step["threshold"] = data.draw(st.sampled_from((0.5, 1.0)))
                self._threshold = step["threshold"]
                if data.draw(st.booleans(), label="direct"):
                    step["release"] = "direct"
                self._dependent = step
                if data.draw(st.booleans()):
                    step["depends_on"] = [data.draw(st.sampled_from(self.ids[:-1]))]
                return step

            def report(offset: float) -> Any:
                return lambda data: prog(self.focus, max(0.0, min(1.0, self._threshold + offset)))

            return [
                running,
                lambda data: con(self._handlers(data, holding=False)),
                dependent,
                report(-0.25),
                report(0.0),
                self._draw_consume,
                lambda data: ex(self._dependent.get("computer", "c1")),
            ]

        def _episode_batch(self) -> Iterator[Any]:
            # Several deliverable activities on one computer, one exchange: creation order;
            # one batch in ten is larger than any page limit (> 100 in one exchange).
            size: dict[str, Any] = {}

            def first(data: Any) -> Step:
                big = data.draw(st.integers(0, 9), label="bulk") == 0
                lo, hi = (_BULK_MIN, _BULK_MAX) if big else (2, 5)
                size["n"] = data.draw(st.integers(lo, hi), label="batch size")
                size["c"] = data.draw(st.sampled_from(COMPUTERS))
                return self._draw_create(data, kind="client", start="Queued", computer=size["c"])

            # A generator: each drawer runs before the next is asked for (``act``).
            yield first
            for _ in range(size["n"] - 1):
                yield lambda data: self._draw_create(
                    data, kind="client", start="Queued", computer=size["c"]
                )
            yield lambda data: ex(size["c"])

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
            computer: str | None = None,
        ) -> Step:
            aid = f"a{len(self.ids) + 1}"
            kind = kind or data.draw(st.sampled_from(("client", "server")))
            start = start or data.draw(st.sampled_from(_START_STATES))
            computer = computer or data.draw(st.sampled_from(COMPUTERS))
            kw: dict[str, Any] = {}
            if (
                start in ("Scheduled", "Waiting", "Blocked")
                and data.draw(st.integers(0, 2), label="direct") == 0
            ):
                kw["release"] = "direct"
            if start == "Scheduled":
                # Absolute: in the past, now, or a whole or fractional delay ahead.
                kw["deliver_after"] = self._ref().clock + data.draw(st.sampled_from(_DELAYS))
            if dependency and not self.ids:
                start = "Queued"
            if start in ("Waiting", "Blocked") and self.ids:
                # Each option alone or both together (all three combinations).
                options = data.draw(st.sampled_from(("deps", "deps", "progress", "both")))
                if options in ("progress", "both"):
                    kw["progress_of"] = data.draw(st.sampled_from(self.ids))
                    kw["threshold"] = data.draw(st.sampled_from((0.0, 0.5, 1.0)))
                if options in ("deps", "both"):
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
            delivered = sorted({o.id for o in w.ops.values() if computer in (None, o.computer)})
            running = [a for a in delivered if w.activities[a].state == "In Progress"]
            unsettled = [a for a in delivered if w.activities[a].state != "Succeeded"]
            aid = self._pick(data, running or unsettled or delivered)
            activity = w.activities.get(aid)
            computer = activity.computer if activity and activity.computer else "c1"
            if data.draw(st.integers(0, 4), label="other computer") == 0:
                # Sent by a computer the operation was not delivered to: must be refused.
                computer = data.draw(st.sampled_from(sorted(set(COMPUTERS) - {computer})))
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
            return adv(data.draw(st.sampled_from(_ADVANCES)))

    return IUTMachine
