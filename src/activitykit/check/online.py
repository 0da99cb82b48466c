"""The online driver: judge records one at a time, as a simulator emits them.

``Checker.feed`` costs a few dict look-ups per record and keeps one small slot object per
activity, so a simulator can call it for every record it writes and stop at the first
violation. The verdicts are the ones of ``activitykit.check.batch`` (the rule semantics are
spelled out in ``activitykit.check.rules``); a differential test holds the two together.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from ..errors import InputError
from ..model import START_STATES, Kind, Profile, State
from ..trace.schema import EVENT_KINDS
from . import rules as R
from .report import CheckReport, Violation, finalize

__all__ = ["Checker"]

_START = frozenset(s.value for s in START_STATES)
_IP, _OK, _KO, _X = (
    State.IN_PROGRESS.value,
    State.SUCCEEDED.value,
    State.FAILED.value,
    State.CANCELED.value,
)
_Q, _S, _W, _B = State.QUEUED.value, State.SCHEDULED.value, State.WAITING.value, State.BLOCKED.value
_ENDS = {"succeeded": _OK, "failed": _KO, 6: _OK, 5: _KO, "6": _OK, "5": _KO}
_CLIENT = Kind.CLIENT.value


class _Act:
    """What the rules need to remember about one created activity."""

    __slots__ = (
        "approve_line",
        "cancel_t",
        "computer",
        "consume_t",
        "created_line",
        "deliver_after",
        "deliver_t",
        "depends_on",
        "entered_from",
        "kind",
        "line",
        "ops",
        "progress_of",
        "record",
        "result_status",
        "result_t",
        "since",
        "state",
        "threshold",
        "type",
    )

    def __init__(self, rec: dict[str, Any], line: int) -> None:
        self.kind: str = rec["kind"]
        self.type: str = rec.get("type", "")
        self.computer: str | None = rec.get("computer")
        self.state: str = rec["state"]
        self.since: float = rec["t"]
        self.line = self.created_line = line
        self.record = rec
        self.entered_from: str | None = None
        self.deliver_after: float | None = rec.get("deliver_after")
        self.depends_on: list[str] | None = rec.get("depends_on")
        self.progress_of: str | None = rec.get("progress_of")
        self.threshold: float | None = rec.get("threshold")
        self.deliver_t: float | None = None
        self.result_t: float | None = None
        self.result_status: str | None = None
        self.consume_t: float | None = None
        self.cancel_t: float | None = None
        self.approve_line: int | None = None
        self.ops: set[str] = set()


class Checker:
    """Feed records in trace order; get each record's violations back at once.

    ``kinds`` names the event kinds the trace carries; causal rules whose record kinds are
    not among them are not judged (TRACE.md). ``None`` means every kind the kit writes, the
    right choice for the simulator. Records must already be valid (``validate_record``
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
        self.active = frozenset(r.id for r in R.RULES.values() if r.needs <= self.kinds)
        self._result_ops = "result" in self.kinds and "deliver" in self.kinds
        self._allowed = {
            k.value: frozenset(
                (src.value, dst.value)
                for src, dsts in R.machine(k, self.profile).transitions.items()
                for dst in dsts
            )
            for k in Kind
        }
        self._result_wins = self.profile is Profile.RESULT_WINS
        self._acts: dict[str, _Act] = {}
        self._orphans: set[str] = set()
        self._groups: dict[str, int] = {}
        self._progress: dict[str, float] = {}
        self._succeeded: dict[str, int] = {}
        self._ops: dict[tuple[str, str], int] = {}
        self._violations: list[Violation] = []
        self._records = 0
        self._last_t = 0.0
        self._last_line: int | None = None
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

    # -- driver --------------------------------------------------------------------------------
    def feed(self, record: dict[str, Any], line: int | None = None) -> list[Violation]:
        """Judge one record; returns its violations (empty when it is conformant)."""
        self._records += 1
        if line is None:
            line = self._records
        t = record["t"]
        if t < self._last_t and self._records > 1:
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
        if ev == "created":
            out = self._created(record, line, t, aid)
        else:
            a = self._acts.get(aid)
            if a is None:
                if ev == "progress" and aid in self._groups:
                    self._progress[aid] = record["value"]
                    return []
                if aid in self._orphans:
                    return []
                self._orphans.add(aid)
                out = [Violation("T1", aid, t, line, record, R.msg_orphan(aid))]
            else:
                out = handler(record, line, t, aid, a)
        if out:
            self._violations.extend(out)
            return out  # type: ignore[return-value]
        return []

    def feed_many(self, records: Iterable[dict[str, Any]]) -> list[Violation]:
        out: list[Violation] = []
        for r in records:
            out.extend(self.feed(r))
        return out

    def finish(self, end_t: float | None = None) -> CheckReport:
        """The report: all violations so far, plus unfinished (and stuck) activities."""
        end = self._last_t if end_t is None else float(end_t)
        vals = list(self._acts.values())
        code = R.STATE_CODE
        acts = {
            "activity": np.array(list(self._acts), dtype=object),
            "kind": np.array([R.KIND_CODE[a.kind] for a in vals], dtype=np.int64),
            "state": np.array([code[a.state] for a in vals], dtype=np.int64),
            "entered_from": np.array(
                [-1 if a.entered_from is None else code[a.entered_from] for a in vals],
                dtype=np.int64,
            ),
            "since": np.array([a.since for a in vals], dtype=np.float64),
            "line": np.array([a.line for a in vals], dtype=np.int64),
        }
        by_line = {a.line: a.record for a in vals}

        def describe(idx: np.ndarray) -> tuple[list[str], list[str | None]]:
            return [vals[i].type for i in idx], [vals[i].computer for i in idx]

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

    # -- handlers ------------------------------------------------------------------------------
    def _created(self, rec: dict[str, Any], line: int, t: float, aid: str) -> list[Violation]:
        a = self._acts.get(aid)
        if a is not None:
            return [Violation("T1", aid, t, line, rec, R.msg_created_twice(aid, a.created_line))]
        self._acts[aid] = _Act(rec, line)
        if rec["state"] not in _START:
            return [Violation("T1", aid, t, line, rec, R.msg_not_start(rec["state"]))]
        return []

    def _transition(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act):
        frm, to = rec["from"], rec["to"]
        out: list[Violation] = []
        cur = a.state
        if frm != cur:
            out.append(Violation("T2", aid, t, line, rec, R.msg_from(aid, frm, cur)))
        client = a.kind == _CLIENT
        if (frm, to) not in self._allowed[a.kind]:
            out.append(
                Violation("T3", aid, t, line, rec, R.msg_pair(a.kind, self.profile, frm, to))
            )
        elif (
            client and frm == _X and self._result_wins and not (cur == _X and a.entered_from == _IP)
        ):
            out.append(Violation("T3", aid, t, line, rec, R.msg_cancel_history(to)))
        active = self.active
        if to == _IP:
            if client:
                if "C1" in active and a.deliver_t != t:
                    out.append(
                        Violation(
                            "C1", aid, t, line, rec, R.msg_no_cause("deliver", to, a.deliver_t)
                        )
                    )
            elif "C3" in active and a.consume_t != t:
                out.append(
                    Violation("C3", aid, t, line, rec, R.msg_no_cause("consume", to, a.consume_t))
                )
        elif to in (_OK, _KO):
            if client and "C2" in active:
                if a.result_t != t:
                    out.append(
                        Violation("C2", aid, t, line, rec, R.msg_no_cause("result", to, a.result_t))
                    )
                elif _ENDS[a.result_status] != to:  # type: ignore[index]
                    out.append(
                        Violation("C2", aid, t, line, rec, R.msg_status(to, a.result_status))
                    )  # type: ignore[arg-type]
        elif to == _X and "C5" in active and a.cancel_t != t:
            out.append(Violation("C5", aid, t, line, rec, R.msg_no_cause("cancel", to, a.cancel_t)))
        if frm == _B:
            if (
                to in (_Q, _W)
                and "C4" in active
                and (a.approve_line is None or a.approve_line < a.line)
            ):
                out.append(Violation("C4", aid, t, line, rec, R.msg_no_approve(to)))
        elif frm == _S:
            if to in (_Q, _IP) and a.deliver_after is not None and t < a.deliver_after:
                out.append(Violation("C6", aid, t, line, rec, R.msg_too_early(t, a.deliver_after)))
        elif frm == _W and to in (_Q, _IP):
            msg = self._c7(a)
            if msg:
                out.append(Violation("C7", aid, t, line, rec, msg))
        a.entered_from = frm
        a.state = to
        a.since = t
        a.line = line
        a.record = rec
        if to == _OK and aid not in self._succeeded:
            self._succeeded[aid] = line
        return out

    def _c7(self, a: _Act) -> str | None:
        if a.depends_on:
            for dep in a.depends_on:
                if dep not in self._succeeded:
                    return R.msg_dependency(dep)
        if a.progress_of is not None and "progress" in self.kinds:
            v = self._progress.get(a.progress_of)
            if v is None or v < a.threshold:  # type: ignore[operator]
                return R.msg_threshold(a.progress_of, v, a.threshold)  # type: ignore[arg-type]
        return None

    def _deliver(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act):
        out: list[Violation] = []
        comp = rec["computer"]
        if comp != a.computer:
            out.append(
                Violation("C8", aid, t, line, rec, R.msg_computer("deliver", comp, a.computer))
            )
        op = str(rec["operation_id"])
        if "C1" in self.active:
            key = (comp, op)
            first = self._ops.get(key)
            if first is not None:
                out.append(
                    Violation(
                        "C1", aid, t, line, rec, R.msg_op_reused(comp, rec["operation_id"], first)
                    )
                )
            else:
                self._ops[key] = line
        a.deliver_t = t
        a.ops.add(op)
        return out

    def _result(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act):
        out: list[Violation] = []
        comp = rec["computer"]
        if comp != a.computer:
            out.append(
                Violation("C8", aid, t, line, rec, R.msg_computer("result", comp, a.computer))
            )
        if self._result_ops and "C2" in self.active and str(rec["operation_id"]) not in a.ops:
            out.append(Violation("C2", aid, t, line, rec, R.msg_op_unknown(rec["operation_id"])))
        a.result_t = t
        a.result_status = rec["status"]
        return out

    def _consume(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act):
        a.consume_t = t
        return ()

    def _cancel(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act):
        a.cancel_t = t
        return ()

    def _approve(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act):
        a.approve_line = line
        return ()

    def _progress_rec(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act):
        self._progress[aid] = rec["value"]
        return ()

    def _noop(self, rec: dict[str, Any], line: int, t: float, aid: str, a: _Act):
        return ()
