"""The fast parsers: pyarrow reads a block of a JSON Lines or CSV trace into columns.

They parse with the explicit schema of ``schema.FIELDS`` and number the rows with their
physical lines; ``validate.validate_table`` then judges the columns. Anything unusual (a
type pyarrow refuses, lines it cannot number one record each) raises ``Fallback``, and the
reader goes the careful way, record by record.

A JSON Lines block of *plain* lines (``_plain_jsonl``: what the kit's writers produce) is
read without a JSON parser, for about a quarter less CPU time than pyarrow's JSON reader
(measured): a regular expression vouches for every line's grammar, and the values are cut
out of the bytes by position. A block with any other line goes to pyarrow's JSON reader;
``validate_table`` makes the same table of a block either way (a property test holds the
plain path to the careful one).
"""

from __future__ import annotations

import csv
import itertools
import re

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pj

from ._io import MAX_LINE_BYTES
from .schema import COMMON_FIELDS, EVENT_FIELDS, FIELD_RULES, FIELDS, LIST_FIELDS, Value
from .validate import ALL_FIELDS, Fallback

__all__ = ["fast_csv", "fast_jsonl", "nonblank_lines"]

#: Events whose records carry fields no other record has: the JSON Lines parser reads those
#: fields from these lines alone (parsing cost grows with the number of schema fields).
_COLD_EVENTS = ("created", "progress", "group")
#: Fields only those events define. ``kind`` and ``state`` stay in the first pass: few
#: distinct values, so one dictionary-encode of a full column beats a per-row dictionary.
_COLD_FIELDS = frozenset(
    f
    for f in FIELDS
    if f not in COMMON_FIELDS
    and all(e in _COLD_EVENTS for e, fs in EVENT_FIELDS.items() if f in fs)
) - {"kind", "state"}


def _line_starts(data: bytes) -> np.ndarray:
    """Byte offset of the start of every physical line, plus ``len(data)`` at the end."""
    buf = np.frombuffer(data, dtype=np.uint8)
    step = 1 << 24  # chunks keep the temporary mask small (no 1-byte-per-byte copy of the file)
    parts = [np.zeros(1, dtype=np.int64)]
    for at in range(0, len(buf), step):
        parts.append(np.flatnonzero(buf[at : at + step] == 10).astype(np.int64) + (at + 1))
    if len(buf) and buf[-1] != 10:
        parts.append(np.array([len(buf)], dtype=np.int64))
    return np.concatenate(parts)


def _content(data: bytes, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first byte, length) of every line without its newline and a final "\\r"."""
    buf = np.frombuffer(data, dtype=np.uint8)
    first, after = starts[:-1], starts[1:]
    if not len(buf):
        return first, after - first
    length = after - first - (buf[np.maximum(after - 1, 0)] == 10)
    cr = np.zeros(len(first), dtype=bool)
    some = np.flatnonzero(length > 0)
    cr[some] = buf[first[some] + length[some] - 1] == 13
    return first, length - cr


def nonblank_lines(data: bytes, starts: np.ndarray | None = None) -> np.ndarray:
    """1-based numbers of the lines of ``data`` that are not empty (a lone "\\r" is empty)."""
    if starts is None:
        starts = _line_starts(data)
    _, length = _content(data, starts)
    # whitespace-only lines are rare; if pyarrow skips them the row count differs and the
    # careful path numbers the lines instead.
    return np.flatnonzero(length > 0) + 1


def _record_lines(data: bytes, starts: np.ndarray, rows: int) -> np.ndarray:
    """The line of each of the ``rows`` records pyarrow read, when each non-empty line holds
    exactly one; else ``Fallback``.

    pyarrow reads objects, not lines: it reads ``{...} {...}`` on one line as two rows and
    an object broken over two lines as one, and the two can cancel out in a row count.
    A line that starts with "{" and ends with "}" cannot end inside an object that goes on
    to the next line (that line would start with "{" right after a "}", which is not JSON),
    so on such lines one row per line is exactly "as many rows as lines"."""
    first, length = _content(data, starts)
    full = np.flatnonzero(length > 0)
    if len(full) != rows:
        raise Fallback
    buf = np.frombuffer(data, dtype=np.uint8)
    begin = first[full]
    if not ((buf[begin] == 123).all() and (buf[begin + length[full] - 1] == 125).all()):
        raise Fallback  # "{" ... "}" on every line, or the careful path judges the lines
    return full + 1


def _read_json(data, fields: list[str]):
    # one thread per block: the caller parses a block on every core, and pyarrow's own
    # threads would cut each block again (about 15% more CPU time, measured)
    return pj.read_json(
        pa.BufferReader(data),
        read_options=pj.ReadOptions(block_size=1 << 22, use_threads=False),
        parse_options=pj.ParseOptions(
            explicit_schema=pa.schema([pa.field(f, FIELDS[f]) for f in fields]),
            unexpected_field_behavior="ignore",
        ),
    )


def fast_jsonl(data: bytes, fields: frozenset[str] = ALL_FIELDS):
    """The block's records as columns, and the line of each.

    Plain lines (``_plain_jsonl``) are cut out by position. Other blocks take two passes of
    pyarrow's JSON reader: the common fields on every line, then the fields that only
    created, progress and group records carry on those lines alone (far cheaper than one
    pass with every field in the schema: parsing cost grows with the number of schema fields
    on every line)."""

    if not data or b"\x00" in data:
        raise Fallback
    wanted = [f for f in FIELDS if f in fields]
    plain = _plain_pieces(data, wanted)
    if plain is not None:  # no blank line: record k is line k
        return plain, np.arange(1, plain.num_rows + 1, dtype=np.int64)
    starts = _line_starts(data)
    if len(starts) > 1 and int(np.diff(starts).max()) > MAX_LINE_BYTES:
        raise Fallback  # the careful path names the over-long line
    cold = [f for f in wanted if f in _COLD_FIELDS]
    try:
        table = _read_json(data, [f for f in wanted if f not in cold])
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise Fallback from None
    lines = _record_lines(data, starts, table.num_rows)
    if not table.num_rows:
        raise Fallback
    if cold:
        table = _cold_pass(data, table, starts, lines, cold)
    return table, lines


def _cold_pass(data: bytes, table: pa.Table, starts: np.ndarray, lines: np.ndarray, cold):
    """``table`` with the ``cold`` fields, read from the lines of the events that carry them."""
    ev = pc.dictionary_encode(table.column("event").combine_chunks())
    table = table.set_column(table.column_names.index("event"), "event", ev)
    names = ev.dictionary.to_pylist()
    lut = np.array([e in _COLD_EVENTS for e in names] + [False], dtype=bool)
    rows = np.flatnonzero(lut[ev.indices.fill_null(-1).to_numpy()])
    every = pa.LargeStringArray.from_buffers(
        len(starts) - 1, pa.py_buffer(starts), pa.py_buffer(data)
    )
    picked = every.take(pa.array(lines[rows] - 1))
    offsets = np.frombuffer(picked.buffers()[1], dtype=np.int64)
    body = picked.buffers()[2]
    if len(rows):
        body = body.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
        if body.size and body[body.size - 1] != 10:
            body = pa.py_buffer(body.to_pybytes() + b"\n")
    try:
        sub = _read_json(body, cold) if len(rows) else None
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise Fallback from None
    if sub is not None and sub.num_rows != len(rows):
        raise Fallback
    n = table.num_rows
    where = np.full(n, -1, dtype=np.int32)
    where[rows] = np.arange(len(rows), dtype=np.int32)
    missing = where < 0
    for f in cold:
        typ = FIELDS[f]
        part = sub.column(f).combine_chunks() if sub is not None else None
        if part is None or part.null_count == len(part):
            col = pa.nulls(n, typ)
        elif pa.types.is_floating(typ):
            # spread the few values over the rows without a gather of every row
            full = np.full(n, np.nan)
            full[rows] = part.to_numpy(zero_copy_only=False)
            col = pa.array(full, mask=missing | np.isnan(full))
        elif pa.types.is_string(typ):
            # the parsed values become the dictionary; rows point into it (no string
            # copy). A dictionary holds no nulls (blocks' dictionaries are unified later)
            ok = part.is_valid().to_numpy(zero_copy_only=False)
            at = np.where(missing, 0, where)
            keep = ~missing & ok[at]
            index = (np.cumsum(ok) - 1)[at].astype(np.int32)
            col = pa.DictionaryArray.from_arrays(pa.array(index, mask=~keep), part.drop_null())
        else:
            col = part.take(pa.array(where, mask=missing))
        table = table.append_column(f, col)
    return table.select([f for f in FIELDS if f in table.column_names])


# -- plain lines ------------------------------------------------------------------------------

#: A JSON string without escapes, of printable ASCII only: its value is its bytes between the
#: quotes, and it holds no quote (so quotes pair up: key, key, value, value, ...).
_STR = r'"[ !#-\[\]-~]*"'
#: A JSON number short enough for a float64 (or an int64) column to hold as written;
#: anything longer takes the JSON path. Not "-0": the careful path (orjson) reads it as the
#: integer 0, a cast as the float -0.0 (with a fraction or an exponent both read -0.0).
_FRAC, _EXP = r"\.[0-9]{1,20}", r"[eE][+-]?[0-9]{1,3}"
_NUM = (
    rf"(?:-?[1-9][0-9]{{0,15}}(?:{_FRAC})?(?:{_EXP})?|0(?:{_FRAC})?(?:{_EXP})?"
    rf"|-0(?:{_FRAC}(?:{_EXP})?|{_EXP}))"
)
_TOKEN = rf"(?:{_NUM}|{_STR}|true|false|\[(?:{_STR}(?:, ?{_STR})*)?\])"
_ENTRY = '"(?:' + "|".join(map(re.escape, FIELDS)) + ')": ?' + _TOKEN
#: A plain line: one flat object of known fields, separated as Python's json or orjson
#: write them. No line of it can hold a newline.
_PLAIN_LINE = rf"\{{{_ENTRY}(?:, ?{_ENTRY})*\}}"
#: A block of plain lines, the last one with or without its newline: matched against the
#: whole block at once, RE2 runs one DFA pass (a third less than line by line, measured).
_PLAIN_BLOCK = rf"^(?:{_PLAIN_LINE}\n)*(?:{_PLAIN_LINE})?$"

_NAMES = tuple(FIELDS)
assert len(_NAMES) < 31, "_plain_jsonl keeps one bit per field in an int32"
#: The bits of the fields every record has.
_NEEDED = 1 << _NAMES.index("t") | 1 << _NAMES.index("event")
#: A field's index by the first and the last letter of its name, one look-up per key: exact
#: for the names the line pattern lets through (a new field that breaks this fails here).
_FIELD_OF = np.full((256, 256), -1, dtype=np.int8)
for _i, _n in enumerate(_NAMES):
    assert _FIELD_OF[ord(_n[0]), ord(_n[-1])] < 0, f"{_n!r}: first and last letter not unique"
    _FIELD_OF[ord(_n[0]), ord(_n[-1])] = _i


def _first_bytes(value: Value) -> bytes:
    """The bytes a token of the kind ``value`` wants may start with (else: the JSON path).

    Not the type rule itself (that is ``validate``'s, applied to every column either way):
    only a first sieve, stricter than the rule where that is cheaper (an id or a status
    written as text), which sends such blocks to the JSON path."""
    if value in (Value.NUMBER, Value.INTEGER, Value.ID):
        return b"-0123456789"  # an ID written as text takes the JSON path, as its column does
    if value is Value.BOOL:
        return b"tf"
    if value is Value.TEXTS:
        return b"["
    return b'"'  # text, and the names (states, kinds, statuses) validate_table reads


#: [field, first byte of its token]: does the token have the field's JSON type.
_TYPE_OK = np.zeros((len(_NAMES), 256), dtype=bool)
for _i, _n in enumerate(_NAMES):
    _TYPE_OK[_i, list(_first_bytes(FIELD_RULES[_n].value))] = True


#: The plain path reads a block in line-aligned pieces of about this many bytes: its arrays
#: of positions then stay in the processor's cache (13% less CPU than 16 MiB at once,
#: measured; 2 MiB gains no more).
_PLAIN_PIECE = 4 * 2**20


def _plain_pieces(data: bytes, wanted: list[str]) -> pa.Table | None:
    """``_plain_jsonl`` of the whole block, read in pieces cut at the first line start at
    or after every ``_PLAIN_PIECE`` bytes (no copy of the bytes)."""
    cuts = [0]
    for at in range(_PLAIN_PIECE, len(data), _PLAIN_PIECE):
        cut = data.find(b"\n", at - 1) + 1  # ``at`` itself when a line starts there
        if not cut:
            break
        if cut > cuts[-1]:
            cuts.append(cut)
    if cuts[-1] < len(data):
        cuts.append(len(data))
    view = memoryview(data)
    tables = []
    for lo, hi in itertools.pairwise(cuts):
        part = _plain_jsonl(view[lo:hi], wanted)
        if part is None:
            return None
        tables.append(part)
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables).combine_chunks()


def _plain_jsonl(data: bytes | memoryview, wanted: list[str]) -> pa.Table | None:
    """The ``wanted`` columns of a block of plain lines, each read on every line (those a
    kind does not define ``validate_table`` drops), or ``None`` when some line is not plain
    (blank, escaped, unknown field, other spacing, a wrong type, a repeated key...).

    The pattern vouches for each line's grammar; then the positions of the quotes give every
    key and value: quotes pair up, a pair followed by ":" is a key, its value runs to the
    "," before the next key (or the line's "}"). Numbers are converted by pyarrow's cast,
    which reads a JSON number as the careful path (orjson) does (correctly rounded). The lines start
    where their first keys do (a "{" before the key), so no pass looks for the newlines."""
    size = len(data)
    whole = pa.LargeStringArray.from_buffers(
        1, pa.py_buffer(np.array([0, size], dtype=np.int64)), pa.py_buffer(data)
    )
    if not size or not pc.match_substring_regex(whole, _PLAIN_BLOCK)[0].as_py():
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(buf == 34)
    opens, closes = quotes[0::2], quotes[1::2]
    is_key = buf[closes + 1] == 58
    ko, kc = opens[is_key], closes[is_key]
    field = _FIELD_OF[buf[ko + 1], buf[kc - 1]]
    starts_line = buf[ko - 1] == 123  # "{" before the key: the first key of its line
    row = np.cumsum(starts_line) - 1
    first = np.flatnonzero(starts_line)
    n = len(first)  # the pattern let through no line without a key, and no blank line
    starts = np.empty(n + 1, dtype=np.int64)
    starts[:-1], starts[-1] = ko[first] - 1, size
    if int(np.diff(starts).max()) > MAX_LINE_BYTES:
        return None  # the careful path names the over-long line
    # one bit per field: a line's keys are all different when their bits add up to their OR
    bits = np.left_shift(1, field, dtype=np.int32)
    union = np.bitwise_or.reduceat(bits, first)
    # summed in int64 on every platform: a line of MAX_LINE_BYTES holds under 2**20 keys of
    # at most 2**30 each, so the sum cannot wrap round to its OR
    total = np.add.reduceat(bits, first, dtype=np.int64)
    if (total != union).any() or ((union & _NEEDED) != _NEEDED).any():
        return None  # a repeated key, or no "t" or "event": the JSON path judges the line
    vs = kc + 2 + (buf[kc + 2] == 32)
    if not _TYPE_OK[field, buf[vs]].all():
        return None
    ve = np.empty_like(vs)
    ve[:-1] = ko[1:] - 1 - (buf[ko[1:] - 1] == 32)
    last = np.ones(len(ko), dtype=bool)
    last[:-1] = starts_line[1:]
    end = starts[1:] - 1
    end -= buf[end] == 10  # the line's "}"
    ve[last] = end[row[last]]
    # the keys grouped by field (a stable sort keeps each field's rows in line order)
    order = np.argsort(field, kind="stable")
    bounds = np.searchsorted(field[order], np.arange(len(_NAMES) + 1))
    row, vs, ve = row[order], vs[order], ve[order]
    cols = {}
    for name in wanted:
        i = _NAMES.index(name)
        at = slice(bounds[i], bounds[i + 1])
        col = _plain_column(data, n, FIELDS[name], row[at], vs[at], ve[at])
        if col is None:
            return None
        cols[name] = col
    return pa.table(cols)


def _plain_column(
    data: bytes | memoryview, n: int, typ: pa.DataType, r: np.ndarray, s: np.ndarray, e: np.ndarray
) -> pa.Array | None:
    """A column of ``n`` rows: row ``r[j]`` holds the token at bytes ``s[j]:e[j]``, the
    other rows are missing; ``None`` if a token does not convert to ``typ``.

    The tokens are gathered once, without gaps (pyarrow's ``take`` with missing rows costs
    twenty times more, measured), then spread over the rows by numpy."""
    m = len(r)
    if not m:
        return pa.nulls(n, typ)
    if pa.types.is_boolean(typ):
        full = np.zeros(n, dtype=bool)
        full[r] = np.frombuffer(data, dtype=np.uint8)[s] == 116  # "t"rue
        return _spread(pa.array(full), r, n)
    number = pa.types.is_integer(typ) or pa.types.is_floating(typ)
    if not number:
        s, e = s + 1, e - 1  # the text inside the quotes (the brackets of a list)
    # the tokens are every other value of one array over the block (no copy)
    offsets = np.empty(2 * m, dtype=np.int64)
    offsets[0::2], offsets[1::2] = s, e
    spans = pa.LargeStringArray.from_buffers(2 * m - 1, pa.py_buffer(offsets), pa.py_buffer(data))
    got = spans.take(pa.array(np.arange(0, 2 * m, 2, dtype=np.int64)))
    try:
        if number:
            vals = pc.cast(got, typ).to_numpy()
            if m == n:
                return pa.array(vals, type=typ)
            full = np.zeros(n, dtype=vals.dtype)
            full[r] = vals
            return _spread(pa.array(full, type=typ), r, n)
        if pa.types.is_list(typ):
            # "a", "b" split at its quotes: the items are every other piece
            got = pc.cast(pc.list_slice(pc.split_pattern(got, '"'), 1, None, 2), typ)
            length = pc.list_value_length(got).to_numpy()
            items = got.flatten()
        else:
            length = e - s
            items = got.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # e.g. a fraction in an integer field: the JSON path judges it
    if m == n:
        return got if pa.types.is_list(typ) else items
    size = np.zeros(n, dtype=np.int32)
    size[r] = length
    at = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(size, out=at[1:])
    if pa.types.is_list(typ):
        return _spread(pa.ListArray.from_arrays(pa.array(at), items, type=typ), r, n)
    body = items.buffers()[2]  # the gathered text, in row order, from byte 0
    return _spread(pa.StringArray.from_buffers(n, pa.py_buffer(at), body), r, n)


def _spread(col: pa.Array, r: np.ndarray, n: int) -> pa.Array:
    """``col`` with every row but ``r`` missing (its values there are ignored)."""
    present = np.zeros(n, dtype=bool)
    present[r] = True
    validity = pa.array(present).buffers()[1]
    own = col.buffers()[1 : col.type.num_buffers]  # a list's items come as its child
    children = [col.values] if pa.types.is_list(col.type) else None
    return pa.Array.from_buffers(col.type, n, [validity, *own], children=children)


def fast_csv(data: bytes, fields: frozenset[str] = ALL_FIELDS):

    if b"\x00" in data:
        raise Fallback
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace").removeprefix("\ufeff")
    try:
        names = [h.strip() for h in next(csv.reader([header]))] if header.strip() else []
    except csv.Error:
        raise Fallback from None  # (a "\r" line end, a huge field) the careful path judges it
    if "t" not in names or "event" not in names or len(set(names)) != len(names):
        raise Fallback
    types = {
        n: (pa.string() if n in LIST_FIELDS else FIELDS[n])
        for n in names
        if n in FIELDS and n in fields
    }
    try:
        table = pcsv.read_csv(
            pa.BufferReader(data),
            convert_options=pcsv.ConvertOptions(
                column_types=types,
                include_columns=list(types),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                true_values=["true"],
                false_values=["false"],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise Fallback from None
    lines = nonblank_lines(data)[1:]
    if len(lines) != table.num_rows:
        raise Fallback
    for n in LIST_FIELDS & set(table.column_names):
        try:
            # orjson, as the careful path: the same values, and deep nesting refused
            parsed = [None if v is None else orjson.loads(v) for v in table.column(n).to_pylist()]
            arr = pa.array(parsed, type=FIELDS[n])
        except (ValueError, pa.ArrowInvalid, pa.ArrowTypeError):
            raise Fallback from None
        table = table.set_column(table.column_names.index(n), n, arr)
    return table, lines
