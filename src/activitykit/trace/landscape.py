"""The Landscape API importer: an activities export turned into trace records.

An export is one JSON document (a list of activity objects, or an object wrapping one under
``activities`` / ``results``). Each activity's timestamps become its ``created`` record and
state moves; see ``landscape_records`` for how, and docs/trace-format.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..model import CATALOG, START_STATES, Kind, State, UnknownStateError, parse_state
from ._io import read_json_document
from .schema import Value
from .validate import Record, _bad, _brief, _is_number, _value, validate_record

__all__ = ["MAX_EXPORT_BYTES", "landscape_records", "load_document"]

#: A Landscape export is one JSON document, parsed whole into Python objects (several
#: times its size in memory): 256 MiB is about half a million activities.
MAX_EXPORT_BYTES = 256 * 2**20


def load_document(path: Path) -> list[Any]:
    """The list of activity objects of the export at ``path``; InputError if it is none (or
    beyond ``MAX_EXPORT_BYTES``)."""
    source = str(path)
    doc = _activities(
        read_json_document(
            path,
            MAX_EXPORT_BYTES,
            "a Landscape export",
            "a Landscape export is one JSON document",
            trace=True,
            exact=_rounded_ids,
        )
    )
    if doc is None:
        raise _bad(
            source,
            None,
            "a Landscape export must be a JSON list of activity objects "
            "(or an object with an 'activities' or 'results' list)",
        )
    return doc


def _activities(doc: object) -> list[Any] | None:
    """The export's list of activity objects (itself, or the list an object wraps)."""
    if isinstance(doc, Mapping):
        for key in ("activities", "results", "result"):
            if isinstance(doc.get(key), list):
                return doc[key]
    return doc if isinstance(doc, list) else None


def _rounded_ids(doc: object) -> bool:
    """Has orjson rounded an id (an integer beyond 64 bits comes back as a float)? Ids are
    text to the importer, exact at any size: such an export is parsed again, exactly."""
    return any(
        isinstance(v, float) and abs(v) >= 2**63
        for obj in _activities(doc) or ()
        if isinstance(obj, Mapping)
        for v in (obj.get("id"), obj.get("computer_id"), obj.get("parent_id"))
    )


#: The times of a Landscape activity the importer reads.
_TIME_FIELDS = (
    "creation_time",
    "delivery_time",
    "completion_time",
    "approval_time",
    "deliver_after_time",
)


def _timestamp(v: object, field: str, source: str, entry: int) -> float | None:
    if v is None or v == "":
        return None
    if _is_number(v):
        try:
            secs = float(v)  # seconds since the epoch
        except OverflowError:  # an integer beyond any float (e.g. 400 digits)
            secs = math.inf
        if math.isfinite(secs):
            return secs
        raise _bad(source, entry, f"field {field!r} must be a finite time, got {_brief(v)}")
    if isinstance(v, str):
        s = v.strip()
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            pass
        else:
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)  # Landscape reports UTC
            return dt.timestamp()
    raise _bad(
        source, entry, f"field {field!r} must be an ISO 8601 time or epoch seconds, got {v!r}"
    )


#: The activity's own fields the importer reads, and the rule each value must follow (ids as
#: the trace format's ids, turned into their text: 7 and "7" are one id).
_FIELD_VALUES = {
    "id": Value.ID,
    "parent_id": Value.ID,
    "computer_id": Value.ID,
    "type": Value.TEXT,
    "activity_status": Value.TEXT,
}


def _field(obj: Mapping[str, Any], name: str, value: Value, source: str, entry: int) -> Any:
    """``obj[name]`` checked against ``value`` (None when absent); ids come back as text."""
    v = obj.get(name)
    if v is None:
        return None
    if value is Value.ID and isinstance(v, int) and not isinstance(v, bool):
        return str(v)  # an id is text to the importer: exact at any size, no 64-bit bound
    got = _value(name, v, value, source, entry)
    return str(got) if value is Value.ID else got


def _landscape_kind(own: Mapping[str, Any]) -> str:
    typ = own["type"]
    if typ is not None and typ in CATALOG:
        return CATALOG[typ].kind.value
    return Kind.CLIENT.value if own["computer_id"] is not None else Kind.SERVER.value


def landscape_records(
    activities: list[Any], source: str = "<landscape export>"
) -> Iterator[tuple[int, Record]]:
    """Derive trace records from a Landscape API activities export.

    Each activity yields a ``created`` record at its ``creation_time`` (Blocked when it has
    an ``approval_time`` or is still unapproved, Scheduled when ``deliver_after_time`` lies
    after its creation, Waiting when its status says so, else Queued), an ``approve`` and a
    Blocked -> Queued move at ``approval_time``, a move to In Progress at ``delivery_time``
    and a move to its final status at ``completion_time``. Parents (activities other
    entries name as ``parent_id``, without a computer) become ``group`` records.
    Records are ordered by time, each activity's in life-cycle order, so a timestamp that
    runs backwards shows up as a T1/T2 violation. The line of every record is the 1-based
    position of its activity in the export.
    """
    raw: list[tuple[float, int, int, int, Record]] = []  # (t, entry, step, seq, rec)
    origin: float | None = None
    parsed: list[tuple[int, dict[str, float | None], dict[str, Any]]] = []
    for entry, obj in enumerate(activities, start=1):
        if not isinstance(obj, Mapping):
            raise _bad(source, entry, "each entry of a Landscape export must be a JSON object")
        if obj.get("id") is None:
            raise _bad(source, entry, "missing required field 'id' of a Landscape activity")
        # each field by its rule before any use: an id is a number or text, never a list
        # (``str`` of one would make a nonsense activity name, or recurse on a deep one)
        own = {f: _field(obj, f, v, source, entry) for f, v in _FIELD_VALUES.items()}
        times = {f: _timestamp(obj.get(f), f, source, entry) for f in _TIME_FIELDS}
        if times["creation_time"] is None:
            raise _bad(source, entry, "missing required field 'creation_time'")
        if own["activity_status"] is None:
            raise _bad(source, entry, "missing required field 'activity_status'")
        parsed.append((entry, times, own))
        ct = times["creation_time"]
        origin = ct if origin is None else min(origin, ct)
    parents = {own["parent_id"] for _e, _t, own in parsed if own["parent_id"] is not None}
    for entry, times, own in parsed:
        assert origin is not None
        rel = {f: (None if v is None else v - origin) for f, v in times.items()}
        aid = own["id"]
        status_name = own["activity_status"]
        try:
            status = parse_state(status_name)
        except UnknownStateError as exc:
            raise _bad(source, entry, f"field 'activity_status': {exc}") from None
        if aid in parents and own["computer_id"] is None:
            raw.append(
                (
                    rel["creation_time"],
                    entry,
                    0,
                    0,
                    {
                        "t": rel["creation_time"],
                        "event": "group",
                        "activity": aid,
                        "type": own["type"] or "ActivityGroup",
                    },
                )
            )
            continue
        kind = _landscape_kind(own)
        created: Record = {
            "t": rel["creation_time"],
            "event": "created",
            "activity": aid,
            "kind": kind,
            "type": own["type"] or "unknown",
        }
        if own["computer_id"] is not None:
            created["computer"] = own["computer_id"]
        elif kind == Kind.CLIENT:
            created["computer"] = "unknown"
        da = rel["deliver_after_time"]
        if status in START_STATES and rel["approval_time"] is None:
            start = status
        elif rel["approval_time"] is not None:
            start = State.BLOCKED
        elif da is not None and da > rel["creation_time"]:
            start = State.SCHEDULED
        else:
            start = State.QUEUED
        created["state"] = start.value
        if da is not None:
            created["deliver_after"] = da
        if own["parent_id"] is not None:
            created["parent"] = own["parent_id"]
        steps: list[tuple[float, Record]] = [(rel["creation_time"], created)]
        state = start
        if rel["approval_time"] is not None:
            at = rel["approval_time"]
            steps.append((at, {"t": at, "event": "approve", "activity": aid}))
            nxt = State.SCHEDULED if status == State.SCHEDULED else State.QUEUED
            if nxt is State.QUEUED:
                steps.append((at, _move(at, aid, state, nxt)))
                state = nxt
        if rel["delivery_time"] is not None:
            dt = rel["delivery_time"]
            steps.append((dt, _move(dt, aid, state, State.IN_PROGRESS)))
            state = State.IN_PROGRESS
        if status in (State.SUCCEEDED, State.FAILED, State.CANCELED) and status != state:
            end = rel["completion_time"]
            if end is None:
                # no completion time: the move happened at an unknown time; place it at the
                # latest time the export gives for this activity.
                end = max(v for v in rel.values() if v is not None)
            steps.append((end, _move(end, aid, state, status)))
        elif status is State.IN_PROGRESS and state is not State.IN_PROGRESS:
            at = rel["completion_time"] or max(v for v in rel.values() if v is not None)
            steps.append((at, _move(at, aid, state, status)))
        for seq, (t, rec) in enumerate(steps):
            raw.append((t, entry, 1, seq, rec))
    raw.sort(key=lambda x: (x[0], x[1], x[2], x[3]))
    for _t, entry, _s, _q, rec in raw:
        yield entry, validate_record(rec, source, entry)


def _move(t: float, aid: str, src: State, dst: State) -> Record:
    return {"t": t, "event": "transition", "activity": aid, "from": src.value, "to": dst.value}
