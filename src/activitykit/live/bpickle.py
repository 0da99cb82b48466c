"""The bpickle wire format that Landscape Client speaks, written from its description.

A value is one type letter followed by its body:

=========  ===========================  ==========================================
type       encoding                     example
=========  ===========================  ==========================================
None       ``n``                        ``n``
bool       ``b0`` / ``b1``              ``b1``
int        ``i<decimal>;``              ``i-42;``
float      ``f<repr>;``                 ``f0.5;``
bytes      ``s<length>:<raw bytes>``    ``s3:abc``
str        ``u<utf-8 length>:<utf-8>``  ``u2:hi``
list       ``l<values>;``               ``li1;i2;;``
tuple      ``t<values>;``               ``tn;``
dict       ``d<key><value>...;``        ``du1:ai1;;`` (keys sorted when encoding)
=========  ===========================  ==========================================

The decoder is strict, because it reads bodies from the network: every malformed input
raises :class:`BpickleError` (a ``ValueError``) naming the byte offset and what is wrong,
and inputs, nesting and declared lengths are bounded so that a hostile body costs at most
its own size. Dict keys sent as bytes become ``str`` (the client's code expects text keys).
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["DEFAULT_MAX_DEPTH", "DEFAULT_MAX_SIZE", "BpickleError", "dumps", "loads"]

#: Largest body :func:`loads` accepts by default. A client exchange carries at most 100
#: messages; script output is truncated by the client to 100 kB per message.
DEFAULT_MAX_SIZE = 32 * 1024 * 1024
#: Deepest nesting :func:`loads` accepts by default (real payloads nest about 5 deep).
DEFAULT_MAX_DEPTH = 64

_INT = re.compile(rb"-?(?:0|[1-9][0-9]*);")
_FLOAT = re.compile(rb"-?(?:inf|nan|[0-9]+(?:\.[0-9]+)?(?:e[-+][0-9]+)?);")
_LENGTH = re.compile(rb"(?:0|[1-9][0-9]*):")


class BpickleError(ValueError):
    """A value that cannot be encoded, or bytes that are not one well-formed value."""

    def __init__(self, problem: str, offset: int | None = None):
        super().__init__(problem if offset is None else f"at byte {offset}: {problem}")
        self.problem = problem
        self.offset = offset


# ---------------------------------------------------------------------------- encoding


def dumps(value: Any) -> bytes:
    """Encode ``value`` (None, bool, int, float, bytes, str, list, tuple, dict)."""
    out: list[bytes] = []
    _encode(value, out, 0)
    return b"".join(out)


def _encode(value: Any, out: list[bytes], depth: int) -> None:
    if depth > DEFAULT_MAX_DEPTH:
        raise BpickleError(f"value nests deeper than {DEFAULT_MAX_DEPTH} levels")
    kind = type(value)
    # Exact types first, most frequent first (text dominates real payloads); subclasses
    # take the isinstance path below. bool is tested before int: True is an int too.
    if kind is str:
        raw = value.encode("utf-8")
        out.append(b"u%d:" % len(raw))
        out.append(raw)
    elif kind is dict:
        _encode_dict(value, out, depth)
    elif kind is int:
        _encode_int(value, out)
    elif kind is list or kind is tuple:
        out.append(b"l" if kind is list else b"t")
        for item in value:
            _encode(item, out, depth + 1)
        out.append(b";")
    elif value is None:
        out.append(b"n")
    elif value is True or value is False:
        out.append(b"b1" if value else b"b0")
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out.append(b"s%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, float):
        out.append(b"f" + repr(float(value)).encode("ascii") + b";")
    elif isinstance(value, int):
        _encode_int(int(value), out)
    elif isinstance(value, str):
        _encode(str(value), out, depth)
    elif isinstance(value, list | tuple):
        _encode(list(value) if isinstance(value, list) else tuple(value), out, depth)
    elif isinstance(value, dict):
        _encode_dict(value, out, depth)
    else:
        raise BpickleError(f"cannot encode a value of type {type(value).__name__}")


def _encode_int(value: int, out: list[bytes]) -> None:
    try:
        out.append(b"i%d;" % value)
    except ValueError as exc:  # more digits than Python converts (sys.int_info)
        raise BpickleError(f"int too large to encode: {exc}") from None


def _encode_dict(value: dict[Any, Any], out: list[bytes], depth: int) -> None:
    try:
        keys = sorted(value)
    except TypeError as exc:
        raise BpickleError(f"dict keys cannot be put in order: {exc}") from None
    out.append(b"d")
    for key in keys:
        _encode(key, out, depth + 1)
        _encode(value[key], out, depth + 1)
    out.append(b";")


# ---------------------------------------------------------------------------- decoding


def loads(
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Decode exactly one value from ``data``; anything else raises :class:`BpickleError`."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BpickleError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise BpickleError(f"input is {len(data)} bytes, more than the limit of {max_size}")
    if not data:
        raise BpickleError("input is empty", 0)
    value, end = _Decoder(data, max_depth).value(0, 0)
    if end != len(data):
        raise BpickleError(f"{len(data) - end} unexpected bytes after the value", end)
    return value


class _Decoder:
    __slots__ = ("data", "max_depth", "max_digits")

    def __init__(self, data: bytes, max_depth: int):
        self.data = data
        self.max_depth = max_depth
        #: No declared length with more digits than this fits in the input.
        self.max_digits = len(str(len(data)))

    def value(self, pos: int, depth: int) -> tuple[Any, int]:
        data = self.data
        if pos >= len(data):
            raise BpickleError("input ends where a value should start", pos)
        letter = data[pos]
        # Most frequent letters first: text, then containers.
        if letter == 0x75:  # u
            start, end = self._sized(pos, "str")
            try:
                return data[start:end].decode("utf-8"), end
            except UnicodeDecodeError as exc:
                raise BpickleError(
                    f"str is not valid UTF-8: {exc.reason}", start + exc.start
                ) from None
        if letter in (0x6C, 0x74, 0x64):  # l t d
            if depth >= self.max_depth:
                raise BpickleError(f"nesting deeper than {self.max_depth} levels", pos)
            if letter == 0x64:
                return self._dict(pos, depth + 1)
            items, end = self._items(pos, depth + 1)
            return (items if letter == 0x6C else tuple(items)), end
        if letter == 0x6E:  # n
            return None, pos + 1
        if letter == 0x62:  # b
            flag = data[pos + 1 : pos + 2]
            if flag not in (b"0", b"1"):
                raise BpickleError(f"bool must be b0 or b1, found b{_show(flag)}", pos)
            return flag == b"1", pos + 2
        if letter == 0x69:  # i
            m = _INT.match(data, pos + 1)
            if m is None:
                raise BpickleError(f"malformed int {_show(data[pos : pos + 24])}", pos)
            try:
                return int(data[pos + 1 : m.end() - 1]), m.end()
            except ValueError as exc:  # more digits than Python converts (sys.int_info)
                raise BpickleError(f"int too large: {exc}", pos) from None
        if letter == 0x66:  # f
            m = _FLOAT.match(data, pos + 1)
            if m is None:
                raise BpickleError(f"malformed float {_show(data[pos : pos + 32])}", pos)
            return float(data[pos + 1 : m.end() - 1]), m.end()
        if letter == 0x73:  # s
            start, end = self._sized(pos, "bytes")
            return data[start:end], end
        raise BpickleError(f"unknown type letter {_show(data[pos : pos + 1])}", pos)

    def _sized(self, pos: int, what: str) -> tuple[int, int]:
        """Return the (start, end) of a length-prefixed body that starts at ``pos``."""
        m = _LENGTH.match(self.data, pos + 1)
        if m is None:
            head = _show(self.data[pos : pos + 16])
            raise BpickleError(f"{what} needs <length>: after its letter, found {head}", pos)
        start = m.end()
        if start - pos - 2 > self.max_digits:
            raise BpickleError(f"{what} declares a length longer than the input", pos)
        length = int(self.data[pos + 1 : start - 1])
        if start + length > len(self.data):
            missing = start + length - len(self.data)
            raise BpickleError(f"{what} of {length} bytes runs {missing} bytes past the end", pos)
        return start, start + length

    def _items(self, pos: int, depth: int) -> tuple[list[Any], int]:
        data = self.data
        items: list[Any] = []
        pos += 1
        while True:
            if pos >= len(data):
                raise BpickleError("input ends inside a list or tuple (no closing ;)", pos)
            if data[pos] == 0x3B:  # ;
                return items, pos + 1
            item, pos = self.value(pos, depth)
            items.append(item)

    def _dict(self, pos: int, depth: int) -> tuple[dict[Any, Any], int]:
        data = self.data
        result: dict[Any, Any] = {}
        pos += 1
        while True:
            if pos >= len(data):
                raise BpickleError("input ends inside a dict (no closing ;)", pos)
            if data[pos] == 0x3B:
                return result, pos + 1
            key_at = pos
            key, pos = self.value(pos, depth)
            if isinstance(key, bytes):
                try:
                    key = key.decode("ascii")
                except UnicodeDecodeError:
                    raise BpickleError("bytes dict key is not ASCII", key_at) from None
            elif isinstance(key, list | dict) or (isinstance(key, float) and math.isnan(key)):
                raise BpickleError(f"a {type(key).__name__} cannot be a dict key", key_at)
            try:
                seen = key in result
            except TypeError:  # a tuple key holding a list
                raise BpickleError("dict key is not hashable", key_at) from None
            if seen:
                raise BpickleError(f"duplicate dict key {key!r}", key_at)
            if pos < len(data) and data[pos] == 0x3B:
                raise BpickleError(f"dict key {key!r} has no value", pos)
            result[key], pos = self.value(pos, depth)


def _show(raw: bytes) -> str:
    """A short printable form of some input bytes for an error message."""
    return repr(raw)[1:] if raw else "nothing"
