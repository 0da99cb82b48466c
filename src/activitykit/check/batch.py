"""The batch driver: judge a whole trace at once with column operations.

The trace becomes numpy columns; records of each activity are brought together with one
stable sort on the activity code (file order kept inside an activity), the previous state
of every transition is a shift, the allowed-pair test is a look-up in the 8x8 boolean
matrices of the reference machines, and "the latest deliver/result/consume/cancel/approve
of this activity before this row" is a running maximum of row positions, cut at the
activity's first row. Only violating rows are turned back into Python objects.

The rule semantics are those of ``activitykit.check.rules``; ``online.Checker`` applies the
same ones record by record, and a differential test holds the two drivers together.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..model import START_STATES, Kind, Profile, State, parse_profile
from ..trace.readers import frame_from_records, read_frame, validate_record
from ..trace.schema import FIELDS
from . import rules as R
from .report import CheckReport, Violation, finalize

__all__ = ["check", "check_frame", "load_frame"]

_NONE = -1
_SC = R.STATE_CODE
_IP, _OK, _KO, _X = _SC["In Progress"], _SC["Succeeded"], _SC["Failed"], _SC["Canceled"]
_Q, _S, _W, _B = _SC["Queued"], _SC["Scheduled"], _SC["Waiting"], _SC["Blocked"]
_STATE_NAMES = np.array([s.value for s in R.STATES] + [None], dtype=object)  # code -1 -> None


def load_frame(source: Any, input_format: str | None = None) -> pd.DataFrame:
    """A validated trace frame (``FIELDS`` columns present + ``line``) from any source."""
    if isinstance(source, str | Path):
        return read_frame(source, input_format)
    if isinstance(source, pd.DataFrame):
        return _frame_from_frame(source)
    if isinstance(source, Iterable) and not isinstance(source, bytes | Mapping):
        return frame_from_records(_validated(source))
    raise InputError(
        f"cannot check a {type(source).__name__}; give a trace file path, a DataFrame or an "
        "iterable of record dicts"
    )


def _validated(records: Iterable[Any]):
    last = None
    for n, raw in enumerate(records, start=1):
        rec = validate_record(raw, "<records>", n)
        if last is not None and rec["t"] < last:
            raise InputError(
                f"t={rec['t']:g} is smaller than t={last:g} of the previous record; records "
                "must be in non-decreasing t order",
                source="<records>",
                line=n,
            )
        last = rec["t"]
        yield n, rec


def _frame_from_frame(df: pd.DataFrame) -> pd.DataFrame:
    lines = (
        df["line"].to_numpy(dtype=np.int64)
        if "line" in df.columns
        else np.arange(1, len(df) + 1, dtype=np.int64)
    )
    cols = [c for c in FIELDS if c in df.columns]
    recs = []
    for n, row in zip(lines, df[cols].to_dict(orient="records"), strict=True):
        clean = {k: v for k, v in row.items() if not _missing(v)}
        if "depends_on" in clean and isinstance(clean["depends_on"], np.ndarray):
            clean["depends_on"] = list(clean["depends_on"])
        for k, v in list(clean.items()):
            if isinstance(v, np.generic):
                clean[k] = v.item()
        recs.append((int(n), clean))
    last = None
    out = []
    for n, raw in recs:
        rec = validate_record(raw, "<frame>", n)
        if last is not None and rec["t"] < last:
            raise InputError(
                f"t={rec['t']:g} is smaller than t={last:g} of the previous row; rows must be in "
                "non-decreasing t order",
                source="<frame>",
                line=n,
            )
        last = rec["t"]
        out.append((n, rec))
    return frame_from_records(out)


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float) and v != v


def check(
    source: Any,
    *,
    profile: Profile | str = Profile.RESULT_WINS,
    max_age: float | None = None,
    input_format: str | None = None,
) -> CheckReport:
    """Check a trace (a path, a DataFrame or an iterable of record dicts) against TRACE.md.

    Raises ``InputError`` for input that cannot be judged (the message names file, line and
    rule); everything well-formed but wrong becomes a violation in the report.
    """
    prof = parse_profile(profile)
    if max_age is not None and not max_age >= 0:
        raise InputError(f"--max-age must be >= 0 seconds, got {max_age!r}")
    return check_frame(load_frame(source, input_format), profile=prof, max_age=max_age)


class _Cols:
    """Numpy views of the frame's columns; absent columns read as all-missing."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.n = len(df)
        self._cache: dict[str, np.ndarray] = {}

    def obj(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if name in self.df.columns:
                arr = self.df[name].to_numpy(dtype=object, na_value=None)
            else:
                arr = np.full(self.n, None, dtype=object)
            self._cache[name] = arr
        return self._cache[name]

    def num(self, name: str) -> np.ndarray:
        key = "#" + name
        if key not in self._cache:
            if name in self.df.columns:
                arr = pd.to_numeric(self.df[name], errors="coerce").to_numpy(
                    dtype=np.float64, na_value=np.nan
                )
            else:
                arr = np.full(self.n, np.nan)
            self._cache[key] = arr
        return self._cache[key]

    def codes(self, name: str, mapping: Mapping[str, int]) -> np.ndarray:
        """Integer codes of a categorical-like column through ``mapping`` (missing -> -1)."""
        if name not in self.df.columns:
            return np.full(self.n, _NONE, dtype=np.int64)
        codes, uniques = pd.factorize(self.df[name], use_na_sentinel=True)
        table = np.array([mapping.get(u, _NONE) for u in uniques] + [_NONE], dtype=np.int64)
        return table[codes]  # code -1 indexes the trailing sentinel

    def record(self, i: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in FIELDS:
            if name in self.df.columns:
                v = self.obj(name)[i]
                if v is None or (isinstance(v, float) and v != v):
                    continue
                if isinstance(v, np.ndarray):
                    v = v.tolist()
                elif isinstance(v, np.generic):
                    v = v.item()
                if name in ("operation_id", "attempt", "children") and isinstance(v, float):
                    v = int(v)
                out[name] = v
        return out


def _op_text(values: np.ndarray) -> np.ndarray:
    """Operation ids as text, integers without a trailing '.0' (ids compare by their text)."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if isinstance(v, float | np.floating):
            out[i] = str(int(v))
        else:
            out[i] = str(v)
    return out


def _first_index(codes: np.ndarray, size: int, lines: np.ndarray, big: int) -> np.ndarray:
    """For each code 0..size-1 the line of its first row (rows are in line order), else big."""
    out = np.full(size, big, dtype=np.int64)
    if len(codes):
        u, first = np.unique(codes, return_index=True)
        out[u] = lines[first]
    return out


def check_frame(
    df: pd.DataFrame, *, profile: Profile = Profile.RESULT_WINS, max_age: float | None = None
) -> CheckReport:
    """Judge a validated trace frame (as ``load_frame`` returns it)."""
    c = _Cols(df)
    n = c.n
    line = df["line"].to_numpy(dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    t = c.num("t")
    ev_codes, ev_names = pd.factorize(df["event"]) if n else (np.zeros(0, np.int64), [])
    ev_names = list(ev_names)
    kinds = frozenset(ev_names)
    active = frozenset(r.id for r in R.RULES.values() if r.needs <= kinds)

    def is_ev(*names: str) -> np.ndarray:
        codes = [ev_names.index(x) for x in names if x in ev_names]
        if not codes:
            return np.zeros(n, dtype=bool)
        if len(codes) == 1:
            return ev_codes == codes[0]
        return np.isin(ev_codes, codes)

    if "activity" in df.columns and n:
        acode, auniq = pd.factorize(df["activity"], use_na_sentinel=True)
        acode = acode.astype(np.int64)
        anames = np.asarray(auniq, dtype=object)
    else:
        acode = np.full(n, _NONE, dtype=np.int64)
        anames = np.zeros(0, dtype=object)
    na = len(anames)
    big = np.iinfo(np.int64).max
    is_created = is_ev("created")
    is_group = is_ev("group")
    is_progress = is_ev("progress")
    is_act_ev = is_ev(*R.ACTIVITY_EVENTS) & (acode >= 0)
    group_line = _first_index(acode[is_group], na, line[is_group], big)
    c0 = _first_index(acode[is_created], na, line[is_created], big)
    ac = np.where(acode >= 0, acode, 0)
    before = line < c0[ac] if na else np.zeros(n, dtype=bool)
    group_progress = is_progress & (group_line[ac] < line) & before if na else before
    orphan = is_act_ev & ~is_created & before & ~group_progress
    dup_created = is_created & ~before & (line > c0[ac]) if na else is_created
    first_created = is_created & (line == c0[ac]) if na else is_created

    state_code = c.codes("state", _SC)
    from_code = c.codes("from", _SC)
    to_code = c.codes("to", _SC)

    found: list[tuple[str, int, str]] = []  # (rule, df row, message)

    # -- T1 -----------------------------------------------------------------------------------
    orow = np.flatnonzero(orphan)
    if len(orow):
        _, first = np.unique(acode[orow], return_index=True)
        for i in orow[first]:
            found.append(("T1", int(i), R.msg_orphan(anames[acode[i]])))
    for i in np.flatnonzero(dup_created):
        found.append(("T1", int(i), R.msg_created_twice(anames[acode[i]], int(c0[acode[i]]))))
    start_codes = np.array([_SC[s.value] for s in START_STATES])
    for i in np.flatnonzero(first_created & ~np.isin(state_code, start_codes)):
        found.append(("T1", int(i), R.msg_not_start(c.obj("state")[i])))

    # -- per-activity facts from the first created record ----------------------------------
    kind_of = np.full(na, _NONE, dtype=np.int64)
    fc_rows = np.flatnonzero(first_created)
    kind_codes = c.codes("kind", R.KIND_CODE)
    kind_of[acode[fc_rows]] = kind_codes[fc_rows]
    comp_of = np.full(na, None, dtype=object)
    comp_of[acode[fc_rows]] = c.obj("computer")[fc_rows]
    created_row = np.full(na, _NONE, dtype=np.int64)
    created_row[acode[fc_rows]] = fc_rows

    # -- valid records, grouped by activity (file order inside) -----------------------------
    valid = is_act_ev & ~orphan & ~dup_created
    vrows = np.flatnonzero(valid)
    order = np.argsort(acode[vrows], kind="stable")
    vi = vrows[order]
    m = len(vi)
    va = acode[vi]
    vl = line[vi]
    vt = t[vi]
    pos = np.arange(m, dtype=np.int64)
    starts = np.ones(m, dtype=bool)
    if m:
        starts[1:] = va[1:] != va[:-1]
    gstart = np.maximum.accumulate(np.where(starts, pos, 0)) if m else pos

    def last_of(mask_rows: np.ndarray) -> np.ndarray:
        """Position (in the grouped order) of the latest masked row of the same activity."""
        idx = np.where(mask_rows[vi], pos, -1)
        if m:
            np.maximum.accumulate(idx, out=idx)
            idx[idx < gstart] = -1
        return idx

    # -- state rows: created + transitions --------------------------------------------------
    is_tr_all = is_ev("transition")
    s_in_v = np.flatnonzero((is_created | is_tr_all)[vi])
    srow = vi[s_in_v]
    sa = va[s_in_v]
    s_is_tr = is_tr_all[srow]
    cur = np.where(s_is_tr, to_code[srow], state_code[srow])
    frm = np.where(s_is_tr, from_code[srow], _NONE)
    k = len(srow)
    prev_cur = np.full(k, _NONE, dtype=np.int64)
    prev_from = np.full(k, _NONE, dtype=np.int64)
    prev_line = np.full(k, _NONE, dtype=np.int64)
    if k:
        same = np.zeros(k, dtype=bool)
        same[1:] = sa[1:] == sa[:-1]
        prev_cur[1:] = np.where(same[1:], cur[:-1], _NONE)
        prev_from[1:] = np.where(same[1:], frm[:-1], _NONE)
        prev_line[1:] = np.where(same[1:], line[srow][:-1], _NONE)
    tr = np.flatnonzero(s_is_tr)  # indexes into the state rows
    trow = srow[tr]
    tpos = s_in_v[tr]  # positions in the grouped order
    t_from, t_to = frm[tr], to_code[trow]
    t_kind = kind_of[va[tpos]]
    client = t_kind == R.KIND_CODE[Kind.CLIENT.value]

    # T2
    for j in np.flatnonzero(t_from != prev_cur[tr]):
        i = int(trow[j])
        found.append(
            (
                "T2",
                i,
                R.msg_from(
                    anames[acode[i]], _STATE_NAMES[t_from[j]], _STATE_NAMES[prev_cur[tr][j]]
                ),
            )
        )
    # T3
    mats = np.stack(
        [R.allowed_matrix(Kind.CLIENT, profile), R.allowed_matrix(Kind.SERVER, profile)]
    )
    ok_pair = mats[t_kind, t_from, t_to]
    kind_names = {0: Kind.CLIENT.value, 1: Kind.SERVER.value}
    for j in np.flatnonzero(~ok_pair):
        i = int(trow[j])
        found.append(
            (
                "T3",
                i,
                R.msg_pair(
                    kind_names[int(t_kind[j])],
                    profile,
                    _STATE_NAMES[t_from[j]],
                    _STATE_NAMES[t_to[j]],
                ),
            )
        )
    if profile is Profile.RESULT_WINS:
        hist_bad = (
            ok_pair & client & (t_from == _X) & ~((prev_cur[tr] == _X) & (prev_from[tr] == _IP))
        )
        for j in np.flatnonzero(hist_bad):
            found.append(("T3", int(trow[j]), R.msg_cancel_history(_STATE_NAMES[t_to[j]])))

    # -- causal rules on transitions ---------------------------------------------------------
    def same_t_cause(rule: str, event: str, sel: np.ndarray) -> None:
        if rule not in active or not sel.any():
            return
        last = last_of(is_ev(event))[tpos[sel]]
        rows = trow[sel]
        lt = np.where(last >= 0, vt[np.maximum(last, 0)], np.nan)
        bad = ~(lt == t[rows])
        for j in np.flatnonzero(bad):
            i = int(rows[j])
            prev_t = None if last[j] < 0 else float(lt[j])
            found.append((rule, i, R.msg_no_cause(event, _STATE_NAMES[to_code[i]], prev_t)))

    same_t_cause("C1", "deliver", client & (t_to == _IP))
    same_t_cause("C3", "consume", ~client & (t_to == _IP))
    same_t_cause("C5", "cancel", t_to == _X)
    if "C2" in active:
        sel = client & ((t_to == _OK) | (t_to == _KO))
        if sel.any():
            last = last_of(is_ev("result"))[tpos[sel]]
            rows = trow[sel]
            lrow = vi[np.maximum(last, 0)]
            lt = np.where(last >= 0, vt[np.maximum(last, 0)], np.nan)
            status = c.obj("status")
            for j in np.flatnonzero(~(lt == t[rows])):
                i = int(rows[j])
                prev_t = None if last[j] < 0 else float(lt[j])
                found.append(("C2", i, R.msg_no_cause("result", _STATE_NAMES[to_code[i]], prev_t)))
            want = np.where(t_to[sel] == _OK, "succeeded", "failed")
            got = status[lrow]
            for j in np.flatnonzero((lt == t[rows]) & (got != want)):
                i = int(rows[j])
                found.append(("C2", i, R.msg_status(_STATE_NAMES[to_code[i]], got[j])))
    if "C4" in active:
        sel = (t_from == _B) & ((t_to == _Q) | (t_to == _W))
        if sel.any():
            last = last_of(is_ev("approve"))[tpos[sel]]
            entry = prev_line[tr][sel]
            approve_line = np.where(last >= 0, vl[np.maximum(last, 0)], -1)
            for j in np.flatnonzero((last < 0) | (approve_line < entry)):
                i = int(trow[sel][j])
                found.append(("C4", i, R.msg_no_approve(_STATE_NAMES[to_code[i]])))
    # C6
    sel = (t_from == _S) & ((t_to == _Q) | (t_to == _IP))
    if sel.any():
        rows = trow[sel]
        da = c.num("deliver_after")[created_row[acode[rows]]]
        for j in np.flatnonzero(~np.isnan(da) & (t[rows] < da)):
            i = int(rows[j])
            found.append(("C6", i, R.msg_too_early(float(t[i]), float(da[j]))))
    # C7
    sel = (t_from == _W) & ((t_to == _Q) | (t_to == _IP))
    if sel.any():
        _c7(
            c,
            found,
            trow[sel],
            acode,
            anames,
            created_row,
            line,
            kinds,
            valid,
            group_progress,
            is_progress,
            srow,
            cur,
        )

    # -- deliver / result records ------------------------------------------------------------
    is_del = is_ev("deliver")
    is_res = is_ev("result")
    comp = c.obj("computer")
    for event, mask in (("deliver", is_del), ("result", is_res)):
        rows = np.flatnonzero(mask & valid)
        if not len(rows):
            continue
        own = comp_of[acode[rows]]
        for j in np.flatnonzero(comp[rows] != own):
            i = int(rows[j])
            found.append(("C8", i, R.msg_computer(event, comp[i], own[j])))
    ops = c.obj("operation_id")
    d_rows = np.flatnonzero(is_del & valid)
    d_ops = _op_text(ops[d_rows])
    if "C1" in active and len(d_rows):
        keys = pd.DataFrame({"c": comp[d_rows], "o": d_ops, "l": line[d_rows]})
        dup = keys.duplicated(["c", "o"], keep="first").to_numpy()
        if dup.any():
            firsts = keys.drop_duplicates(["c", "o"]).set_index(["c", "o"])["l"]
            for j in np.flatnonzero(dup):
                i = int(d_rows[j])
                first_line = int(firsts.loc[(comp[i], d_ops[j])])
                found.append(
                    (
                        "C1",
                        i,
                        R.msg_op_reused(
                            comp[i],
                            ops[i] if not isinstance(ops[i], float) else int(ops[i]),
                            first_line,
                        ),
                    )
                )
    r_rows = np.flatnonzero(is_res & valid)
    if "C2" in active and "deliver" in kinds and len(r_rows):
        r_ops = _op_text(ops[r_rows])
        d = pd.DataFrame({"a": acode[d_rows], "o": d_ops, "dl": line[d_rows]}).drop_duplicates(
            ["a", "o"]
        )
        r = pd.DataFrame({"a": acode[r_rows], "o": r_ops, "l": line[r_rows]})
        mg = r.merge(d, on=["a", "o"], how="left")
        dl = mg["dl"].to_numpy(dtype=np.float64, na_value=np.nan)
        for j in np.flatnonzero(~(dl < mg["l"].to_numpy())):
            i = int(r_rows[j])
            op = ops[i] if not isinstance(ops[i], float) else int(ops[i])
            found.append(("C2", i, R.msg_op_unknown(op)))

    # -- violations ---------------------------------------------------------------------------
    violations = [
        Violation(
            rule,
            None if acode[i] < 0 else str(anames[acode[i]]),
            float(t[i]),
            int(line[i]),
            c.record(i),
            msg,
        )
        for rule, i, msg in found
    ]

    # -- last state of each created activity -------------------------------------------------
    if k:
        last_s = np.ones(k, dtype=bool)
        last_s[:-1] = sa[1:] != sa[:-1]
        ls = np.flatnonzero(last_s)
    else:
        ls = np.zeros(0, dtype=np.int64)
    lrows = srow[ls]
    la = sa[ls]
    crow = created_row[la]
    acts = pd.DataFrame(
        {
            "activity": anames[la].astype(object) if len(la) else np.zeros(0, dtype=object),
            "kind": np.array([kind_names.get(int(x)) for x in kind_of[la]], dtype=object),
            "type": c.obj("type")[crow],
            "computer": comp[crow],
            "state": _STATE_NAMES[cur[ls]],
            "since": t[lrows],
            "line": line[lrows],
            "entered_from": _STATE_NAMES[frm[ls]],
        }
    )
    line_to_row = dict(zip(line[lrows].tolist(), lrows.tolist(), strict=True))
    return finalize(
        acts,
        violations,
        profile=profile,
        max_age=max_age,
        end_t=float(t[-1]) if n else 0.0,
        records=n,
        groups=int(np.unique(acode[is_group & (acode >= 0)]).size),
        rules_skipped=[r for r in R.RULE_IDS if r not in active and r != "STUCK"],
        record_at=lambda ln: c.record(line_to_row[ln]),
    )


def _c7(
    c: _Cols,
    found: list[tuple[str, int, str]],
    rows: np.ndarray,
    acode: np.ndarray,
    anames: np.ndarray,
    created_row: np.ndarray,
    line: np.ndarray,
    kinds: frozenset[str],
    valid: np.ndarray,
    group_progress: np.ndarray,
    is_progress: np.ndarray,
    srow: np.ndarray,
    cur: np.ndarray,
) -> None:
    """Waiting releases: few per trace, judged one by one against prepared indexes."""
    deps = c.obj("depends_on")
    pof = c.obj("progress_of")
    thr = c.num("threshold")
    # first valid transition to Succeeded per activity name
    ok_rows = srow[(cur == _OK) & (c.obj("event")[srow] == "transition")]
    succeeded: dict[str, int] = {}
    for i in ok_rows:
        succeeded.setdefault(anames[acode[i]], int(line[i]))
    use_progress = "progress" in kinds
    prog: dict[str, tuple[list[int], list[float]]] = {}
    if use_progress:
        prow = np.flatnonzero(is_progress & (valid | group_progress))
        vals = c.num("value")
        for i in prow:
            lst = prog.setdefault(anames[acode[i]], ([], []))
            lst[0].append(int(line[i]))
            lst[1].append(float(vals[i]))
    for i in rows:
        cr = created_row[acode[i]]
        ln = int(line[i])
        msg = None
        dl = deps[cr]
        if dl is not None and len(dl):
            for dep in dl:
                got = succeeded.get(dep)
                if got is None or got > ln:
                    msg = R.msg_dependency(dep)
                    break
        if msg is None and use_progress and pof[cr] is not None:
            of = pof[cr]
            lines_vals = prog.get(of)
            v = None
            if lines_vals is not None:
                p = bisect_left(lines_vals[0], ln)
                if p > 0:
                    v = lines_vals[1][p - 1]
            if v is None or v < thr[cr]:
                msg = R.msg_threshold(of, v, float(thr[cr]))
        if msg is not None:
            found.append(("C7", int(i), msg))


_ = State  # re-exported names used in docs
