"""Trace tables for the batch checker: loading any source, and numpy views of its columns.

``load_table`` turns a path, a DataFrame, a pyarrow Table or an iterable of records into one
validated pyarrow Table (``FIELDS`` columns present + ``line``); ``Columns`` hands the batch
driver numpy arrays of its columns (text as integer codes by dictionary encoding, so no
Python string objects exist for the millions of rows), cached, and only the few rows a
message needs back as Python objects. The look-ups by activity name the batch driver needs
(``codes_of_names``, C7's ``release_facts``) live here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..trace.readers import read_table, table_from_records
from ..trace.schema import CHECK_FIELDS, FIELDS
from ..trace.validate import Monotone, one_array, validate_record

__all__ = [
    "NONE",
    "Columns",
    "codes_of_names",
    "first_lines",
    "load_table",
    "op_keys",
    "release_facts",
]

#: The code of a missing value in every integer-coded column.
NONE = -1
#: Text columns the reader dictionary-encodes for the checker (beside states and events).
_ENCODED = frozenset({"activity"})


def load_table(source: Any, input_format: str | None = None) -> pa.Table:
    """A validated trace table (``FIELDS`` columns present + ``line``) from any source."""
    if isinstance(source, str | Path):
        # the rules read activities as integer codes: encoding them block by block puts the
        # hashing of millions of names on every core, beside the parsing
        return read_table(source, input_format, fields=CHECK_FIELDS, encode=_ENCODED)
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


class Columns:
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
                self._cache[key] = (np.full(self.n, NONE, dtype=np.int64), [])
            else:
                col = one_array(self.table.column(name))
                enc = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
                codes = pc.fill_null(enc.indices, NONE).to_numpy().astype(np.int64)
                self._cache[key] = (codes, enc.dictionary)
        return self._cache[key]

    def codes_at(self, name: str, mapping: Mapping[str, int], rows: np.ndarray) -> np.ndarray:
        """``codes`` at ``rows`` only (cheaper than the whole column)."""
        if not self.has(name) or not len(rows):
            return np.full(len(rows), NONE, dtype=np.int64)
        col = one_array(self.table.column(name))
        enc = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
        idx = enc.indices.take(pa.array(rows, type=pa.int64()))
        codes = pc.fill_null(idx, NONE).to_numpy().astype(np.int64)
        names = enc.dictionary.to_pylist()
        table = np.array([mapping.get(u, NONE) for u in names] + [NONE], dtype=np.int64)
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
        return _plain(self.table.column(name).take(pa.array(rows, type=pa.int64()))).to_pylist()

    def record(self, i: int) -> dict[str, Any]:
        return self.records([i])[0]

    def records(self, rows: list[int]) -> list[dict[str, Any]]:
        """The records at ``rows`` as dicts (fields present only), gathered in one go."""
        if not rows:
            return []
        names = [f for f in FIELDS if self.has(f)]
        got = self.table.select(names).take(pa.array(rows, type=pa.int64()))
        cols = {n: _plain(got.column(n)).to_pylist() for n in names}
        return [{n: v for n in names if (v := cols[n][j]) is not None} for j in range(len(rows))]


def _plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """``col`` with dictionaries decoded: ``to_pylist`` of a dictionary column builds a
    scalar object per value first (25 times slower, measured)."""
    if pa.types.is_dictionary(col.type):
        return col.cast(col.type.value_type)
    return col


def first_lines(codes: np.ndarray, size: int, lines: np.ndarray, big: int) -> np.ndarray:
    """For each code 0..size-1 the line of its first row (rows are in line order), else big."""
    out = np.full(size, big, dtype=np.int64)
    if len(codes):
        u, first = np.unique(codes, return_index=True)
        out[u] = lines[first]
    return out


def op_keys(c: Columns, rows: np.ndarray) -> np.ndarray:
    """Dense integer keys of the rows' operation ids (ids compare by their text)."""
    if pa.types.is_string(c.table.schema.field("operation_id").type):
        return c.encoded("operation_id")[0][rows]
    # the integers themselves: through float64 (``num_at``) ids beyond 2**53 would merge
    col = c.table.column("operation_id").take(pa.array(rows, type=pa.int64()))
    return np.asarray(pc.fill_null(col, NONE).to_numpy(), np.int64)


def codes_of_names(adict: pa.Array, names: list[str]) -> dict[str, int]:
    """Activity codes of a few names: probe the (large) activity dictionary against them."""
    if not names or not len(adict):
        return {}
    wanted = sorted(set(names))
    pos = pc.index_in(adict, value_set=pa.array(wanted, pa.string()))
    hit = pc.indices_nonzero(pos.is_valid()).to_numpy()
    # a Python list to index: a scalar's as_py per hit costs more than the probe
    found = [wanted[p] for p in pos.take(hit).to_numpy().tolist()]
    return dict(zip(found, hit.tolist(), strict=True))


def release_facts(
    c: Columns,
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
    code_of = codes_of_names(adict, [*flat, *(x for x in pof if x is not None)])
    ln = line[rows]
    # dependencies, all at once: one entry per (release, dependency), in depends_on order
    owner = np.repeat(np.arange(len(rows)), [len(ds) if ds else 0 for ds in deps])
    dep_code = np.array([code_of.get(d, -1) for d in flat], dtype=np.int64)
    unmet_each = (dep_code < 0) | (first_ok[np.maximum(dep_code, 0)] > ln[owner])
    unmet: list[str | None] = [None] * len(rows)
    hit = np.flatnonzero(unmet_each)
    if len(hit):
        released, first = np.unique(owner[hit], return_index=True)
        for j, k in zip(released.tolist(), hit[first].tolist(), strict=True):
            unmet[j] = flat[k]  # the first unmet dependency of the release
    progress = np.full(len(rows), -np.inf)
    of = np.array([-1 if x is None else code_of.get(x, -1) for x in pof], dtype=np.int64)
    sel = np.flatnonzero(of >= 0)
    if len(prog_rows) and len(sel):
        # progress rows sorted by (activity, line): the latest before a line is one search
        width = int(line.max()) + 1
        p_key = np.sort(acode[prog_rows] * width + line[prog_rows])
        p_val = c.num_at("value", np.searchsorted(line, p_key % width))
        q = np.searchsorted(p_key, of[sel] * width + ln[sel]) - 1
        found = (q >= 0) & (p_key[np.maximum(q, 0)] // width == of[sel])
        progress[sel[found]] = p_val[q[found]]
    return {
        "dep_unmet": np.array([u is not None for u in unmet], dtype=bool),
        "unmet_dependency": np.array(unmet, dtype=object),
        "progress_of": np.array(pof, dtype=object),
        "progress": progress,
        "threshold": np.where(np.array([x is None for x in pof], dtype=bool), np.nan, thr),
    }
