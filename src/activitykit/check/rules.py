"""The checker's rules, each defined once: id, one-line summary, predicates and messages.

Both drivers (``online.Checker`` record by record, ``batch.check`` on whole columns) judge
every record with the ``Clause`` objects below and nothing else: a driver only gathers the
*facts* a clause reads (what the activity's history says at that record) into a *view* and
asks the clause. The predicates are written with operators that mean the same on Python
scalars and on numpy arrays (``==``, ``!=``, ``<``, ``&``, ``|`` and table look-ups), so the
online driver evaluates them on one record and the batch driver on a column of records.
A differential test holds the two drivers' fact-gathering to identical verdicts.

Precise semantics (shared by both drivers, documented in docs/checker.md):

- Records are judged in file order. An activity's records before its first ``created``
  record (or all of them, when it has none) are *orphans*: the first one is a T1 violation
  and none of them is judged by any other rule. ``group``, ``ack``, ``fault`` and
  ``exchange`` records and unknown event kinds are not activity records; a ``progress``
  record naming an activity declared by an earlier ``group`` record is not an orphan.
- The state of an activity is the ``to`` of its latest transition (the ``state`` of its
  ``created`` record before that), even when that transition broke a rule, so one bad move
  is reported once rather than cascading.
- "At the same ``t``" means: the latest record of that kind for the activity, earlier in
  the file (cause before effect), has the same ``t``.

The facts a view carries (states and kinds as the integer codes ``STATE_CODE`` /
``KIND_CODE``, -1 for none; times NaN for none):

- every view: ``activity``, ``t`` and ``line`` of the record judged;
- ``created``: ``state`` (its code) and ``created_line`` (an earlier created record, -1);
- ``transition``: ``kind``, ``frm``, ``to``; ``cur`` (the state before the record),
  ``entered_from`` (the state ``cur`` was entered from), ``since_line`` (the line that put
  it in ``cur``); ``deliver_t``, ``consume_t``, ``cancel_t``, ``result_t`` (the latest such
  record of the activity); ``result_to`` (the state that result's status ends in);
  ``approve_line`` (the latest approve, -1); ``deliver_after``; ``dep_unmet`` (some
  ``depends_on`` activity had not Succeeded) and ``unmet_dependency`` (the first one);
  ``progress_of``, ``threshold`` (NaN without ``progress_of``) and ``progress`` (the latest
  value of the ``progress_of`` activity, -inf before any);
- ``deliver`` / ``result``: ``computer`` (the record's), ``own_computer`` (its created
  record's), ``operation_id``; ``op_first_line`` (deliver: an earlier deliver of the same id
  for that computer, -1), ``op_delivered_line`` (result: a deliver of the same id to this
  activity earlier, -1). Operation ids compare by their text.

In a batch view, text facts may be integer codes; the driver decodes the few rows whose
messages it writes, so messages always see names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import InputError
from ..model import START_STATES, Kind, Profile, State, machine, parse_profile

__all__ = [
    "ACTIVITY_EVENTS",
    "CLAUSES",
    "RULES",
    "RULE_IDS",
    "STATES",
    "STATE_CODE",
    "Clause",
    "Context",
    "Rule",
    "options",
]

#: States in spec order; the integer codes index the tables of ``Context``.
STATES: tuple[State, ...] = tuple(State)
STATE_CODE: Mapping[str, int] = MappingProxyType({s.value: i for i, s in enumerate(STATES)})
KIND_CODE: Mapping[str, int] = MappingProxyType({Kind.CLIENT.value: 0, Kind.SERVER.value: 1})
#: Kinds by code (``KIND_CODE`` order).
KINDS: tuple[Kind, ...] = (Kind.CLIENT, Kind.SERVER)
#: code -> state name (code -1, none, reads None)
STATE_NAMES: tuple[str | None, ...] = (*(s.value for s in STATES), None)
#: result status -> the state code it ends a client activity in (the spellings validated
#: records carry: names and Landscape's numeric codes).
RESULT_TO: Mapping[Any, int] = MappingProxyType(
    {
        **dict.fromkeys(("succeeded", 6, "6"), STATE_CODE[State.SUCCEEDED.value]),
        **dict.fromkeys(("failed", 5, "5"), STATE_CODE[State.FAILED.value]),
    }
)
_CLIENT = KIND_CODE[Kind.CLIENT.value]
_Q, _S, _W, _B, _IP, _OK, _KO, _X = (STATE_CODE[s.value] for s in STATES)


class Table:
    """A boolean table indexed by codes: a column for arrays of codes, one cell for ints.

    The cells are also kept in a dict because the online driver looks up one cell per
    record, and a dict look-up costs a fraction of indexing a numpy array with scalars.
    """

    __slots__ = ("array", "cells")

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.array.setflags(write=False)
        self.cells: dict[Any, bool] = {
            (i[0] if len(i) == 1 else i): bool(v) for i, v in np.ndenumerate(array)
        }

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.cells[key]
        except (KeyError, TypeError):  # arrays of codes (unhashable), or codes out of range
            return self.array[key]


#: T1: is a state code a start state? (index -1, none, is not)
NOT_START = Table(np.array([s not in START_STATES for s in STATES] + [True]))


def state_name(code: Any) -> str | None:
    return STATE_NAMES[int(code)]


def kind_name(code: Any) -> str:
    return KINDS[int(code)].value


class Context:
    """What a clause may consult besides its view: the machines of a profile, the kinds.

    The tables are derived from ``activitykit.model`` (the moves and the history condition
    are defined there), as arrays so one look-up serves a scalar or a column of codes.
    """

    def __init__(self, profile: Profile, kinds: Collection[str]) -> None:
        self.profile = profile
        self.kinds = frozenset(kinds)
        #: C7's threshold part is judged only when the trace records progress.
        self.has_progress = "progress" in self.kinds
        self.refused, self.refused_after, self.settled = _tables(profile)

    def move_reason(self, v: Any) -> str:
        """The model's reason for refusing a transition view's move (T3's message)."""
        came = state_name(v.entered_from) if v.cur == v.frm else None
        m = machine(kind_name(v.kind), self.profile)
        frm, to = State(state_name(v.frm)), State(state_name(v.to))
        return m.check_after(None if came is None else State(came), frm, to).reason


@cache
def _tables(profile: Profile) -> tuple[Table, Table, np.ndarray]:
    """``refused[kind, frm, to]``: not allowed whatever the history (or only with one);
    ``refused_after[kind, entered_from + 1, frm, to]``: refused given that history;
    ``settled[kind, entered_from + 1, state]``: no move is open any more (the report's
    unfinished test). All asked of the model, for every code."""
    ns = len(STATES)
    refused = np.ones((len(KINDS), ns, ns), dtype=bool)
    refused_after = np.ones((len(KINDS), ns + 1, ns, ns), dtype=bool)
    settled = np.zeros((len(KINDS), ns + 1, ns), dtype=bool)
    history: tuple[State | None, ...] = (None, *STATES)
    for k, kind in enumerate(KINDS):
        m = machine(kind, profile)
        for f, src in enumerate(STATES):
            for t, dst in enumerate(STATES):
                refused[k, f, t] = not m.allows(src, dst) or src in m.entered_from
                for e, came in enumerate(history):
                    refused_after[k, e, f, t] = not m.allows_after(came, src, dst)
            for e, came in enumerate(history):
                settled[k, e, f] = m.settled(src, came)
    settled.setflags(write=False)
    return Table(refused), Table(refused_after), settled


def settled_table(profile: Profile) -> np.ndarray:
    """``[kind, entered_from + 1, state]``: is an activity that ended there finished?"""
    return _tables(profile)[2]


Pred = Callable[[Any, Context], Any]


@dataclass(frozen=True, slots=True)
class Clause:
    """One way to break a rule: on which records, when it applies, the test, the message."""

    rule: str
    #: The records it judges: ``orphan`` (an activity's first one), ``created``,
    #: ``transition``, ``deliver`` or ``result``.
    on: str
    #: True (per record) when the rule is broken.
    broken: Pred
    #: The one-line reason, for a view where ``broken`` holds (scalar facts).
    message: Callable[[Any, Context], str]
    #: Transitions only: a guard over ``kind``, ``frm`` and ``to`` alone (and the context's
    #: tables), so the online driver tabulates it per move and the batch driver gathers facts
    #: for those rows only. The clause is broken where ``when & broken`` holds.
    when: Pred | None = None
    #: Event kinds this clause needs beyond its rule's.
    needs: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    #: One line: what the rule demands (printed beside each violation).
    summary: str
    #: Event kinds the trace must carry for the rule to be judged (all of them).
    needs: frozenset[str] = frozenset()
    clauses: tuple[Clause, ...] = field(default=())


def _isin(x: Any, *codes: int) -> Any:
    """``x in codes`` for a scalar or an array of codes."""
    out = x == codes[0]
    for c in codes[1:]:
        out = out | (x == c)
    return out


def _no_cause(what: str, last_t: str) -> Callable[[Any, Context], str]:
    def message(v: Any, ctx: Context) -> str:
        last = getattr(v, last_t)
        seen = "none earlier" if math.isnan(last) else f"the latest was at t={last:g}"
        return f"moved to {state_name(v.to)} without a {what} of it at the same t ({seen})"

    return message


def _computer_message(event: str) -> Callable[[Any, Context], str]:
    def message(v: Any, ctx: Context) -> str:
        own = v.own_computer
        own_txt = "a server activity (no computer)" if own is None else f"computer {own}"
        return f"{event} for computer {v.computer} but the activity belongs to {own_txt}"

    return message


def _c7_message(v: Any, ctx: Context) -> str:
    if v.dep_unmet:
        return f"released while its dependency {v.unmet_dependency} had not Succeeded"
    got = "no progress yet" if v.progress == -math.inf else f"progress {v.progress:g}"
    return f"released while {v.progress_of} had {got}, below the threshold {v.threshold:g}"


def _c8(event: str) -> Clause:
    return Clause("C8", event, lambda v, c: v.computer != v.own_computer, _computer_message(event))


_RULES = (
    Rule(
        "T1",
        "every activity has one created record, before its other records, in a start state",
        clauses=(
            Clause(
                "T1",
                "orphan",
                lambda v, c: True,
                lambda v, c: f"record for activity {v.activity} before any created record of it",
            ),
            Clause(
                "T1",
                "created",
                lambda v, c: v.created_line >= 0,
                lambda v, c: (
                    f"activity {v.activity} created a second time (first created on line "
                    f"{v.created_line})"
                ),
            ),
            Clause(
                "T1",
                "created",
                lambda v, c: (v.created_line < 0) & NOT_START[v.state],
                lambda v, c: (
                    f"created in {state_name(v.state)}, which is not a start state (Queued, "
                    "Scheduled, Waiting, Blocked)"
                ),
            ),
        ),
    ),
    Rule(
        "T2",
        "a transition's 'from' equals the activity's current state",
        clauses=(
            Clause(
                "T2",
                "transition",
                lambda v, c: v.frm != v.cur,
                lambda v, c: (
                    f"transition from {state_name(v.frm)} but activity {v.activity} is in "
                    f"{state_name(v.cur)}"
                ),
            ),
        ),
    ),
    Rule(
        "T3",
        "each from -> to pair is allowed for the activity's kind under the profile",
        clauses=(
            # the move is refused by the table (the guard: most moves never need the rest), and
            # either T2 broke too or it needs a history (result-wins: Canceled entered from
            # In Progress) that the activity lacks
            Clause(
                "T3",
                "transition",
                lambda v, c: (
                    (v.cur != v.frm) | c.refused_after[v.kind, v.entered_from + 1, v.frm, v.to]
                ),
                lambda v, c: c.move_reason(v),
                when=lambda v, c: c.refused[v.kind, v.frm, v.to],
            ),
        ),
    ),
    Rule(
        "C1",
        "a client activity enters In Progress only with a deliver of it at the same t; "
        "each deliver has a fresh operation_id",
        frozenset({"deliver"}),
        (
            Clause(
                "C1",
                "transition",
                lambda v, c: v.deliver_t != v.t,
                _no_cause("deliver", "deliver_t"),
                when=lambda v, c: (v.kind == _CLIENT) & (v.to == _IP),
            ),
            Clause(
                "C1",
                "deliver",
                lambda v, c: v.op_first_line >= 0,
                lambda v, c: (
                    f"operation_id {v.operation_id!r} for computer {v.computer} was already "
                    f"delivered on line {v.op_first_line}"
                ),
            ),
        ),
    ),
    Rule(
        "C2",
        "a client activity ends Succeeded/Failed only with a matching result at the same t; "
        "a result needs a delivered operation_id",
        frozenset({"result"}),
        (
            Clause(
                "C2",
                "transition",
                lambda v, c: v.result_t != v.t,
                _no_cause("result", "result_t"),
                when=lambda v, c: (v.kind == _CLIENT) & _isin(v.to, _OK, _KO),
            ),
            Clause(
                "C2",
                "transition",
                lambda v, c: (v.result_t == v.t) & (v.result_to != v.to),
                lambda v, c: (
                    f"moved to {state_name(v.to)} but the result at the same t says "
                    f"{state_name(v.result_to).lower()}"
                ),
                when=lambda v, c: (v.kind == _CLIENT) & _isin(v.to, _OK, _KO),
            ),
            Clause(
                "C2",
                "result",
                lambda v, c: v.op_delivered_line < 0,
                lambda v, c: (
                    f"result for operation_id {v.operation_id!r}, which was never delivered "
                    "for this activity"
                ),
                needs=frozenset({"deliver"}),
            ),
        ),
    ),
    Rule(
        "C3",
        "a server activity enters In Progress only with a consume of it at the same t",
        frozenset({"consume"}),
        (
            Clause(
                "C3",
                "transition",
                lambda v, c: v.consume_t != v.t,
                _no_cause("consume", "consume_t"),
                when=lambda v, c: (v.kind != _CLIENT) & (v.to == _IP),
            ),
        ),
    ),
    Rule(
        "C4",
        "Blocked -> Queued/Waiting only after an approve of it",
        frozenset({"approve"}),
        (
            Clause(
                "C4",
                "transition",
                lambda v, c: v.approve_line < v.since_line,
                lambda v, c: (
                    f"Blocked -> {state_name(v.to)} without an approve since it became Blocked"
                ),
                when=lambda v, c: (v.frm == _B) & _isin(v.to, _Q, _W),
            ),
        ),
    ),
    Rule(
        "C5",
        "any move to Canceled only with a cancel of it at the same t",
        frozenset({"cancel"}),
        (
            Clause(
                "C5",
                "transition",
                lambda v, c: v.cancel_t != v.t,
                _no_cause("cancel", "cancel_t"),
                when=lambda v, c: v.to == _X,
            ),
        ),
    ),
    Rule(
        "C6",
        "Scheduled -> Queued/In Progress not before its deliver_after",
        clauses=(
            Clause(
                "C6",
                "transition",
                lambda v, c: v.t < v.deliver_after,  # False when there is none (NaN)
                lambda v, c: (
                    f"left Scheduled at t={v.t:g}, before its deliver_after={v.deliver_after:g}"
                ),
                when=lambda v, c: (v.frm == _S) & _isin(v.to, _Q, _IP),
            ),
        ),
    ),
    Rule(
        "C7",
        "Waiting -> Queued/In Progress only once every depends_on activity Succeeded and the "
        "progress_of activity reached its threshold",
        clauses=(
            Clause(
                "C7",
                "transition",
                # threshold NaN (no progress_of) compares False: only the dependencies count
                lambda v, c: v.dep_unmet | (c.has_progress & (v.progress < v.threshold)),
                _c7_message,
                when=lambda v, c: (v.frm == _W) & _isin(v.to, _Q, _IP),
            ),
        ),
    ),
    Rule(
        "C8",
        "a deliver or result names the activity's own computer",
        clauses=(_c8("deliver"), _c8("result")),
    ),
    Rule("STUCK", "no activity stays unfinished longer than --max-age seconds"),
)
#: Every rule by id, in report order.
RULES: Mapping[str, Rule] = MappingProxyType({r.id: r for r in _RULES})
RULE_IDS: tuple[str, ...] = tuple(RULES)
RULE_ORDER: Mapping[str, int] = MappingProxyType({r: i for i, r in enumerate(RULE_IDS)})
#: Every clause, in rule order (the order violations of one record are reported in).
CLAUSES: tuple[Clause, ...] = tuple(c for r in _RULES for c in r.clauses)


def active_clauses(kinds: Collection[str], on: str) -> tuple[Clause, ...]:
    """The clauses judged on ``on`` records of a trace carrying the event kinds ``kinds``."""
    have = frozenset(kinds)
    return tuple(
        c for c in CLAUSES if c.on == on and RULES[c.rule].needs <= have and c.needs <= have
    )


def active_rules(kinds: Collection[str]) -> frozenset[str]:
    """Rules judged on a trace carrying the event kinds ``kinds``."""
    have = frozenset(kinds)
    return frozenset(r.id for r in _RULES if r.needs <= have)


def op_key(computer: str | None, operation_id: Any) -> tuple[str | None, str]:
    """What makes a delivered operation id fresh (C1): per computer, compared by its text."""
    return computer, str(operation_id)


def msg_stuck(state: str, age: float, max_age: float) -> str:
    return f"unfinished in {state} for {age:g} s, longer than --max-age {max_age:g} s"


#: Events that belong to one activity's history (the T1 "other records").
ACTIVITY_EVENTS: frozenset[str] = frozenset(
    {
        "created",
        "transition",
        "deliver",
        "result",
        "consume",
        "enqueue",
        "approve",
        "cancel",
        "progress",
    }
)


def options(profile: Profile | str, max_age: float | None) -> Profile:
    """Both drivers' checked options: the parsed profile (``max_age`` must be >= 0 or None)."""
    try:
        prof = parse_profile(profile)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if max_age is not None and not max_age >= 0:
        raise InputError(f"max_age (--max-age) must be >= 0 seconds, got {max_age!r}")
    return prof
