"""The reference state machines of docs/spec.md section 2, declared as data and self-checked.

The tables below are the single source of truth for which moves are legal. Everything else
(the simulator, the checker, the conformance suite, ``activitykit spec``) asks this module.
Each machine is validated when it is built, at import time, so a bad edit to a table fails
loudly with the offending states named instead of surfacing later as a wrong verdict.

The history condition of the ``result-wins`` profile (a client Canceled -> Succeeded/Failed
move is legal only after In Progress -> Canceled) is not a property of the table, so each
machine also declares it as data (``entered_from``) and answers for it in
``StateMachine.allows_after`` / ``check_after`` / ``settled``: the one definition the checker,
the conformance harness, the reference system and the simulator all ask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from types import MappingProxyType

from .states import FINAL_STATES, START_STATES, Kind, State, parse_kind, parse_state

__all__ = [
    "DEFAULT_PROFILE",
    "MACHINES",
    "MachineDefinitionError",
    "MoveCheck",
    "Profile",
    "StateMachine",
    "UnknownProfileError",
    "check_move",
    "machine",
    "parse_profile",
]

Q, S, W, B = State.QUEUED, State.SCHEDULED, State.WAITING, State.BLOCKED
IP, OK, KO, X = State.IN_PROGRESS, State.SUCCEEDED, State.FAILED, State.CANCELED


class Profile(StrEnum):
    """How to read the seed's open point on client-side Canceled (docs/spec.md 2.1)."""

    #: A client activity canceled while In Progress takes its late operation-result.
    RESULT_WINS = "result-wins"
    #: Canceled is final for client activities too; a late result changes nothing.
    CANCEL_STICKY = "cancel-sticky"


DEFAULT_PROFILE = Profile.RESULT_WINS


class UnknownProfileError(ValueError):
    """A profile name other than the ones ``Profile`` lists."""


def parse_profile(name: str | Profile | None) -> Profile:
    if name is None:
        return DEFAULT_PROFILE
    if isinstance(name, Profile):
        return name
    try:
        return Profile(str(name).strip().lower())
    except ValueError:
        accepted = ", ".join(p.value for p in Profile)
        raise UnknownProfileError(f"unknown profile {name!r}; accepted: {accepted}") from None


# docs/spec.md section 2, row by row. Server differs from client only in Scheduled -> Queued
# (a due server activity is published to the queue) and in the profile-dependent Canceled.
_CLIENT: dict[State, frozenset[State]] = {
    Q: frozenset({IP, X, B}),
    S: frozenset({IP, X}),
    W: frozenset({Q, IP, X}),
    B: frozenset({Q, X, W}),
    IP: frozenset({OK, KO, X}),
    OK: frozenset(),
    KO: frozenset(),
    X: frozenset(),
}
_SERVER: dict[State, frozenset[State]] = _CLIENT | {S: frozenset({Q, IP, X})}
#: Under result-wins the late operation-result may still settle a canceled client activity.
_RESULT_AFTER_CANCEL: frozenset[State] = frozenset({OK, KO})
#: ...but only one canceled while it ran: Canceled's exits are open only when the activity
#: entered Canceled from In Progress (a late result needs an operation that was running).
_RESULT_WINS_HISTORY: Mapping[State, State] = MappingProxyType({X: IP})

# What makes each move happen, named after the trace record that goes with it (the
# checker's causal rules require those records). Kinds differ only where the channel does:
# a client activity starts when delivered in an exchange and ends with its operation-result;
# a server activity starts when a job-handler consumes it and ends when the handler is done.
_TRIGGERS_COMMON: dict[tuple[State, State], str] = {
    (Q, X): "cancel",
    (Q, B): "block",
    (S, X): "cancel",
    (W, Q): "release",
    (W, X): "cancel",
    (B, Q): "approve",
    (B, W): "approve (dependencies unmet)",
    (B, X): "cancel",
    (IP, X): "cancel",
}
_TRIGGERS: dict[Kind, dict[tuple[State, State], str]] = {
    Kind.CLIENT: _TRIGGERS_COMMON
    | {
        (Q, IP): "deliver",
        (S, IP): "deliver (when due)",
        (W, IP): "release + deliver",
        (IP, OK): "result: succeeded",
        (IP, KO): "result: failed",
        (X, OK): "late result: succeeded",
        (X, KO): "late result: failed",
    },
    Kind.SERVER: _TRIGGERS_COMMON
    | {
        (Q, IP): "consume",
        (S, Q): "enqueue (when due)",
        (S, IP): "consume (when due)",
        (W, IP): "release + consume",
        (IP, OK): "handler done: succeeded",
        (IP, KO): "handler done: failed",
    },
}


class MachineDefinitionError(ValueError):
    """A transition table that breaks a structural rule (reachability, final states...)."""


@dataclass(frozen=True, slots=True)
class MoveCheck:
    """The verdict on one ``src -> dst`` move; ``reason`` says why when it is refused."""

    allowed: bool
    kind: Kind
    profile: Profile
    src: State
    dst: State
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class StateMachine:
    """One kind's machine under one profile: start states, final states, allowed moves."""

    kind: Kind
    profile: Profile
    start: frozenset[State]
    final: frozenset[State]
    transitions: Mapping[State, frozenset[State]]
    #: History conditions: ``{s: p}`` opens the exits of ``s`` only to an activity that
    #: entered ``s`` from ``p`` (result-wins: ``{Canceled: In Progress}`` for clients).
    entered_from: Mapping[State, State] = field(default_factory=dict)
    #: What triggers each allowed move (the trace record named after it), for diagrams and
    #: docs; when given, it must label every move and nothing else.
    triggers: Mapping[tuple[State, State], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "transitions", MappingProxyType(dict(self.transitions)))
        object.__setattr__(self, "entered_from", MappingProxyType(dict(self.entered_from)))
        object.__setattr__(self, "triggers", MappingProxyType(dict(self.triggers)))
        self._validate()

    # -- structure ------------------------------------------------------------------------
    def _validate(self) -> None:
        name = f"{self.kind.value} machine ({self.profile.value})"
        missing = [s.value for s in State if s not in self.transitions]
        if missing:
            raise MachineDefinitionError(f"{name}: no row for state(s) {missing}")
        if not self.start <= START_STATES:
            bad = sorted(s.value for s in self.start - START_STATES)
            raise MachineDefinitionError(f"{name}: {bad} cannot be start states")
        loops = sorted(s.value for s, dst in self.transitions.items() if s in dst)
        if loops:
            raise MachineDefinitionError(f"{name}: self-loops on {loops}")
        leaky = sorted(s.value for s in self.final if self.transitions[s])
        if leaky:
            raise MachineDefinitionError(f"{name}: final state(s) {leaky} have exits")
        reachable = self._closure(self.start, self.transitions)
        unreachable = sorted(s.value for s in State if s not in reachable)
        if unreachable:
            raise MachineDefinitionError(
                f"{name}: state(s) {unreachable} unreachable from the start states"
            )
        reverse: dict[State, set[State]] = {s: set() for s in State}
        for src, dsts in self.transitions.items():
            for dst in dsts:
                reverse[dst].add(src)
        can_finish = self._closure(self.final, reverse)
        traps = sorted(s.value for s in State if s not in can_finish)
        if traps:
            raise MachineDefinitionError(f"{name}: state(s) {traps} can never reach a final state")
        for s, p in self.entered_from.items():
            if s not in self.transitions[p] or not self.transitions[s]:
                raise MachineDefinitionError(
                    f"{name}: history condition on {s.value} names {p.value}, but {p.value} -> "
                    f"{s.value} is not a move or {s.value} has no exits"
                )
        if self.triggers:
            moves = {(a, b) for a, dsts in self.transitions.items() for b in dsts}
            unlabelled = sorted(f"{a.value} -> {b.value}" for a, b in moves - set(self.triggers))
            stray = sorted(f"{a.value} -> {b.value}" for a, b in set(self.triggers) - moves)
            if unlabelled or stray:
                raise MachineDefinitionError(
                    f"{name}: triggers must name every allowed move and only those; "
                    f"unlabelled: {unlabelled}, not allowed moves: {stray}"
                )

    @staticmethod
    def _closure(seeds: frozenset[State], edges: Mapping[State, frozenset[State] | set[State]]):
        seen, todo = set(seeds), list(seeds)
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    # -- queries ---------------------------------------------------------------------------
    def allows(self, src: State, dst: State) -> bool:
        return dst in self.transitions[src]

    def is_final(self, state: State) -> bool:
        return state in self.final

    def check(self, src: State, dst: State) -> MoveCheck:
        """Judge ``src -> dst``; a refusal carries a one-line reason naming the rule."""
        if dst in self.transitions[src]:
            return MoveCheck(True, self.kind, self.profile, src, dst)
        order = list(State)
        allowed = (
            ", ".join(s.value for s in sorted(self.transitions[src], key=order.index)) or "nothing"
        )
        who = f"a {self.kind.value} activity"
        if src == dst:
            why = "self-loops are never allowed"
        elif src in self.final or not self.transitions[src]:
            why = f"{src.value} is final for {who} under profile {self.profile.value}"
        elif dst in START_STATES and src not in START_STATES:
            why = f"{who} never returns to the start state {dst.value} from {src.value}"
        elif (src, dst) == (S, Q):
            why = "only server activities are re-queued when their schedule comes due"
        else:
            why = "the pair is not in the transition table (docs/spec.md, 'Transitions')"
        return self._refused(
            src,
            dst,
            f"{who} may not move {src.value} -> {dst.value}: {why}; "
            f"from {src.value} it may move to: {allowed}",
        )

    def _refused(self, src: State, dst: State, reason: str) -> MoveCheck:
        return MoveCheck(False, self.kind, self.profile, src, dst, reason)

    def allows_after(self, entered_from: State | None, src: State, dst: State) -> bool:
        """Is ``src -> dst`` allowed for an activity that entered ``src`` from ``entered_from``?

        ``entered_from`` is None when the activity was created in ``src`` (or its history is
        not known); a move with a history condition is then refused.
        """
        if dst not in self.transitions[src]:
            return False
        need = self.entered_from.get(src)
        return need is None or entered_from is need

    def check_after(self, entered_from: State | None, src: State, dst: State) -> MoveCheck:
        """``check`` with the history condition: the verdict and, if refused, why."""
        verdict = self.check(src, dst)
        if not verdict or self.allows_after(entered_from, src, dst):
            return verdict
        need = self.entered_from[src]
        return self._refused(
            src,
            dst,
            f"{src.value} -> {dst.value} is allowed only for a {self.kind.value} activity that "
            f"entered {src.value} from {need.value} (profile {self.profile.value}); this one "
            "did not",
        )

    def settled(self, state: State, entered_from: State | None) -> bool:
        """True when no move is open any more to an activity in ``state`` entered from there.

        A final state is settled; so is a state whose exits its history keeps closed (a
        client canceled before it ran, under result-wins, awaits no result).
        """
        if state in self.final:
            return True
        need = self.entered_from.get(state)
        return need is not None and entered_from is not need

    def as_dict(self) -> dict[str, object]:
        """The machine as plain JSON-able data, states in spec order."""
        order = list(State)
        return {
            "start": [s.value for s in order if s in self.start],
            "final": [s.value for s in order if s in self.final],
            "transitions": {
                s.value: [d.value for d in order if d in self.transitions[s]] for s in order
            },
        }


def _build(kind: Kind, profile: Profile) -> StateMachine:
    table = dict(_CLIENT if kind is Kind.CLIENT else _SERVER)
    final = set(FINAL_STATES)
    history: Mapping[State, State] = MappingProxyType({})
    if kind is Kind.CLIENT and profile is Profile.RESULT_WINS:
        table[X] = _RESULT_AFTER_CANCEL
        history = _RESULT_WINS_HISTORY
    else:
        final.add(X)
    moves = {(a, b) for a, dsts in table.items() for b in dsts}
    triggers = {m: t for m, t in _TRIGGERS[kind].items() if m in moves}  # per profile
    return StateMachine(kind, profile, START_STATES, frozenset(final), table, history, triggers)


#: Every (kind, profile) machine, built and self-checked at import.
MACHINES: Mapping[tuple[Kind, Profile], StateMachine] = MappingProxyType(
    {(k, p): _build(k, p) for k in Kind for p in Profile}
)


@cache
def machine(kind: Kind | str, profile: Profile | str | None = None) -> StateMachine:
    """The reference machine for ``kind`` under ``profile`` (default: result-wins)."""
    return MACHINES[(parse_kind(kind), parse_profile(profile))]


def check_move(
    kind: Kind | str, src: State | str, dst: State | str, profile: Profile | str | None = None
) -> MoveCheck:
    """Is ``src -> dst`` allowed for ``kind`` under ``profile``? Names may be aliases."""

    return machine(kind, profile).check(parse_state(src), parse_state(dst))
