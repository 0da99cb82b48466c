"""The checker's rules as data: ids, what each one needs, how its verdicts read.

Both drivers (``online.Checker`` record by record, ``batch.check`` on whole columns) take
the rule set, the transition matrices and every violation message from here, so they cannot
drift apart on what a rule means; a differential test holds them to identical verdicts.

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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ..errors import InputError
from ..model import Kind, Profile, State, machine, parse_profile

__all__ = [
    "ACTIVITY_EVENTS",
    "RULES",
    "RULE_IDS",
    "STATES",
    "STATE_CODE",
    "Rule",
    "allowed_matrix",
    "options",
]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    #: One line: what the rule demands (printed beside each violation).
    summary: str
    #: Event kinds the trace must carry for the rule to be judged (all of them).
    needs: frozenset[str] = frozenset()


_RULES = (
    Rule("T1", "every activity has one created record, before its other records, in a start state"),
    Rule("T2", "a transition's 'from' equals the activity's current state"),
    Rule("T3", "each from -> to pair is allowed for the activity's kind under the profile"),
    Rule(
        "C1",
        "a client activity enters In Progress only with a deliver of it at the same t; "
        "each deliver has a fresh operation_id",
        frozenset({"deliver"}),
    ),
    Rule(
        "C2",
        "a client activity ends Succeeded/Failed only with a matching result at the same t; "
        "a result needs a delivered operation_id",
        frozenset({"result"}),
    ),
    Rule(
        "C3",
        "a server activity enters In Progress only with a consume of it at the same t",
        frozenset({"consume"}),
    ),
    Rule(
        "C4",
        "Blocked -> Queued/Waiting only after an approve of it",
        frozenset({"approve"}),
    ),
    Rule(
        "C5", "any move to Canceled only with a cancel of it at the same t", frozenset({"cancel"})
    ),
    Rule("C6", "Scheduled -> Queued/In Progress not before its deliver_after"),
    Rule(
        "C7",
        "Waiting -> Queued/In Progress only once every depends_on activity Succeeded and the "
        "progress_of activity reached its threshold",
    ),
    Rule("C8", "a deliver or result names the activity's own computer"),
    Rule("STUCK", "no activity stays unfinished longer than --max-age seconds"),
)
#: Every rule by id, in report order.
RULES: Mapping[str, Rule] = MappingProxyType({r.id: r for r in _RULES})
RULE_IDS: tuple[str, ...] = tuple(RULES)
RULE_ORDER: Mapping[str, int] = MappingProxyType({r: i for i, r in enumerate(RULE_IDS)})

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

#: States in spec order; the integer codes index ``allowed_matrix``.
STATES: tuple[State, ...] = tuple(State)
STATE_CODE: Mapping[str, int] = MappingProxyType({s.value: i for i, s in enumerate(STATES)})
KIND_CODE: Mapping[str, int] = MappingProxyType({Kind.CLIENT.value: 0, Kind.SERVER.value: 1})


def allowed_matrix(kind: Kind | str, profile: Profile | str) -> np.ndarray:
    """8x8 boolean matrix ``m[src, dst]`` of the reference machine (``activitykit.model``)."""
    m = machine(kind, profile)
    out = np.zeros((len(STATES), len(STATES)), dtype=bool)
    for src, dsts in m.transitions.items():
        for dst in dsts:
            out[STATE_CODE[src.value], STATE_CODE[dst.value]] = True
    return out


def options(profile: Profile | str, max_age: float | None) -> Profile:
    """Both drivers' checked options: the parsed profile (``max_age`` must be >= 0 or None)."""
    try:
        prof = parse_profile(profile)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if max_age is not None and not max_age >= 0:
        raise InputError(f"max_age (--max-age) must be >= 0 seconds, got {max_age!r}")
    return prof


# -- messages ---------------------------------------------------------------------------------
# One function per verdict, used by both drivers. Each returns the specific one-line reason.


def msg_orphan(activity: str) -> str:
    return f"record for activity {activity} before any created record of it"


def msg_created_twice(activity: str, first_line: int) -> str:
    return f"activity {activity} created a second time (first created on line {first_line})"


def msg_not_start(state: str) -> str:
    return f"created in {state}, which is not a start state (Queued, Scheduled, Waiting, Blocked)"


def msg_from(activity: str, frm: str, current: str) -> str:
    return f"transition from {frm} but activity {activity} is in {current}"


def msg_pair(kind: str, profile: Profile, frm: str, to: str) -> str:
    return machine(kind, profile).check(State(frm), State(to)).reason


def msg_cancel_history(to: str) -> str:
    return (
        f"Canceled -> {to} is allowed only for a client activity canceled while In Progress "
        "(profile result-wins); this one was not"
    )


def msg_no_cause(what: str, to: str, last_t: float | None) -> str:
    seen = "none earlier" if last_t is None else f"the latest was at t={last_t:g}"
    return f"moved to {to} without a {what} of it at the same t ({seen})"


def msg_status(to: str, status: str) -> str:
    return f"moved to {to} but the result at the same t says {status}"


def msg_op_reused(computer: str, op: object, first_line: int) -> str:
    return f"operation_id {op!r} for computer {computer} was already delivered on line {first_line}"


def msg_op_unknown(op: object) -> str:
    return f"result for operation_id {op!r}, which was never delivered for this activity"


def msg_no_approve(to: str) -> str:
    return f"Blocked -> {to} without an approve since it became Blocked"


def msg_too_early(t: float, deliver_after: float) -> str:
    return f"left Scheduled at t={t:g}, before its deliver_after={deliver_after:g}"


def msg_dependency(dep: str) -> str:
    return f"released while its dependency {dep} had not Succeeded"


def msg_threshold(of: str, value: float | None, threshold: float) -> str:
    got = "no progress yet" if value is None else f"progress {value:g}"
    return f"released while {of} had {got}, below the threshold {threshold:g}"


def msg_computer(event: str, computer: str, own: str | None) -> str:
    own_txt = "a server activity (no computer)" if own is None else f"computer {own}"
    return f"{event} for computer {computer} but the activity belongs to {own_txt}"


def msg_stuck(state: str, age: float, max_age: float) -> str:
    return f"unfinished in {state} for {age:g} s, longer than --max-age {max_age:g} s"
