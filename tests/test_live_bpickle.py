"""The bpickle codec: known encodings, round trips, strict errors, captured client payloads."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activitykit.live.bpickle import BpickleError, dumps, loads

CAPTURES = Path(__file__).parent / "data" / "live"

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.binary(max_size=64)
    | st.text(max_size=32)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=5).map(tuple)
        | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (None, b"n"),
        (True, b"b1"),
        (False, b"b0"),
        (0, b"i0;"),
        (-42, b"i-42;"),
        (0.5, b"f0.5;"),
        (1e-05, b"f1e-05;"),
        (float("-inf"), b"f-inf;"),
        (b"", b"s0:"),
        (b"a;b", b"s3:a;b"),
        ("", b"u0:"),
        ("é", b"u2:\xc3\xa9"),
        ([], b"l;"),
        ([1, [2]], b"li1;li2;;;"),
        ((None,), b"tn;"),
        ({"b": 1, "a": "x"}, b"du1:au1:xu1:bi1;;"),  # keys sorted
        ({"messages": True}, b"du8:messagesb1;"),
    ],
)
def test_known_encodings(value: object, wire: bytes) -> None:
    assert dumps(value) == wire
    back = loads(wire)
    assert back == value and type(back) is type(value)


@given(values)
def test_round_trip(value: object) -> None:
    assert loads(dumps(value)) == value


@given(values)
def test_encoding_is_canonical(value: object) -> None:
    """Decoding then encoding gives the same bytes: one value, one encoding."""
    wire = dumps(value)
    assert dumps(loads(wire)) == wire


def test_nan_round_trips() -> None:
    assert math.isnan(loads(dumps(float("nan"))))


def test_bytes_keys_become_text() -> None:
    assert loads(b"ds4:typeu4:ping;") == {"type": "ping"}


@given(values, st.data())
def test_every_truncation_is_an_error_with_its_offset(value: object, data: st.DataObject) -> None:
    wire = dumps(value)
    cut = data.draw(st.integers(0, len(wire) - 1))
    try:
        loads(wire[:cut])
    except BpickleError as exc:
        assert exc.offset is not None and 0 <= exc.offset <= cut
    else:  # a prefix can only decode if it is itself a whole value; then it must differ
        raise AssertionError(f"prefix {wire[:cut]!r} of {wire!r} decoded")


@given(st.binary(max_size=200))
def test_garbage_raises_only_bpickle_errors(garbage: bytes) -> None:
    with contextlib.suppress(BpickleError):
        loads(garbage)


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        (b"", "input is empty"),
        (b"q", "unknown type letter"),
        (b"b", "bool must be b0 or b1"),
        (b"b7", "bool must be b0 or b1"),
        (b"i12", "malformed int"),
        (b"i+1;", "malformed int"),
        (b"i007;", "malformed int"),
        (b"i1_0;", "malformed int"),
        (b"f1.;", "malformed float"),
        (b"f 1;", "malformed float"),
        (b"s-1:", "needs <length>:"),
        (b"s5:abc", "runs 2 bytes past the end"),
        (b"s" + b"9" * 40 + b":", "length longer than the input"),
        (b"u2:\xff\xfe", "not valid UTF-8"),
        (b"li1;", "no closing ;"),
        (b"du1:a", "input ends where a value should start"),
        (b"du1:a;", "has no value"),
        (b"du1:ai1;u1:ai2;;", "duplicate dict key 'a'"),
        (b"dli1;;i1;;", "a list cannot be a dict key"),
        (b"ds1:\xffi1;;", "not ASCII"),
        (b"i1;n", "1 unexpected bytes after the value"),
        (b"l" * 100 + b";" * 100, "nesting deeper than 64"),
        (b"i" + b"1" * 5000 + b";", "int too large"),
    ],
)
def test_strict_errors_name_offset_and_problem(wire: bytes, problem: str) -> None:
    with pytest.raises(BpickleError, match=r"at byte [0-9]+: ") as info:
        loads(wire)
    assert problem in str(info.value)


def test_size_limit() -> None:
    with pytest.raises(BpickleError, match="more than the limit of 10"):
        loads(dumps(b"x" * 20), max_size=10)
    assert loads(dumps(b"x" * 5), max_size=10) == b"x" * 5


@pytest.mark.parametrize(
    "bad", [object(), {1, 2}, {1: "a", "b": 2}, 10**5000], ids=["object", "set", "mixed", "huge"]
)
def test_unencodable_values(bad: object) -> None:
    with pytest.raises(BpickleError):
        dumps(bad)


def test_loads_wants_bytes() -> None:
    with pytest.raises(BpickleError, match="expected bytes, got str"):
        loads("n")  # type: ignore[arg-type]


def _captured_bodies() -> list[Path]:
    return sorted(CAPTURES.rglob("*.bpickle"))


@pytest.mark.parametrize("path", _captured_bodies(), ids=lambda p: p.name)
def test_decodes_payloads_captured_from_the_real_client(path: Path) -> None:
    """Bodies recorded from the real client (tests/data/live/) decode and re-encode as sent."""
    payload = loads(path.read_bytes())
    assert isinstance(payload, dict)
    assert dumps(payload) == path.read_bytes()


def test_captures_exist() -> None:
    """The capture test above must not pass by having nothing to check."""
    assert len(_captured_bodies()) >= 5
