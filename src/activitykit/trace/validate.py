"""Record validation, twice over one rule table: one record at a time, or a whole table.

``validate_record`` judges one record (the careful path: its error names the line, the
field and the rule). ``validate_table`` judges a pyarrow Table with vector operations (the
fast path) and raises ``Fallback`` on anything it will not vouch for, so that the caller
re-reads record by record and gets the precise error, or the same values. Both take every
rule from ``schema.FIELD_RULES`` and ``schema.EVENT_RULES``: what a field's value must be,
which fields a kind must, may or (conditionally) needs to carry.

Records come out normalised: state names in spec spelling ("in_progress" -> "In Progress"),
kinds lower case, result statuses "succeeded"/"failed" (6/5 accepted), fields a kind does
not define dropped.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..model import UnknownKindError, UnknownStateError, parse_kind, parse_state
from .schema import COMMON_FIELDS, EVENT_FIELDS, EVENT_RULES, FIELD_RULES, FIELDS, REQUIRED, Value

__all__ = ["ALL_FIELDS", "Fallback", "Monotone", "validate_record", "validate_table"]

Record = dict[str, Any]
ALL_FIELDS: frozenset[str] = frozenset(FIELDS)

_STATUS: Mapping[Any, str] = {
    "succeeded": "succeeded",
    "failed": "failed",
    "6": "succeeded",
    "5": "failed",
    6: "succeeded",
    5: "failed",
}


def _status(v: Any) -> str:
    key = v.strip().lower() if isinstance(v, str) else v
    return _STATUS[key]


#: Value kinds a reader maps to a canonical spelling (unknown spellings raise).
_CANONICAL: Mapping[Value, Callable[[Any], str]] = {
    Value.STATE: lambda v: parse_state(v).value,
    Value.KIND: lambda v: parse_kind(v).value,
    Value.STATUS: _status,
}
_BY_VALUE: dict[Value, frozenset[str]] = {
    value: frozenset(n for n, r in FIELD_RULES.items() if r.value is value) for value in Value
}
_VALUE_OF: Mapping[str, Value] = {n: r.value for n, r in FIELD_RULES.items()}
_ALLOWED: dict[tuple[str, frozenset[str]], frozenset[str]] = {}


def _allowed(event: str, fields: frozenset[str]) -> frozenset[str]:
    # keyed by the set itself, not its id(): a freed set's id is reused by the next one
    key = (event, fields)
    got = _ALLOWED.get(key)
    if got is None:
        got = (frozenset(COMMON_FIELDS) | frozenset(EVENT_FIELDS.get(event, ()))) & fields
        _ALLOWED[key] = got
    return got


def _bad(source: str, line: int | None, message: str) -> InputError:
    return InputError(message, source=source, line=line)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


#: Values in messages: a few levels and items of a list or object, then "..." (``repr`` of a
#: value nested 1000 deep would recurse past Python's limit; of a huge one, flood the screen).
_SHORT = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 3, 4, 4
_SHORT.maxstring = _SHORT.maxother = 60


def _brief(v: Any) -> str:
    """``v`` for a message: a huge integer by its size, not its 400 digits; a list or an
    object shortened."""
    if isinstance(v, int) and abs(v) >= 10**30:
        return f"an integer of {len(str(abs(v)))} digits"
    return _SHORT.repr(v)


def _int64(name: str, v: int, source: str, line: int | None) -> int:
    """``v`` if it fits the trace format's 64-bit integers (columns are int64)."""
    if -(2**63) <= v < 2**63:
        return v
    raise _bad(source, line, f"field {name!r} must be an integer within 64 bits, got {_brief(v)}")


def _value(name: str, v: Any, value: Value, source: str, line: int | None) -> Any:
    """``v`` checked against ``value`` and normalised; InputError naming the field if not."""
    if value is Value.TEXT:  # the common case first: this runs once per field of a record
        if isinstance(v, str):
            return v
    elif value is Value.NUMBER:
        if not _is_number(v):
            raise _bad(source, line, f"field {name!r} must be a number, got {_brief(v)}")
        try:
            f = float(v)
        except OverflowError:  # an integer beyond any float (e.g. 400 digits)
            f = math.inf
        if not math.isfinite(f):
            raise _bad(source, line, f"field {name!r} must be a finite number, got {_brief(v)}")
        return f
    elif value is Value.INTEGER or value is Value.ID:
        if isinstance(v, float) and math.isfinite(v) and abs(v) >= 2**63:
            # orjson gives an integer beyond 64 bits as a float: its rounded value is not
            # the one written, so it is not quoted
            raise _bad(
                source,
                line,
                f"field {name!r} must be an integer within 64 bits, got a number beyond 64 bits",
            )
        if value is Value.ID and isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, int) and not isinstance(v, bool):
            return _int64(name, v, source, line)
        if value is Value.ID and isinstance(v, str):
            return v
    elif value is Value.BOOL:
        if isinstance(v, bool):
            return v
    elif value is Value.TEXTS:
        if isinstance(v, list | tuple) and all(isinstance(x, str) for x in v):
            return list(v)
    elif value is Value.STATUS or isinstance(v, str):  # status: text or 6/5
        try:
            return _CANONICAL[value](v)
        except (UnknownStateError, UnknownKindError) as exc:
            raise _bad(source, line, f"field {name!r}: {exc}") from None
        except (KeyError, AttributeError, TypeError):
            pass
    raise _bad(source, line, f"field {name!r} must be {value.value}, got {_brief(v)}")


def validate_record(
    raw: object,
    source: str = "<records>",
    line: int | None = None,
    fields: frozenset[str] = ALL_FIELDS,
) -> Record:
    """Check one record against the trace format and return it normalised.

    Keeps the fields its event kind defines (``COMMON_FIELDS`` + ``EVENT_FIELDS``), limited
    to ``fields``; everything else is dropped like an unknown field. Raises ``InputError``
    naming ``source:line``, the field and the rule on anything a checker cannot judge: not
    an object, a missing required field, a wrong type, an unknown state or kind name, a
    non-finite time.
    """
    if not isinstance(raw, Mapping):
        raise _bad(source, line, f"a record must be a JSON object, got {type(raw).__name__}")
    event = raw.get("event")
    keep = _allowed(event, fields) if isinstance(event, str) else COMMON_FIELDS
    rec: Record = {}
    for name in FIELDS:
        if name not in keep:
            continue
        v = raw.get(name)
        if v is None or (isinstance(v, float) and math.isnan(v) and name != "t"):
            continue
        rec[name] = v
    if "t" not in rec:
        raise _bad(source, line, "missing required field 't' (every record needs a time)")
    if event is None:
        raise _bad(source, line, "missing required field 'event' (every record needs a kind)")
    if not isinstance(event, str):
        raise _bad(source, line, f"field 'event' must be a string, got {_brief(event)}")
    required = REQUIRED.get(event, ())
    for name in required:
        if name not in rec and name in fields:  # a field not read is not judged
            raise _bad(
                source,
                line,
                f"missing required field {name!r} for a {event!r} record "
                f"(the trace format: {event} needs {', '.join(required)})",
            )
    for name, v in rec.items():
        rec[name] = _value(name, v, _VALUE_OF[name], source, line)
    rule = EVENT_RULES.get(event)
    for need in rule.needs if rule is not None else ():
        met = need.when in rec and (need.equals is None or rec[need.when] == need.equals)
        if met and need.field not in rec and need.field in fields:
            raise _bad(source, line, need.message)
    return rec


class Monotone:
    """Raises on a ``t`` smaller than the previous record's (the format: non-decreasing)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.last = -math.inf
        self.last_line: int | None = None

    def __call__(self, rec: Record, line: int) -> None:
        t = rec["t"]
        if t < self.last:
            raise _bad(
                self.source,
                line,
                f"t={t:g} is smaller than t={self.last:g} on line {self.last_line}; records "
                "must be in non-decreasing t order (sort the trace by t, keeping file order "
                "for equal times)",
            )
        self.last, self.last_line = t, line


# -- the vectorised twin ----------------------------------------------------------------------


class Fallback(Exception):
    """The fast path met something it will not judge; the careful path takes over."""


def one_array(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``col`` as one array; a single chunk is used as it is (``combine_chunks`` copies it)."""
    if not isinstance(col, pa.ChunkedArray):
        return col
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def dictionary(col, parse=None):
    """The column dictionary-encoded; with ``parse``, its dictionary mapped to canonical names.

    The checker reads the integer codes straight from these columns, so each text column is
    hashed once. ``parse`` raising (an unknown name) sends the caller to the careful path.
    """
    arr = one_array(col)
    enc = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    if parse is None:
        return enc
    values = enc.dictionary.to_pylist()
    canon = [parse(v) for v in values]
    if canon == values:
        return enc
    return pa.DictionaryArray.from_arrays(enc.indices, pa.array(canon, pa.string()))


def _cast(table: pa.Table, names: list[str]) -> pa.Table:
    """Each column to its schema type; a column the rules would refuse raises Fallback."""
    for n in names:
        want, value = FIELDS[n], FIELD_RULES[n].value
        have = table.schema.field(n).type
        if have.equals(want) or (value is Value.ID and pa.types.is_string(have)):
            continue
        text = pa.types.is_dictionary(have) and pa.types.is_string(have.value_type)
        if text and pa.types.is_string(want):
            continue
        numeric = pa.types.is_integer(have) or pa.types.is_floating(have)
        if pa.types.is_string(want):
            # only a numeric status (6/5) is turned into text; other text fields must be text
            if not (
                pa.types.is_large_string(have)
                or (value is Value.STATUS and pa.types.is_integer(have))
            ):
                raise Fallback
            want = pa.string()
        elif (pa.types.is_integer(want) or pa.types.is_floating(want)) and not numeric:
            raise Fallback
        try:
            table = table.set_column(names.index(n), n, pc.cast(table.column(n), want))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            raise Fallback from None
    return table


def validate_table(table: pa.Table, lines: np.ndarray, fields: frozenset[str] = ALL_FIELDS):
    """Vectorised twin of ``validate_record`` + the t-order rule; raises ``Fallback`` on doubt.

    Returns the table with only ``FIELDS`` columns (canonical types and names) plus ``line``.
    Text columns of canonical names (states, kinds, statuses) and ``event`` come
    dictionary-encoded.
    """
    names = [n for n in FIELDS if n in table.column_names and n in fields]
    if "t" not in names or "event" not in names:
        raise Fallback
    table = _cast(table.select(names), names)
    t = table.column("t").to_numpy()
    if len(t) and (not np.isfinite(t).all() or (np.diff(t) < 0).any()):
        raise Fallback
    for n in _BY_VALUE[Value.NUMBER] - {"t"}:
        if n in names and np.isinf(table.column(n).to_numpy()).any():
            raise Fallback
    if table.column("event").null_count:
        raise Fallback
    table = table.set_column(names.index("event"), "event", dictionary(table.column("event")))
    evc = table.column("event").chunk(0) if table.num_rows else None
    kinds = evc.dictionary.to_pylist() if evc is not None else []
    idx = evc.indices.to_numpy() if evc is not None else np.zeros(0, dtype=np.int32)
    valid: dict[str, np.ndarray] = {}

    def ok(name: str) -> np.ndarray:
        if name not in valid:
            valid[name] = (
                table.column(name).is_valid().to_numpy(zero_copy_only=False)
                if name in names
                else np.zeros(len(idx), dtype=bool)
            )
        return valid[name]

    def of_kinds(pred: Callable[[str], bool]) -> np.ndarray:
        """Per row: does ``pred`` hold for its event kind (one test per distinct kind)."""
        return np.array([pred(k) for k in kinds], dtype=bool)[idx]

    # a field on a record whose kind does not define it is ignored (as validate_record does)
    for n in names:
        col = table.column(n)
        if n in COMMON_FIELDS or col.null_count == len(col):
            continue
        here = of_kinds(lambda k, n=n: n in EVENT_FIELDS.get(k, ()))
        stray = ok(n) & ~here
        if stray.any():
            cleared = pc.if_else(pa.array(here), col, pa.scalar(None, col.type))
            table = table.set_column(names.index(n), n, cleared)
            valid[n] = ok(n) & here
    try:
        for n in names:
            parse = _CANONICAL.get(FIELD_RULES[n].value)
            if parse is not None:
                table = table.set_column(names.index(n), n, dictionary(table.column(n), parse))
    except (UnknownStateError, UnknownKindError, KeyError, AttributeError, TypeError):
        raise Fallback from None
    # required fields: one pass per field over the rows of the kinds that need it
    for f in {f for k in kinds for f in REQUIRED.get(k, ())} & fields:
        if f in names and not table.column(f).null_count:
            continue
        if (of_kinds(lambda k, f=f: f in REQUIRED.get(k, ())) & ~ok(f)).any():
            raise Fallback
    for kind in kinds:
        rule = EVENT_RULES.get(kind)
        rows = None
        for need in rule.needs if rule is not None else ():
            if need.field not in fields or need.when not in names:
                continue  # not read, or no record carries the condition
            if rows is None:
                rows = np.flatnonzero(idx == kinds.index(kind))
            when = ok(need.when)[rows]
            if need.equals is not None:
                col = table.column(need.when).chunk(0)  # dictionary-encoded above
                hit = np.array([v == need.equals for v in col.dictionary.to_pylist()] + [False])
                when &= hit[col.indices.take(pa.array(rows)).fill_null(-1).to_numpy()]
            if (when & ~ok(need.field)[rows]).any():
                raise Fallback
    return table.append_column("line", pa.array(np.asarray(lines, dtype=np.int64)))
