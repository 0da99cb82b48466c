"""The batch driver: judge a whole trace at once with column operations.

The trace is a pyarrow Table; text columns become integer codes by dictionary encoding
(no Python string objects for the millions of rows), records of each activity are brought
together with one stable sort on the activity code (file order kept inside an activity),
the previous state of every transition is a shift, the allowed-pair test is a look-up in
the 8x8 boolean matrices of the reference machines, and "the latest deliver/result/consume/
cancel/approve of this activity before this row" is a running maximum of row positions,
cut at the activity's first row. Only violating rows are turned back into Python objects.

The rule semantics are those of ``activitykit.check.rules``; ``online.Checker`` applies the
same ones record by record, and a differential test holds the two drivers together.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import Profile
from ..trace.validate import one_array
from . import rules as R
from .report import CheckReport, Violation, finalize
from .table import NONE as _NONE
from .table import Columns, first_lines, load_table, op_keys, release_facts
from .views import View
from .views import judge as judge_view

__all__ = ["check", "check_table", "load_table"]

_SC = R.STATE_CODE
_OK = _SC["Succeeded"]
#: Transitions judged in two halves at once from this many on (below, one view is cheaper:
#: each clause has a fixed cost per view).
SPLIT_TRANSITIONS = 1 << 16


def check(
    source: Any,
    *,
    profile: Profile | str = Profile.RESULT_WINS,
    max_age: float | None = None,
    input_format: str | None = None,
) -> CheckReport:
    """Check a trace (a path, a DataFrame or an iterable of record dicts) against the trace format.

    Raises ``InputError`` for input that cannot be judged (the message names file, line and
    rule); everything well-formed but wrong becomes a violation in the report.
    """
    prof = R.options(profile, max_age)
    return check_table(load_table(source, input_format), profile=prof, max_age=max_age)


def check_table(
    table: pa.Table, *, profile: Profile = Profile.RESULT_WINS, max_age: float | None = None
) -> CheckReport:
    """Judge a validated trace table (as ``load_table`` returns it)."""
    c = Columns(table)
    n = c.n
    line = np.asarray(table.column("line").to_numpy(), np.int64) if n else np.zeros(0, np.int64)
    t = c.num("t")
    ev_codes, ev_dict = c.encoded("event")
    ev_names = ev_dict.to_pylist() if len(ev_dict) else []
    kinds = frozenset(ev_names)
    active = frozenset(r.id for r in R.RULES.values() if r.needs <= kinds)

    ev_masks: dict[tuple[str, ...], np.ndarray] = {}

    def is_ev(*names: str) -> np.ndarray:
        """Rows whose event is one of ``names`` (a table look-up on the event codes).

        The judging threads call it too: two may build the same mask at once, which costs
        the work twice and nothing else (the masks are equal; one assignment wins)."""
        if names not in ev_masks:
            lut = np.zeros(len(ev_names) + 1, dtype=bool)
            for x in names:
                if x in ev_names:
                    lut[ev_names.index(x)] = True
            ev_masks[names] = lut[ev_codes]
        return ev_masks[names]

    acode, adict = c.encoded("activity")
    na = len(adict)
    anames = (
        np.asarray(adict.to_numpy(zero_copy_only=False), dtype=object)
        if na
        else np.zeros(0, object)
    )
    big = np.iinfo(np.int64).max
    is_created = is_ev("created")
    is_group = is_ev("group")
    is_progress = is_ev("progress")
    has_act = acode >= 0
    is_act_ev = is_ev(*R.ACTIVITY_EVENTS) & has_act
    group_line = first_lines(acode[is_group & has_act], na, line[is_group & has_act], big)
    c0 = first_lines(acode[is_created & has_act], na, line[is_created & has_act], big)
    ac = np.where(has_act, acode, 0)
    if na:
        c0_row = c0[ac]
        before = line < c0_row
        group_progress = is_progress & (group_line[ac] < line) & before
    else:
        c0_row = np.full(n, big, dtype=np.int64)
        before = np.ones(n, dtype=bool)
        group_progress = np.zeros(n, dtype=bool)
    orphan = is_act_ev & ~is_created & before & ~group_progress
    dup_created = is_created & has_act & (line > c0_row)
    first_created = is_created & has_act & (line == c0_row)

    found: list[tuple[str, int, str]] = []  # (rule, table row, message)
    ctx = R.Context(profile, kinds)
    # The clauses are judged on worker threads, beside the gathering of the next facts
    # (numpy and pyarrow release the GIL): T1's, then the deliver and result records (their
    # facts gathered there too) while this thread gathers the transitions' facts, then the
    # transitions (in two halves at once from SPLIT_TRANSITIONS of them on). Violations are
    # gathered in the order submitted; ``finalize`` sorts them by (line, rule, activity),
    # and the clauses finding one row are judged in one piece, so the report is the one a
    # single thread makes.
    try:
        pool = ThreadPoolExecutor(2, thread_name_prefix="check-judge")
        aside: list[Future[list]] = []
        #: facts of the transitions built once for both halves (the first to need one builds it)
        lazy = threading.Lock()

        # one sort of the valid records' (activity code, row) keys in one integer: grouped by
        # activity, file order inside (a plain sort of integers is several times faster than a
        # stable argsort; rows and codes fit 32 bits, far beyond MAX_TRACE_BYTES of records); on
        # a worker while T1's facts are gathered here
        valid = is_act_ev & ~orphan & ~dup_created
        vrows = np.flatnonzero(valid)
        grouped = pool.submit(lambda: np.sort((acode[vrows].astype(np.int64) << 32) | vrows))

        def judge(on: str, facts: dict[str, Any], base: np.ndarray, parts: int = 1) -> None:
            """Evaluate the clauses on ``on`` records over views of ``base``'s facts (``parts``
            of them, judged at once), aside."""
            clauses = R.active_clauses(kinds, on)
            for piece in np.array_split(base, parts) if parts > 1 else (base,):
                aside.append(pool.submit(judge_view, clauses, View(facts, piece, decode), ctx, []))

        decode: dict[str, Any] = {"activity": lambda code: str(anames[code])}

        def record_facts(rows: np.ndarray) -> dict[str, Any]:
            """Facts every view has, for a view over positions in ``rows`` (table rows)."""
            return {
                "row": lambda j: rows[j],
                "activity": lambda j: acode[rows[j]],
                "t": lambda j: t[rows[j]],
                "line": lambda j: line[rows[j]],
            }

        # -- T1: orphans and created records ------------------------------------------------------
        orow = np.flatnonzero(orphan)
        if len(orow):
            _, first = np.unique(acode[orow], return_index=True)
            judge("orphan", record_facts(orow[first]), np.arange(len(first)))
        fc_rows = np.flatnonzero(first_created)
        fc_state = c.codes_at("state", _SC, fc_rows)
        dup_rows = np.flatnonzero(dup_created)
        cr_rows = np.concatenate((fc_rows, dup_rows))
        cr_state = np.concatenate((fc_state, c.codes_at("state", _SC, dup_rows)))
        cr_first = np.concatenate((np.full(len(fc_rows), _NONE), c0[acode[dup_rows]]))
        judge(
            "created",
            {
                **record_facts(cr_rows),
                "state": lambda j: cr_state[j],
                "created_line": lambda j: cr_first[j],
            },
            np.arange(len(cr_rows)),
        )

        # -- per-activity facts from the first created record -------------------------------------
        kind_of = np.full(na, _NONE, dtype=np.int64)
        kind_of[acode[fc_rows]] = c.codes_at("kind", R.KIND_CODE, fc_rows)
        state_of = np.full(na, _NONE, dtype=np.int64)
        state_of[acode[fc_rows]] = fc_state
        created_row = np.full(na, _NONE, dtype=np.int64)
        created_row[acode[fc_rows]] = fc_rows

        # -- deliver / result records (judged on a worker, see above) -----------------------------
        def judge_ops() -> list[tuple[str, int, str]]:
            """The deliver and result clauses' violations, their facts gathered here too."""
            # computers matter on created, deliver and result rows only: encode just those
            comp_rows = np.flatnonzero(first_created | is_ev("deliver", "result"))
            comp_codes = np.full(n, _NONE, dtype=np.int64)
            comp_dict: Any = pa.array([], pa.string())
            if c.has("computer") and len(comp_rows):
                part = one_array(c.table.column("computer").take(pa.array(comp_rows)))
                enc = part if pa.types.is_dictionary(part.type) else pc.dictionary_encode(part)
                comp_codes[comp_rows] = pc.fill_null(enc.indices, _NONE).to_numpy()
                comp_dict = enc.dictionary
            comp_of = np.full(na, _NONE, dtype=np.int64)
            comp_of[acode[fc_rows]] = comp_codes[fc_rows]
            d_rows = np.flatnonzero(is_ev("deliver") & valid)
            r_rows = np.flatnonzero(is_ev("result") & valid)
            # its own decoders: the transitions' views read ``decode`` on the other threads
            own = lambda code: None if code < 0 else comp_dict[int(code)].as_py()  # noqa: E731
            ops_decode = {**decode, "computer": own, "own_computer": own}

            def op_facts(rows: np.ndarray) -> dict[str, Any]:
                return {
                    **record_facts(rows),
                    "computer": lambda j: comp_codes[rows[j]],
                    "own_computer": lambda j: comp_of[acode[rows[j]]],
                    "operation_id": lambda j: np.array(
                        c.take("operation_id", rows[j]), dtype=object
                    ),
                }

            d_first = np.full(len(d_rows), _NONE, dtype=np.int64)
            r_delivered = np.full(len(r_rows), _NONE, dtype=np.int64)
            if len(d_rows) or len(r_rows):
                both = np.concatenate((d_rows, r_rows))
                _, op_dense = np.unique(op_keys(c, both), return_inverse=True)
                d_op, r_op = op_dense[: len(d_rows)], op_dense[len(d_rows) :]
                width = int(op_dense.max()) + 1 if len(op_dense) else 1
                if len(d_rows):
                    # an earlier deliver of the same id for the same computer
                    key = comp_codes[d_rows].astype(np.int64) * width + d_op
                    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
                    again = first[inv] != np.arange(len(d_rows))
                    d_first[again] = line[d_rows[first[inv[again]]]]
                if len(r_rows) and len(d_rows):
                    # the first deliver of the same id to the same activity, if before the result
                    ukey, first = np.unique(acode[d_rows] * width + d_op, return_index=True)
                    first_line = line[d_rows[first]]
                    rkey = acode[r_rows] * width + r_op
                    p = np.minimum(np.searchsorted(ukey, rkey), len(ukey) - 1)
                    hit = (ukey[p] == rkey) & (first_line[p] < line[r_rows])
                    r_delivered[hit] = first_line[p][hit]
            ops: list[tuple[str, int, str]] = []
            for on, rows, facts in (
                ("deliver", d_rows, {**op_facts(d_rows), "op_first_line": lambda j: d_first[j]}),
                (
                    "result",
                    r_rows,
                    {**op_facts(r_rows), "op_delivered_line": lambda j: r_delivered[j]},
                ),
            ):
                view = View(facts, np.arange(len(rows)), ops_decode)
                judge_view(R.active_clauses(kinds, on), view, ctx, ops)
            return ops

        ops = pool.submit(judge_ops)

        # -- the other valid records, grouped by activity -----------------------------------------
        key = grouped.result()
        vi = key & 0xFFFFFFFF
        va = key >> 32
        del key
        m = len(vi)
        where_in_v: list[np.ndarray] = []  # grouped position of each table row, on first use
        latest: dict[str, np.ndarray] = {}

        def last_of(event: str, q: np.ndarray) -> np.ndarray:
            """Position (in grouped order) of the latest ``event`` row of the same activity
            before the positions ``q``, -1 for none: a search among that event's rows only."""
            with lazy:
                if event not in latest:
                    if not where_in_v:
                        at = np.zeros(n, dtype=np.int64)
                        at[vi] = np.arange(m, dtype=np.int64)
                        where_in_v.append(at)
                    latest[event] = np.sort(where_in_v[0][np.flatnonzero(is_ev(event) & valid)])
            p = latest[event]
            if not len(p):
                return np.full(len(q), -1, dtype=np.int64)
            k = np.searchsorted(p, q) - 1
            last = p[np.maximum(k, 0)]
            return np.where((k >= 0) & (va[last] == va[q]), last, -1)

        # -- state rows: created + transitions ----------------------------------------------------
        is_tr_all = is_ev("transition")
        s_in_v = np.flatnonzero((is_created | is_tr_all)[vi])
        srow = vi[s_in_v]
        sa = va[s_in_v]
        s_is_tr = is_tr_all[srow]
        cur = state_of[sa]  # created rows; transitions overwritten below
        frm = np.full(len(srow), _NONE, dtype=np.int64)
        s_tr = np.flatnonzero(s_is_tr)
        cur[s_tr] = c.codes_at("to", _SC, srow[s_tr])
        frm[s_tr] = c.codes_at("from", _SC, srow[s_tr])
        k = len(srow)
        prev_cur = np.full(k, _NONE, dtype=np.int64)
        prev_from = np.full(k, _NONE, dtype=np.int64)
        prev_line = np.full(k, _NONE, dtype=np.int64)
        if k:
            same = sa[1:] == sa[:-1]
            prev_cur[1:] = np.where(same, cur[:-1], _NONE)
            prev_from[1:] = np.where(same, frm[:-1], _NONE)
            prev_line[1:] = np.where(same, line[srow][:-1], _NONE)
        tr = np.flatnonzero(s_is_tr)  # indexes into the state rows
        trow = srow[tr]
        tpos = s_in_v[tr]  # positions in grouped order
        t_from, t_to = frm[tr], cur[tr]
        t_prev, t_prev_from, t_prev_line = prev_cur[tr], prev_from[tr], prev_line[tr]
        t_kind = kind_of[va[tpos]]

        # -- transitions: facts of each (tr index), gathered for the rows a clause selects ---------
        def last_t(event: str) -> Any:
            def fact(j: np.ndarray) -> np.ndarray:
                last = last_of(event, tpos[j])
                return np.where(last >= 0, t[vi[np.maximum(last, 0)]], np.nan)

            return fact

        def result_to(j: np.ndarray) -> np.ndarray:
            last = last_of("result", tpos[j])
            got = c.codes_at("status", R.RESULT_TO, vi[np.maximum(last, 0)])
            return np.where(last >= 0, got, _NONE)

        def approve_line(j: np.ndarray) -> np.ndarray:
            last = last_of("approve", tpos[j])
            return np.where(last >= 0, line[vi[np.maximum(last, 0)]], _NONE)

        first_ok: list[np.ndarray] = []  # computed once, on the first release judged

        def release(j: np.ndarray) -> dict[str, Any]:
            with lazy:
                if not first_ok:
                    ok_rows = srow[(cur == _OK) & s_is_tr]
                    first_ok.append(first_lines(acode[ok_rows], na, line[ok_rows], big))
                    first_ok.append(np.flatnonzero(is_progress & valid))
            prog = first_ok[1]
            return release_facts(c, trow[j], acode, adict, created_row, line, first_ok[0], prog)

        tr_facts: dict[str, Any] = {
            "row": lambda j: trow[j],
            "activity": lambda j: acode[trow[j]],
            "t": lambda j: t[trow[j]],
            "line": lambda j: line[trow[j]],
            "kind": lambda j: t_kind[j],
            "frm": lambda j: t_from[j],
            "to": lambda j: t_to[j],
            "cur": lambda j: t_prev[j],
            "entered_from": lambda j: t_prev_from[j],
            "since_line": lambda j: t_prev_line[j],
            "deliver_t": last_t("deliver"),
            "consume_t": last_t("consume"),
            "cancel_t": last_t("cancel"),
            "result_t": last_t("result"),
            "result_to": result_to,
            "approve_line": approve_line,
            "deliver_after": lambda j: c.num_at("deliver_after", created_row[acode[trow[j]]]),
            **dict.fromkeys(
                ("dep_unmet", "unmet_dependency", "progress_of", "progress", "threshold"), release
            ),
        }
        judge("transition", tr_facts, np.arange(len(tr)), 2 if len(tr) >= SPLIT_TRANSITIONS else 1)

        # -- last state of each created activity --------------------------------------------------
        if k:
            is_last = np.ones(k, dtype=bool)
            is_last[:-1] = sa[1:] != sa[:-1]
            ls = np.flatnonzero(is_last)
        else:
            ls = np.zeros(0, dtype=np.int64)
        lrows = srow[ls]
        la = sa[ls]
        acts = {
            "activity": anames[la],
            "kind": kind_of[la],
            "state": cur[ls],
            "entered_from": frm[ls],
            "since": t[lrows],
            "line": line[lrows],
        }

        # -- violations ---------------------------------------------------------------------------
        for future in aside:
            found += future.result()
        found += ops.result()
    finally:
        # (after an error too: nothing queued runs for no one)
        pool.shutdown(wait=False, cancel_futures=True)
    records = c.records([i for _, i, _ in found])
    violations = [
        Violation(
            rule,
            None if acode[i] < 0 else str(anames[acode[i]]),
            float(t[i]),
            int(line[i]),
            rec,
            msg,
        )
        for (rule, i, msg), rec in zip(found, records, strict=True)
    ]

    def describe(idx: np.ndarray) -> tuple[list[Any], list[Any]]:
        crow = created_row[la[idx]]
        return c.take("type", crow), c.take("computer", crow)

    def record_at(ln: int) -> dict[str, Any]:
        """The record on line ``ln`` (rows are in line order)."""
        return c.record(int(np.searchsorted(line, ln)))

    return finalize(
        acts,
        violations,
        profile=profile,
        max_age=max_age,
        end_t=float(t[-1]) if n else 0.0,
        records=n,
        groups=int(np.unique(acode[is_group & has_act]).size),
        rules_skipped=[r for r in R.RULE_IDS if r not in active and r != "STUCK"],
        describe=describe,
        record_at=record_at,
    )
