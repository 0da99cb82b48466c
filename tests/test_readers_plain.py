"""The plain-line reader of JSON Lines blocks reads as the careful reader does, or steps aside.

``_fast._plain_jsonl`` cuts the values of the kit's own lines out by position; every block it
takes must validate to exactly the table the careful path (``json.loads`` and
``validate_record``, line by line) makes, and anything it is unsure of (escapes, other
spacing, wrong types, repeated keys...) must go to pyarrow's JSON reader.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from activitykit.check import check
from activitykit.check.synth import synth_trace
from activitykit.errors import InputError
from activitykit.trace import _fast
from activitykit.trace.readers import table_from_records
from activitykit.trace.schema import CHECK_FIELDS, FIELD_RULES, FIELDS, Value
from activitykit.trace.validate import (
    ALL_FIELDS,
    Fallback,
    Monotone,
    validate_record,
    validate_table,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Text the plain path takes as it is, and characters that send a line to the JSON path.
_PLAIN_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=6)
_ANY_TEXT = st.one_of(_PLAIN_TEXT, st.text(st.sampled_from('a"\\é,:\n\t{}[] '), max_size=4))
_NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -0.0, 0.0, 1e-320, 5e-324, 1.7976931348623157e308, 0.1]),
)


_SMALL_NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(-1e9, 1e9, allow_nan=False),
    st.sampled_from([0, 0.0, -0.0, 1e-320, 1.7976931348623157e308, 0.1, 1e-7]),
)


def _value(rule: Value, clean: bool) -> st.SearchStrategy:
    """A value of the field's own type (``clean``: one the plain path takes), or of any."""
    own = {
        Value.NUMBER: _SMALL_NUMBERS if clean else _NUMBERS,
        Value.INTEGER: st.integers(-(10**6), 10**6) if clean else st.integers(-(2**64), 2**64),
        Value.ID: st.integers(0, 10**6) if clean else st.integers(-(2**64), 2**64),
        Value.BOOL: st.booleans(),
        Value.TEXTS: st.lists(_PLAIN_TEXT if clean else _ANY_TEXT, max_size=3),
    }.get(rule, _PLAIN_TEXT if clean else _ANY_TEXT)
    if clean:
        return own
    other = st.one_of(_NUMBERS, st.booleans(), _ANY_TEXT, st.none(), st.lists(_ANY_TEXT))
    return st.one_of(own, own, own, other)


@st.composite
def _record(draw, clean: bool) -> dict:
    names = draw(st.lists(st.sampled_from(list(FIELDS)[2:]), unique=True, max_size=6))
    rec = {"t": draw(_value(Value.NUMBER, clean)), "event": draw(_value(Value.TEXT, clean))}
    for name in names:
        rec[name] = draw(_value(FIELD_RULES[name].value, clean))
    keys = list(rec)
    if draw(st.booleans()):
        keys = draw(st.permutations(keys))
    if not clean and draw(st.integers(0, 5)) == 0:
        keys.remove(draw(st.sampled_from(keys)))  # no "t" or no "event", at times
    if not clean and draw(st.integers(0, 5)) == 0:
        rec["unknown"] = 1
        keys.append("unknown")
    return {k: rec[k] for k in keys}


_STYLES = {
    "spaced": lambda r: json.dumps(r).encode(),  # Python's json: ", " and ": "
    "compact": lambda r: json.dumps(r, separators=(",", ":")).encode(),
    "orjson": orjson.dumps,  # the kit's writers
    "ascii-escaped": lambda r: json.dumps(r, ensure_ascii=True, indent=None).encode(),
}


def _json_path(data: bytes, fields: frozenset[str]) -> pa.Table | None:
    """What pyarrow's JSON reader makes of the block (``None``: it cannot vouch for it)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_fast, "_plain_jsonl", lambda *a: None)
        try:
            return _fast.fast_jsonl(data, fields)[0]
        except Fallback:
            return None


def _cells(table: pa.Table) -> dict[str, list]:
    """Each column's values as Python objects, floats with their sign (-0.0 is not 0.0)."""
    out = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        out[name] = [
            (v, math.copysign(1, v)) if isinstance(v, float) else v for v in col.to_pylist()
        ]
    return out


def _careful(data: bytes, fields: frozenset[str]) -> pa.Table | None:
    """The careful path's table of the block (``None``: it refuses the block)."""
    order = Monotone("<block>")
    pairs = []
    try:
        for n, line in enumerate(data.split(b"\n"), start=1):
            if line.strip():
                rec = validate_record(json.loads(line), "<block>", n, fields)
                order(rec, n)
                pairs.append((n, rec))
    except InputError:
        return None
    return table_from_records(pairs)


def _same(got: pa.Table, expected: pa.Table) -> None:
    """Equal cells, a column one table lacks being all missing in the other."""
    a, b = _cells(got), _cells(expected)
    none = [None] * got.num_rows
    for name in sorted(set(a) | set(b)):
        assert a.get(name, none) == b.get(name, none), name


@SETTINGS
@given(
    st.booleans().flatmap(lambda clean: st.lists(_record(clean), min_size=1, max_size=8)),
    st.sampled_from(sorted(_STYLES)),
    st.sampled_from([ALL_FIELDS, CHECK_FIELDS]),
    st.booleans(),
)
def test_plain_lines_read_as_the_careful_path_reads_them(
    records, style, fields, final_newline
) -> None:
    try:
        lines = [_STYLES[style](r) for r in records]
    except (TypeError, OverflowError):
        return  # orjson writes no integer beyond 64 bits
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    wanted = [f for f in FIELDS if f in fields]
    plain = _fast._plain_jsonl(data, wanted)
    event(f"plain path: {'no' if plain is None else 'yes'}")
    if plain is None:
        return
    assert [plain.schema.field(n).type for n in wanted] == [FIELDS[n] for n in wanted]
    expected = _careful(data, fields)
    try:
        got = validate_table(plain, list(range(1, len(lines) + 1)), fields)
    except Fallback:
        event("validate_table: the careful path judges the block")
        return  # always safe
    assert expected is not None, "the plain path vouched for a block the careful path refuses"
    _same(got, expected)


@pytest.mark.parametrize("style", ["spaced", "compact", "orjson"])
def test_the_kits_lines_take_the_plain_path(style: str) -> None:
    """Every record kind synth_trace writes, in the writers' spellings, is read plainly (no
    block of a kit trace pays for the JSON reader) and as the JSON reader reads it."""
    data = b"".join(_STYLES[style](r) + b"\n" for r in synth_trace(300, seed=3))
    wanted = [f for f in FIELDS if f in CHECK_FIELDS]
    plain = _fast._plain_jsonl(data, wanted)
    assert plain is not None
    lines = list(range(1, data.count(b"\n") + 1))
    expected = validate_table(_json_path(data, CHECK_FIELDS), lines, CHECK_FIELDS)
    _same(validate_table(plain, lines, CHECK_FIELDS), expected)


def test_a_block_read_in_pieces_reads_as_one(monkeypatch) -> None:
    """Pieces cut at line starts, down to one line each, make the block's one table."""
    data = b"".join(orjson.dumps(r) + b"\n" for r in synth_trace(40, seed=8))
    wanted = list(FIELDS)
    whole = _fast._plain_jsonl(data, wanted)
    assert whole is not None
    for size in (1, 100, 1000):
        monkeypatch.setattr(_fast, "_PLAIN_PIECE", size)
        assert _fast._plain_pieces(data, wanted).equals(whole)
    bad = data + b'{"t": 1e3, "event": "cancel", "activity": "a\\u0031"}\n'
    assert _fast._plain_pieces(bad, wanted) is None


@pytest.mark.parametrize(
    "line",
    [
        b'{"t": 1, "event": "cancel", "activity": "a\\u0031"}',  # an escape
        b'{"t": 1, "event": "cancel", "activity": "\xc3\xa9"}',  # not ASCII
        b'{"t": 1,  "event": "cancel"}',  # other spacing
        b'{"t": 1, "event": "cancel", "event": "enqueue"}',  # a repeated key
        b'{"event": "cancel", "activity": "a1"}',  # no time
        b'{"t": -0, "event": "cancel"}',  # json.loads: the integer 0
        b'{"t": 1, "event": "cancel", "activity": 7}',  # a number for a text
        b'{"t": 1, "event": "deliver", "operation_id": 7.5}',  # a fraction for an integer
        b'{"t": 1, "event": "deliver", "operation_id": "7"}',  # an id as text
        b'{"t": 12345678901234567, "event": "cancel"}',  # more digits than a float holds
        b'{"t": 1, "event": "cancel", "note": "x"}',  # a field the kit does not know
        b'{"t": 1, "event": "cancel", "activity": null}',
        b'{"t": 1, "event": "cancel"}\r',
        b"",
    ],
)
def test_anything_else_goes_to_the_json_reader(line: bytes) -> None:
    data = b'{"t": 0.5, "event": "enqueue", "activity": "a0"}\n' + line + b"\n"
    assert _fast._plain_jsonl(data, list(FIELDS)) is None


@pytest.mark.parametrize("final_newline", [True, False])
def test_a_line_beyond_the_limit_goes_to_the_json_reader(monkeypatch, final_newline) -> None:
    """The plain path finds lines by their first keys; the longest is held to the limit
    (the careful path names it), whether or not the block ends in a newline."""
    short = b'{"t": 0.5, "event": "enqueue", "activity": "a0"}'
    long = b'{"t": 1, "event": "enqueue", "activity": "a' + b"x" * 40 + b'"}'
    end = b"\n" if final_newline else b""
    monkeypatch.setattr(_fast, "MAX_LINE_BYTES", len(long) + 1)  # with its newline
    for data in (short + b"\n" + long + end, long + b"\n" + short + end):
        got = _fast._plain_jsonl(data, list(FIELDS))
        assert got is not None and got.num_rows == 2
    monkeypatch.setattr(_fast, "MAX_LINE_BYTES", len(long) - 1)
    assert _fast._plain_jsonl(short + b"\n" + long + end, list(FIELDS)) is None
    assert _fast._plain_jsonl(long + b"\n" + short + end, list(FIELDS)) is None


def test_a_check_reads_the_same_whichever_path(tmp_path: Path, monkeypatch) -> None:
    """The whole check (rules, lines, messages) on a trace with violations, both ways."""
    recs = list(synth_trace(200, seed=5))
    recs[40] = {**recs[40], "event": "transition", "from": "Succeeded", "to": "Queued"}
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    plain = check(path)
    with monkeypatch.context() as m:
        m.setattr(_fast, "_plain_jsonl", lambda *a: None)
        other = check(path)
    assert not plain.ok
    assert plain.to_json() == other.to_json()
