"""What the checker's rules are made of; the rules themselves are in ``rules``.

State and kind codes (the integers both drivers judge with), the look-up tables of the
reference machines asked of ``activitykit.model``, the ``Context`` a clause may consult
besides its view, and the ``Clause`` and ``Rule`` types. Nothing here says what a trace
must do: ``rules`` defines every rule, with these.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import InputError
from ..model import Kind, Profile, State, machine, parse_profile

__all__ = [
    "KINDS",
    "KIND_CODE",
    "RESULT_TO",
    "STATES",
    "STATE_CODE",
    "STATE_NAMES",
    "Clause",
    "Context",
    "Pred",
    "Rule",
    "Table",
    "isin",
    "kind_name",
    "options",
    "settled_table",
    "state_name",
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


def isin(x: Any, *codes: int) -> Any:
    """``x in codes`` for a scalar or an array of codes."""
    out = x == codes[0]
    for c in codes[1:]:
        out = out | (x == c)
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
