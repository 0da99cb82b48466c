"""The record layout of a TRACE.md trace, shared by every reader and writer in the kit.

A record is a plain ``dict`` whose keys follow ``FIELDS`` order. Dicts (not dataclasses) are
deliberate: the simulator emits millions of them, they serialise to JSON with no conversion,
and pandas/pyarrow build columns from them directly. Treat them as immutable once written.

Kit extensions (TRACE.md allows extra fields and event kinds):

- event ``group``: declares a parent (group) activity of a bulk operation, with ``type`` and
  ``children`` (count). A group is not a state-machine activity: it has no ``created`` record
  and no transitions; its ``progress`` records carry the share of its children that are final.
- event ``fault``: something the fault model did (``fault`` names it: ``restart``,
  ``offline``, ``online``, ``handler_crash``, ``handler_restart``, ``busy``, ``lost_exchange``).
- event ``ack`` (server): the job-handler acknowledged the message of this activity.
- field ``attempt`` on ``consume``: 1 for the first delivery, 2+ for a redelivery.
- field ``children`` on ``group``.
- field ``group`` on ``created`` (client activities): the fleet group of the computer.
"""

from __future__ import annotations

from types import MappingProxyType

import pyarrow as pa

__all__ = [
    "ARROW_SCHEMA",
    "EVENT_KINDS",
    "FIELDS",
    "KIT_EVENT_KINDS",
    "LIST_FIELDS",
    "SPEC_EVENT_KINDS",
]

#: Event kinds defined by TRACE.md.
SPEC_EVENT_KINDS: frozenset[str] = frozenset(
    {
        "created",
        "transition",
        "deliver",
        "result",
        "exchange",
        "consume",
        "enqueue",
        "approve",
        "cancel",
        "progress",
    }
)
#: Event kinds the kit adds (see module docstring); readers of other tools may ignore them.
KIT_EVENT_KINDS: frozenset[str] = frozenset({"group", "fault", "ack"})
EVENT_KINDS: frozenset[str] = SPEC_EVENT_KINDS | KIT_EVENT_KINDS

#: Every field the kit reads or writes, in canonical order, with its Arrow type.
#: ``operation_id`` is written as an integer by the kit; readers also accept strings.
FIELDS: MappingProxyType[str, pa.DataType] = MappingProxyType(
    {
        "t": pa.float64(),
        "event": pa.string(),
        "activity": pa.string(),
        "computer": pa.string(),
        "group": pa.string(),
        "kind": pa.string(),
        "type": pa.string(),
        "state": pa.string(),
        "from": pa.string(),
        "to": pa.string(),
        "cause": pa.string(),
        "operation_id": pa.int64(),
        "status": pa.string(),
        "urgent": pa.bool_(),
        "handler": pa.string(),
        "attempt": pa.int64(),
        "value": pa.float64(),
        "deliver_after": pa.float64(),
        "depends_on": pa.list_(pa.string()),
        "progress_of": pa.string(),
        "threshold": pa.float64(),
        "parent": pa.string(),
        "children": pa.int64(),
        "fault": pa.string(),
    }
)
#: Fields holding lists; CSV stores them as JSON text.
LIST_FIELDS: frozenset[str] = frozenset({"depends_on"})

ARROW_SCHEMA: pa.Schema = pa.schema([pa.field(name, typ) for name, typ in FIELDS.items()])
