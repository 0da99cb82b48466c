"""The online driver: judge records one at a time, as a simulator emits them.

``Checker.feed`` keeps one small slot object per activity holding the facts the rules read
(``activitykit.check.rules`` lists them), updates it from each record and asks the rule
clauses that apply to that record; for a transition only the clauses whose guard holds for
its (kind, from, to), tabulated once. The clauses are the ones ``batch`` evaluates over
columns, so the two drivers differ only in how they gather facts; a differential test holds
that part together.

Speed: the simulator feeds every record it writes (millions), so a conformant record costs
one pass over the tabulated predicates and nothing else; only a record some predicate finds
broken builds its ``Violation`` list (the predicates are pure, so asking them again is safe).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..errors import InputError
from ..model import Profile, State
from ..trace.schema import EVENT_KINDS
from . import rules as R
from .report import CheckReport, Violation, finalize

__all__ = ["Checker"]

# Plain-dict copies of the code tables: a read-only mapping proxy costs more per look-up,
# and these run for every created record.
_SC = dict(R.STATE_CODE)
_KC = dict(R.KIND_CODE)
_RESULT_TO = dict(R.RESULT_TO)
_OK = _SC[State.SUCCEEDED.value]
_NAN = math.nan


class _Fresh:
    """The view of a ``created`` or orphan record: one object, refilled per record (messages
    are written before the next record, so nothing keeps it)."""

    __slots__ = ("activity", "created_line", "line", "state", "t")


class _Act:
    """One created activity: its facts, and the current record's (the clauses' view)."""

    __slots__ = (
        "activity",
        "approve_line",
        "cancel_t",
        "ck",
        "computer",
        "consume_t",
        "created_line",
        "cur",
        "deliver_after",
        "deliver_t",
        "depends_on",
        "entered_from",
        "frm",
        "kind",
        "line",
        "op_delivered_line",
        "op_first_line",
        "operation_id",
        "ops",
        "own_computer",
        "progress_of",
        "record",
        "result_t",
        "result_to",
        "since",
        "since_line",
        "t",
        "threshold",
        "to",
        "type",
    )

    def __init__(self, ck: Checker, aid: str, rec: dict[str, Any], line: int) -> None:
        self.ck = ck
        self.activity = aid
        self.kind: int = _KC[rec["kind"]]
        self.type: str = rec.get("type", "")
        self.own_computer: str | None = rec.get("computer")
        self.cur: int = _SC[rec["state"]]
        self.since: float = rec["t"]
        self.since_line = self.created_line = line
        self.record: dict[str, Any] | None = rec
        self.entered_from = -1
        da = rec.get("deliver_after")
        self.deliver_after: float = _NAN if da is None else da
        self.depends_on: list[str] | None = rec.get("depends_on")
        self.progress_of: str | None = rec.get("progress_of")
        th = rec.get("threshold")
        self.threshold: float = _NAN if th is None or self.progress_of is None else th
        self.deliver_t = self.result_t = self.consume_t = self.cancel_t = _NAN
        self.result_to = -1
        self.approve_line = -1
        #: delivered operation ids (as text) -> line of the first deliver (None before any:
        #: a dict per activity is a tenth of a million-activity run's memory)
        self.ops: dict[str, int] | None = None

    # C7's facts, looked up only when a release is judged
    @property
    def unmet_dependency(self) -> str | None:
        done = self.ck._succeeded
        return next((d for d in self.depends_on or () if d not in done), None)

    @property
    def dep_unmet(self) -> bool:
        return self.unmet_dependency is not None

    @property
    def progress(self) -> float:
        v = self.ck._progress.get(self.progress_of) if self.progress_of is not None else None
        return -math.inf if v is None else v


def _preds(clauses: tuple[R.Clause, ...]) -> tuple:
    """The clauses' predicates, for the conformant-record fast path."""
    return tuple(c.broken for c in clauses)


class Checker:
    """Feed records in trace order; get each record's violations back at once.

    ``kinds`` names the event kinds the trace carries; causal rules whose record kinds are
    not among them are not judged (docs/trace-format.md). ``None`` means every kind the kit
    writes, the right choice for the simulator. Records must already be valid (``validate_record``
    shape, canonical state names); ``feed`` only enforces the non-decreasing ``t``.
    """

    def __init__(
        self,
        profile: Profile | str = Profile.RESULT_WINS,
        max_age: float | None = None,
        kinds: Collection[str] | None = None,
    ) -> None:
        self.profile = R.options(profile, max_age)
        self.max_age = max_age
        self.kinds = frozenset(EVENT_KINDS if kinds is None else kinds)
        self.active = R.active_rules(self.kinds)
        self._ctx = R.Context(self.profile, self.kinds)
        on = {
            e: R.active_clauses(self.kinds, e) for e in ("orphan", "created", "deliver", "result")
        }
        self._orphan, self._on_created = on["orphan"], on["created"]
        self._on_deliver, self._on_result = on["deliver"], on["result"]
        self._created_preds = _preds(self._on_created)
        self._deliver_preds = _preds(self._on_deliver)
        self._result_preds = _preds(self._on_result)
        moves = R.active_clauses(self.kinds, "transition")
        n = len(R.STATES)
        #: (kind, from name, to name) -> (from code, to code, the transition clauses whose
        #: guard holds for that move, their predicates); names are what records carry
        #: and whether the move leaves the activity settled (the report's unfinished test)
        self._moves: dict[tuple[int, str, str], tuple[int, int, tuple, tuple, bool]] = {}
        settled = R.settled_table(self.profile)
        for k in range(len(R.KINDS)):
            for f in range(n):
                for t in range(n):
                    guard = SimpleNamespace(kind=k, frm=f, to=t)
                    cs = tuple(c for c in moves if c.when is None or c.when(guard, self._ctx))
                    key = (k, R.STATES[f].value, R.STATES[t].value)
                    self._moves[key] = (f, t, cs, _preds(cs), bool(settled[k, f + 1, t]))
        self._fresh = _Fresh()
        self.clear()
        self._dispatch = {
            "created": self._created,
            "transition": self._transition,
            "deliver": self._deliver,
            "result": self._result,
            "consume": self._consume,
            "enqueue": self._noop,
            "approve": self._approve,
            "cancel": self._cancel,
            "progress": self._progress_rec,
        }

    def clear(self) -> None:
        """Forget every record fed so far (a fresh checker). Dropping a big run's state this
        way frees it by reference counting, far cheaper than leaving it to the cyclic
        collector (each slot object refers back to the checker)."""
        self._acts: dict[str, _Act] = {}
        self._orphans: set[str] = set()
        self._groups: dict[str, int] = {}
        self._progress: dict[str, float] = {}
        self._succeeded: dict[str, int] = {}
        self._ops: dict[tuple[str | None, str], int] = {}
        self._violations: list[Violation] = []
        self._records = 0
        self._last_t = -math.inf

    def _judge(
        self, clauses: Iterable[R.Clause], view: Any, rec: dict[str, Any], line: int, t: float
    ) -> list[Violation]:
        ctx = self._ctx
        return [
            Violation(c.rule, view.activity, t, line, rec, c.message(view, ctx))
            for c in clauses
            if c.broken(view, ctx)
        ]

    # -- driver --------------------------------------------------------------------------------
    def feed(self, record: dict[str, Any], line: int | None = None) -> list[Violation]:
        """Judge one record; returns its violations (empty when it is conformant)."""
        n = self._records = self._records + 1
        if line is None:
            line = n
        t = record["t"]
        if t < self._last_t:  # (-inf before the first record)
            raise InputError(
                f"t={t:g} is smaller than t={self._last_t:g} of the previous record; records "
                "must be in non-decreasing t order",
                source="<online>",
                line=line,
            )
        self._last_t = t
        ev = record["event"]
        handler = self._dispatch.get(ev)
        if handler is None:
            if ev == "group":
                self._groups.setdefault(record["activity"], line)
            return []
        aid = record["activity"]
        a = self._acts.get(aid)
        if a is None and ev != "created":
            if ev == "progress" and aid in self._groups:
                self._progress[aid] = record["value"]
                return []
            if aid in self._orphans:
                return []
            self._orphans.add(aid)
            view = self._fresh
            view.activity, view.t, view.line = aid, t, line
            out = self._judge(self._orphan, view, record, line, t)
        else:
            out = handler(record, line, t, aid, a)
        if out:
            self._violations.extend(out)
            return out
        return []

    def feed_many(self, records: Iterable[dict[str, Any]]) -> list[Violation]:
        out: list[Violation] = []
        for r in records:
            out.extend(self.feed(r))
        return out

    def finish(self, end_t: float | None = None) -> CheckReport:
        """The report: all violations so far, plus unfinished (and stuck) activities."""
        last = self._last_t if self._records else 0.0
        end = last if end_t is None else float(end_t)
        vals = list(self._acts.values())
        acts = {
            "activity": np.array(list(self._acts), dtype=object),
            "kind": np.array([a.kind for a in vals], dtype=np.int64),
            "state": np.array([a.cur for a in vals], dtype=np.int64),
            "entered_from": np.array([a.entered_from for a in vals], dtype=np.int64),
            "since": np.array([a.since for a in vals], dtype=np.float64),
            "line": np.array([a.since_line for a in vals], dtype=np.int64),
        }
        # (only an unfinished activity's record is ever asked for: STUCK)
        by_line = {a.since_line: a.record for a in vals if a.record is not None}

        def describe(idx: np.ndarray) -> tuple[list[str], list[str | None]]:
            return [vals[i].type for i in idx], [vals[i].own_computer for i in idx]

        return finalize(
            acts,
            self._violations,
            profile=self.profile,
            max_age=self.max_age,
            end_t=end,
            records=self._records,
            groups=len(self._groups),
            rules_skipped=[r for r in R.RULE_IDS if r not in self.active and r != "STUCK"],
            describe=describe,
            record_at=by_line.__getitem__,
        )

    @property
    def violations(self) -> list[Violation]:
        return list(self._violations)

    # -- handlers: update the facts, ask the clauses -------------------------------------------
    # Each returns the record's violations, or an empty tuple; a predicate that holds sends
    # the record to ``_judge`` for its messages.
    def _created(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act | None) -> Any:
        if a is None:
            self._acts[aid] = _Act(self, aid, rec, line)
        view = self._fresh
        view.activity, view.t, view.line = aid, t, line
        view.state = _SC[rec["state"]]
        view.created_line = -1 if a is None else a.created_line
        ctx = self._ctx
        for broken in self._created_preds:
            if broken(view, ctx):
                return self._judge(self._on_created, view, rec, line, t)
        return ()

    def _transition(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act) -> Any:
        frm, to, clauses, preds, settled = self._moves[a.kind, rec["from"], rec["to"]]
        a.frm, a.to, a.t, a.line = frm, to, t, line
        out: Any = ()
        ctx = self._ctx
        for broken in preds:
            if broken(a, ctx):
                out = self._judge(clauses, a, rec, line, t)
                break
        a.entered_from = frm
        a.cur = to
        a.since = t
        a.since_line = line
        # A settled activity's record is never asked for (``finish`` reports the unfinished
        # ones): letting it go keeps a million-activity run from holding a million records.
        a.record = None if settled else rec
        if to == _OK and aid not in self._succeeded:
            self._succeeded[aid] = line
        return out

    def _deliver(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act) -> Any:
        comp = rec["computer"]
        key = R.op_key(comp, rec["operation_id"])
        first = self._ops.get(key)
        a.computer, a.operation_id, a.t, a.line = comp, rec["operation_id"], t, line
        a.op_first_line = -1 if first is None else first
        out: Any = ()
        ctx = self._ctx
        for broken in self._deliver_preds:
            if broken(a, ctx):
                out = self._judge(self._on_deliver, a, rec, line, t)
                break
        if first is None:
            self._ops[key] = line
        a.deliver_t = t
        ops = a.ops
        if ops is None:
            a.ops = {key[1]: line}
        elif key[1] not in ops:
            ops[key[1]] = line
        return out

    def _result(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act) -> Any:
        op = rec["operation_id"]
        a.computer, a.operation_id, a.t, a.line = rec["computer"], op, t, line
        ops = a.ops
        a.op_delivered_line = -1 if ops is None else ops.get(R.op_key(None, op)[1], -1)
        out: Any = ()
        ctx = self._ctx
        for broken in self._result_preds:
            if broken(a, ctx):
                out = self._judge(self._on_result, a, rec, line, t)
                break
        a.result_t = t
        a.result_to = _RESULT_TO[rec["status"]]
        return out

    def _consume(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act) -> Any:
        a.consume_t = t
        return ()

    def _cancel(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act) -> Any:
        a.cancel_t = t
        return ()

    def _approve(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act) -> Any:
        a.approve_line = line
        return ()

    def _progress_rec(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act) -> Any:
        self._progress[aid] = rec["value"]
        return ()

    def _noop(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act) -> Any:
        return ()
