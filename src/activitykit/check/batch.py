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

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..model import Kind, Profile
from ..trace.readers import read_table, table_from_records
from ..trace.schema import CHECK_FIELDS, FIELDS
from ..trace.validate import Monotone, validate_record
from . import rules as R
from .report import CheckReport, Violation, finalize

__all__ = ["check", "check_table", "load_table"]

_NONE = -1
_SC = R.STATE_CODE
_IP, _OK, _KO, _X = _SC["In Progress"], _SC["Succeeded"], _SC["Failed"], _SC["Canceled"]
_Q, _S, _W, _B = _SC["Queued"], _SC["Scheduled"], _SC["Waiting"], _SC["Blocked"]
#: code -> state name; code -1 (none) -> None
_STATE_NAMES = np.array([s.value for s in R.STATES] + [None], dtype=object)
_KIND_NAMES = np.array([Kind.CLIENT.value, Kind.SERVER.value, None], dtype=object)


def load_table(source: Any, input_format: str | None = None) -> pa.Table:
    """A validated trace table (``FIELDS`` columns present + ``line``) from any source."""
    if isinstance(source, str | Path):
        return read_table(source, input_format, fields=CHECK_FIELDS)
    if _is_frame(source):
        return table_from_records(_validated(_frame_rows(source), "<frame>"))
    if isinstance(source, pa.Table):
        return table_from_records(_validated(_frame_rows(source.to_pandas()), "<table>"))
    if isinstance(source, Iterable) and not isinstance(source, bytes | str | Mapping):
        return table_from_records(_validated(enumerate(source, start=1), "<records>"))
    raise InputError(
        f"cannot check a {type(source).__name__}; give a trace file path, a DataFrame or an "
        "iterable of record dicts"
    )


def _is_frame(obj: Any) -> bool:
    """A pandas DataFrame, told without importing pandas (the CLI path never needs it)."""
    return type(obj).__name__ == "DataFrame" and type(obj).__module__.startswith("pandas")


def _frame_rows(df: Any) -> Iterable[tuple[int, dict[str, Any]]]:
    lines = (
        df["line"].to_numpy(dtype=np.int64)
        if "line" in df.columns
        else np.arange(1, len(df) + 1, dtype=np.int64)
    )
    cols = [c for c in FIELDS if c in df.columns]
    for n, row in zip(lines, df[cols].to_dict(orient="records"), strict=True):
        clean: dict[str, Any] = {}
        for k, v in row.items():
            if v is None or type(v).__name__ == "NAType" or (isinstance(v, float) and v != v):
                continue
            if isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, np.generic):
                v = v.item()
            clean[k] = v
        yield int(n), clean


def _validated(pairs: Iterable[tuple[int, Any]], source: str):
    order = Monotone(source)
    for n, raw in pairs:
        rec = validate_record(raw, source, n, CHECK_FIELDS)
        order(rec, n)
        yield n, rec


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


class _Cols:
    """Numpy views of a validated table's columns; absent columns read as all-missing."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.n = table.num_rows
        self._cache: dict[str, Any] = {}

    def has(self, name: str) -> bool:
        return name in self.table.column_names

    def num(self, name: str) -> np.ndarray:
        key = "#" + name
        if key not in self._cache:
            if self.has(name):
                col = self.table.column(name)
                arr = pc.cast(col, pa.float64()).to_numpy() if self.n else np.zeros(0)
            else:
                arr = np.full(self.n, np.nan)
            self._cache[key] = np.asarray(arr, dtype=np.float64)
        return self._cache[key]

    def encoded(self, name: str) -> tuple[np.ndarray, list[Any]]:
        """(codes, dictionary): codes in order of first appearance, -1 for missing."""
        key = "@" + name
        if key not in self._cache:
            if not self.has(name) or not self.n:
                self._cache[key] = (np.full(self.n, _NONE, dtype=np.int64), [])
            else:
                col = self.table.column(name).combine_chunks()
                enc = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
                codes = pc.fill_null(enc.indices, _NONE).to_numpy().astype(np.int64)
                self._cache[key] = (codes, enc.dictionary)
        return self._cache[key]

    def codes_at(self, name: str, mapping: Mapping[str, int], rows: np.ndarray) -> np.ndarray:
        """``codes`` at ``rows`` only (cheaper than the whole column)."""
        if not self.has(name) or not len(rows):
            return np.full(len(rows), _NONE, dtype=np.int64)
        col = self.table.column(name).combine_chunks()
        enc = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
        idx = enc.indices.take(pa.array(rows, type=pa.int64()))
        codes = pc.fill_null(idx, _NONE).to_numpy().astype(np.int64)
        names = enc.dictionary.to_pylist()
        table = np.array([mapping.get(u, _NONE) for u in names] + [_NONE], dtype=np.int64)
        return table[codes]

    def num_at(self, name: str, rows: np.ndarray) -> np.ndarray:
        """``num`` at ``rows`` only."""
        if not self.has(name):
            return np.full(len(rows), np.nan)
        col = self.table.column(name).take(pa.array(rows, type=pa.int64()))
        return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), np.float64)

    def take(self, name: str, rows: np.ndarray) -> list[Any]:
        if not self.has(name):
            return [None] * len(rows)
        return self.table.column(name).take(pa.array(rows, type=pa.int64())).to_pylist()

    def record(self, i: int) -> dict[str, Any]:
        return self.records([i])[0]

    def records(self, rows: list[int]) -> list[dict[str, Any]]:
        """The records at ``rows`` as dicts (fields present only), gathered in one go."""
        if not rows:
            return []
        names = [f for f in FIELDS if self.has(f)]
        got = self.table.select(names).take(pa.array(rows, type=pa.int64())).to_pylist()
        return [{k: v for k, v in row.items() if v is not None} for row in got]


def _first_line(codes: np.ndarray, size: int, lines: np.ndarray, big: int) -> np.ndarray:
    """For each code 0..size-1 the line of its first row (rows are in line order), else big."""
    out = np.full(size, big, dtype=np.int64)
    if len(codes):
        u, first = np.unique(codes, return_index=True)
        out[u] = lines[first]
    return out


def _op_keys(c: _Cols, rows: np.ndarray) -> np.ndarray:
    """Dense integer keys of the rows' operation ids (ids compare by their text)."""
    if pa.types.is_string(c.table.schema.field("operation_id").type):
        return c.encoded("operation_id")[0][rows]
    return c.num_at("operation_id", rows).astype(np.int64)


def check_table(
    table: pa.Table, *, profile: Profile = Profile.RESULT_WINS, max_age: float | None = None
) -> CheckReport:
    """Judge a validated trace table (as ``load_table`` returns it)."""
    c = _Cols(table)
    n = c.n
    line = table.column("line").to_numpy().astype(np.int64) if n else np.zeros(0, np.int64)
    t = c.num("t")
    ev_codes, ev_dict = c.encoded("event")
    ev_names = ev_dict.to_pylist() if len(ev_dict) else []
    kinds = frozenset(ev_names)
    active = frozenset(r.id for r in R.RULES.values() if r.needs <= kinds)

    ev_masks: dict[tuple[str, ...], np.ndarray] = {}

    def is_ev(*names: str) -> np.ndarray:
        """Rows whose event is one of ``names`` (a table look-up on the event codes)."""
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
    group_line = _first_line(acode[is_group & has_act], na, line[is_group & has_act], big)
    c0 = _first_line(acode[is_created & has_act], na, line[is_created & has_act], big)
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

    def judge(on: str, facts: dict[str, Any], base: np.ndarray) -> None:
        """Evaluate the clauses on ``on`` records over the view of ``base``'s facts."""
        _judge(R.active_clauses(kinds, on), _View(facts, base, decode), ctx, found)

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
    # computers matter on created, deliver and result rows only: encode just those
    comp_rows = np.flatnonzero(first_created | is_ev("deliver", "result"))
    comp_codes = np.full(n, _NONE, dtype=np.int64)
    comp_dict: Any = pa.array([], pa.string())
    if c.has("computer") and len(comp_rows):
        part = c.table.column("computer").take(pa.array(comp_rows)).combine_chunks()
        enc = part if pa.types.is_dictionary(part.type) else pc.dictionary_encode(part)
        comp_codes[comp_rows] = pc.fill_null(enc.indices, _NONE).to_numpy()
        comp_dict = enc.dictionary
    comp_of = np.full(na, _NONE, dtype=np.int64)
    comp_of[acode[fc_rows]] = comp_codes[fc_rows]
    created_row = np.full(na, _NONE, dtype=np.int64)
    created_row[acode[fc_rows]] = fc_rows

    # -- valid records, grouped by activity (file order inside) -------------------------------
    valid = is_act_ev & ~orphan & ~dup_created
    vrows = np.flatnonzero(valid)
    vi = vrows[np.argsort(acode[vrows], kind="stable")]
    m = len(vi)
    va = acode[vi]
    vl = line[vi]
    vt = t[vi]
    pos = np.arange(m, dtype=np.int64)
    starts = np.ones(m, dtype=bool)
    if m:
        starts[1:] = va[1:] != va[:-1]
    gstart = np.maximum.accumulate(np.where(starts, pos, 0)) if m else pos

    latest: dict[str, np.ndarray] = {}

    def last_of(event: str) -> np.ndarray:
        """Position (in grouped order) of the latest ``event`` row of the same activity."""
        if event not in latest:
            idx = np.where(is_ev(event)[vi], pos, -1)
            if m:
                np.maximum.accumulate(idx, out=idx)
                idx[idx < gstart] = -1
            latest[event] = idx
        return latest[event]

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
            last = last_of(event)[tpos[j]]
            return np.where(last >= 0, vt[np.maximum(last, 0)], np.nan)

        return fact

    def result_to(j: np.ndarray) -> np.ndarray:
        last = last_of("result")[tpos[j]]
        got = c.codes_at("status", R.RESULT_TO, vi[np.maximum(last, 0)])
        return np.where(last >= 0, got, _NONE)

    def approve_line(j: np.ndarray) -> np.ndarray:
        last = last_of("approve")[tpos[j]]
        return np.where(last >= 0, vl[np.maximum(last, 0)], _NONE)

    first_ok: list[np.ndarray] = []  # computed once, on the first release judged

    def release(j: np.ndarray) -> dict[str, Any]:
        if not first_ok:
            ok_rows = srow[(cur == _OK) & s_is_tr]
            first_ok.append(_first_line(acode[ok_rows], na, line[ok_rows], big))
        prog = np.flatnonzero(is_progress & valid)
        return _release_facts(c, trow[j], acode, adict, created_row, line, first_ok[0], prog)

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
    judge("transition", tr_facts, np.arange(len(tr)))

    # -- deliver / result records -------------------------------------------------------------
    d_rows = np.flatnonzero(is_ev("deliver") & valid)
    r_rows = np.flatnonzero(is_ev("result") & valid)
    decode["computer"] = decode["own_computer"] = lambda code: (
        None if code < 0 else comp_dict[int(code)].as_py()
    )

    def op_facts(rows: np.ndarray) -> dict[str, Any]:
        return {
            **record_facts(rows),
            "computer": lambda j: comp_codes[rows[j]],
            "own_computer": lambda j: comp_of[acode[rows[j]]],
            "operation_id": lambda j: np.array(c.take("operation_id", rows[j]), dtype=object),
        }

    d_first = np.full(len(d_rows), _NONE, dtype=np.int64)
    r_delivered = np.full(len(r_rows), _NONE, dtype=np.int64)
    if len(d_rows) or len(r_rows):
        both = np.concatenate((d_rows, r_rows))
        _, op_dense = np.unique(_op_keys(c, both), return_inverse=True)
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
    judge(
        "deliver",
        {**op_facts(d_rows), "op_first_line": lambda j: d_first[j]},
        np.arange(len(d_rows)),
    )
    judge(
        "result",
        {**op_facts(r_rows), "op_delivered_line": lambda j: r_delivered[j]},
        np.arange(len(r_rows)),
    )

    # -- violations ---------------------------------------------------------------------------
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

    def describe(idx: np.ndarray) -> tuple[list[Any], list[Any]]:
        crow = created_row[la[idx]]
        return c.take("type", crow), c.take("computer", crow)

    line_to_row = dict(zip(line[lrows].tolist(), lrows.tolist(), strict=True))
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
        record_at=lambda ln: c.record(line_to_row[ln]),
    )


class _View:
    """The facts of some records as columns, each gathered on first use (``facts[name]``
    maps the base indexes to an array, or to a dict of several facts at once)."""

    def __init__(self, facts: Mapping[str, Any], base: np.ndarray, decode: Mapping[str, Any]):
        self._facts, self._base, self._decode = facts, base, decode
        self.size = len(base)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        got = self._facts[name](self._base)
        if isinstance(got, dict):
            self.__dict__.update(got)
            return got[name]
        self.__dict__[name] = got
        return got

    def sub(self, positions: np.ndarray) -> _View:
        return _View(self._facts, self._base[positions], self._decode)

    def at(self, j: int) -> _Row:
        return _Row(self, j)


class _Row:
    """One record of a view as Python scalars with names decoded: what messages read."""

    def __init__(self, view: _View, j: int) -> None:
        self._view, self._j = view, j

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._view, name)[self._j]
        if name in self._view._decode:
            return self._view._decode[name](value)
        return value.item() if isinstance(value, np.generic) else value


def _judge(
    clauses: Iterable[R.Clause], view: _View, ctx: R.Context, found: list[tuple[str, int, str]]
) -> None:
    """Append ``(rule, table row, message)`` for every record of ``view`` a clause finds."""
    if not view.size:
        return
    for clause in clauses:
        v = view
        if clause.when is not None:
            sel = np.flatnonzero(clause.when(view, ctx))
            if not len(sel):
                continue
            v = view.sub(sel)
        broken = np.broadcast_to(clause.broken(v, ctx), (v.size,))
        for j in np.flatnonzero(broken):
            row = v.at(int(j))
            found.append((clause.rule, int(row.row), clause.message(row, ctx)))


def _codes_of_names(adict: pa.Array, names: list[str]) -> dict[str, int]:
    """Activity codes of a few names: probe the (large) activity dictionary against them."""
    if not names or not len(adict):
        return {}
    wanted = pa.array(sorted(set(names)), pa.string())
    pos = pc.index_in(adict, value_set=wanted).to_numpy(zero_copy_only=False)
    hit = np.flatnonzero(~np.isnan(pos)) if pos.dtype.kind == "f" else np.flatnonzero(pos >= 0)
    return {wanted[int(pos[h])].as_py(): int(h) for h in hit}


def _release_facts(
    c: _Cols,
    rows: np.ndarray,
    acode: np.ndarray,
    adict: pa.Array,
    created_row: np.ndarray,
    line: np.ndarray,
    first_ok: np.ndarray,
    prog_rows: np.ndarray,
) -> dict[str, Any]:
    """C7's facts for Waiting releases at ``rows``: dependencies and progress, by activity."""
    crow = created_row[acode[rows]]
    deps = c.take("depends_on", crow)
    pof = c.take("progress_of", crow)
    thr = c.num_at("threshold", crow)
    flat = [d for ds in deps if ds for d in ds]
    code_of = _codes_of_names(adict, [*flat, *(x for x in pof if x is not None)])
    dep_code = iter([code_of.get(d) for d in flat])
    if len(prog_rows):
        # progress rows sorted by (activity, line): the latest before a line is one search
        order = np.argsort(acode[prog_rows], kind="stable")
        p_rows = prog_rows[order]
        width = int(line.max()) + 1
        p_key = acode[p_rows] * width + line[p_rows]
        p_val = c.num_at("value", p_rows)
    unmet: list[str | None] = []
    progress = np.full(len(rows), -np.inf)
    for j, i in enumerate(rows):
        ln = int(line[i])
        first = None
        for dep in deps[j] or ():
            code = next(dep_code)
            if first is None and (code is None or first_ok[code] > ln):
                first = dep
        unmet.append(first)
        of = None if pof[j] is None else code_of.get(pof[j])
        if of is not None and len(prog_rows):
            q = int(np.searchsorted(p_key, of * width + ln)) - 1
            if q >= 0 and p_key[q] // width == of:
                progress[j] = p_val[q]
    return {
        "dep_unmet": np.array([u is not None for u in unmet], dtype=bool),
        "unmet_dependency": np.array(unmet, dtype=object),
        "progress_of": np.array(pof, dtype=object),
        "progress": progress,
        "threshold": np.where(np.array([x is None for x in pof], dtype=bool), np.nan, thr),
    }
