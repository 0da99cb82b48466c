"""The checker's rules, each defined once: id, one-line summary, predicates and messages.

Both drivers (``online.Checker`` record by record, ``batch.check`` on whole columns) judge
every record with the ``Clause`` objects below and nothing else: a driver only gathers the
*facts* a clause reads (what the activity's history says at that record) into a *view* and
asks the clause. The predicates are written with operators that mean the same on Python
scalars and on numpy arrays (``==``, ``!=``, ``<``, ``&``, ``|`` and table look-ups), so the
online driver evaluates them on one record and the batch driver on a column of records.
A differential test holds the two drivers' fact-gathering to identical verdicts. The
codes, tables and types the rules are written with are in ``machinery`` (and re-exported
here).

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
from types import MappingProxyType
from typing import Any

import numpy as np

from ..model import START_STATES, Kind
from .machinery import (
    KIND_CODE,
    KINDS,
    RESULT_TO,
    STATE_CODE,
    STATE_NAMES,
    STATES,
    Clause,
    Context,
    Rule,
    Table,
    isin,
    kind_name,
    options,
    settled_table,
    state_name,
)

__all__ = [
    "ACTIVITY_EVENTS",
    "CLAUSES",
    "KINDS",
    "KIND_CODE",
    "RESULT_TO",
    "RULES",
    "RULE_IDS",
    "RULE_ORDER",
    "STATES",
    "STATE_CODE",
    "STATE_NAMES",
    "Clause",
    "Context",
    "Rule",
    "active_clauses",
    "active_rules",
    "kind_name",
    "msg_stuck",
    "op_key",
    "options",
    "settled_table",
    "state_name",
]

_CLIENT = KIND_CODE[Kind.CLIENT.value]
_Q, _S, _W, _B, _IP, _OK, _KO, _X = (STATE_CODE[s.value] for s in STATES)

#: T1: is a state code a start state? (index -1, none, is not)
NOT_START = Table(np.array([s not in START_STATES for s in STATES] + [True]))


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
                when=lambda v, c: (v.kind == _CLIENT) & isin(v.to, _OK, _KO),
            ),
            Clause(
                "C2",
                "transition",
                lambda v, c: (v.result_t == v.t) & (v.result_to != v.to),
                lambda v, c: (
                    f"moved to {state_name(v.to)} but the result at the same t says "
                    f"{state_name(v.result_to).lower()}"
                ),
                when=lambda v, c: (v.kind == _CLIENT) & isin(v.to, _OK, _KO),
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
                when=lambda v, c: (v.frm == _B) & isin(v.to, _Q, _W),
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
                when=lambda v, c: (v.frm == _S) & isin(v.to, _Q, _IP),
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
                when=lambda v, c: (v.frm == _W) & isin(v.to, _Q, _IP),
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
