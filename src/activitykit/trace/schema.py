"""The trace format as data: every field rule and every event kind, in one table each.

Both validation paths read their rules from here and nowhere else: ``validate.validate_record``
(one record at a time) and ``validate.validate_table`` (a whole pyarrow Table at once). A new
field or event kind is one line in ``FIELD_RULES`` / ``EVENT_RULES``; readers, writers, the
checker and the reports follow. docs/trace-format.md describes the format for people.

A record is a plain ``dict`` whose keys follow ``FIELDS`` order. Dicts (not dataclasses) are
deliberate: the simulator emits millions of them, they serialise to JSON with no conversion,
and pandas/pyarrow build columns from them directly. Treat them as immutable once written.

Kit extensions (the format lets producers add fields and event kinds):

- event ``group``: declares a parent (group) activity of a bulk operation, with ``type`` and
  ``children`` (count). A group is not a state-machine activity: it has no ``created`` record
  and no transitions; its ``progress`` records carry the share of its children that are final.
- event ``fault``: something the fault model did (``fault`` names it: ``restart``,
  ``offline``, ``online``, ``handler_crash``, ``handler_restart``, ``busy``, ``lost_exchange``).
- event ``ack`` (server): the job-handler acknowledged the message of this activity.
- field ``attempt`` on ``consume``: 1 for the first delivery, 2+ for a redelivery.
- field ``children`` on ``group`` records.
- field ``redelivered`` on ``consume`` (live runs on a real broker): the broker's own
  ``redelivered`` flag of the delivery; RabbitMQ also sets it for a message that a dead
  consumer had prefetched but never started, which ``attempt`` does not count.
- field ``group`` on ``created`` records: the fleet group of the activity's computer (the
  scenario's ``fleet.groups[].name``). Unrelated to the ``group`` event kind above.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

import pyarrow as pa

__all__ = [
    "ARROW_SCHEMA",
    "CHECK_FIELDS",
    "COMMON_FIELDS",
    "EVENT_FIELDS",
    "EVENT_KINDS",
    "EVENT_RULES",
    "FIELDS",
    "FIELD_RULES",
    "KIT_EVENT_KINDS",
    "LIST_FIELDS",
    "REQUIRED",
    "SPEC_EVENT_KINDS",
    "EventRule",
    "FieldRule",
    "Needs",
    "Value",
]


class Value(Enum):
    """What a field's value must be, and how a reader normalises it."""

    NUMBER = "a finite number"
    INTEGER = "an integer"
    ID = "an integer or a string"  # written as an integer by the kit; 7 and "7" are one id
    BOOL = "true or false"
    TEXT = "a string"
    TEXTS = "a list of strings"  # CSV holds it as JSON text
    STATE = "a state name"  # any accepted spelling -> the spec's ("in_progress" -> In Progress)
    KIND = "client or server"
    STATUS = "succeeded/failed (or 6/5)"  # -> "succeeded" / "failed"


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One field: its column type, what its values must be, whether the checker reads it."""

    arrow: pa.DataType
    value: Value
    checked: bool = False


@dataclass(frozen=True, slots=True)
class Needs:
    """``field`` is required on a record of this kind when ``when`` is present on it (and,
    with ``equals``, has that value)."""

    field: str
    when: str
    equals: str | None = None
    message: str = ""  # the error when it is missing


@dataclass(frozen=True, slots=True)
class EventRule:
    """One event kind: the fields it must carry, the ones it may carry, conditional needs."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    needs: tuple[Needs, ...] = ()
    kit: bool = False  # a kit extension; readers of other tools may ignore it

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field this kind defines beyond ``COMMON_FIELDS``."""
        return tuple(f for f in self.required + self.optional if f not in COMMON_FIELDS)


#: Every field the kit reads or writes, in canonical (column and key) order.
FIELD_RULES: MappingProxyType[str, FieldRule] = MappingProxyType(
    {
        "t": FieldRule(pa.float64(), Value.NUMBER, checked=True),
        "event": FieldRule(pa.string(), Value.TEXT, checked=True),
        "activity": FieldRule(pa.string(), Value.TEXT, checked=True),
        "computer": FieldRule(pa.string(), Value.TEXT, checked=True),
        "group": FieldRule(pa.string(), Value.TEXT),
        "kind": FieldRule(pa.string(), Value.KIND, checked=True),
        "type": FieldRule(pa.string(), Value.TEXT, checked=True),
        "state": FieldRule(pa.string(), Value.STATE, checked=True),
        "from": FieldRule(pa.string(), Value.STATE, checked=True),
        "to": FieldRule(pa.string(), Value.STATE, checked=True),
        "cause": FieldRule(pa.string(), Value.TEXT),
        "operation_id": FieldRule(pa.int64(), Value.ID, checked=True),
        "status": FieldRule(pa.string(), Value.STATUS, checked=True),
        "urgent": FieldRule(pa.bool_(), Value.BOOL),
        "handler": FieldRule(pa.string(), Value.TEXT),
        "attempt": FieldRule(pa.int64(), Value.INTEGER),
        "value": FieldRule(pa.float64(), Value.NUMBER, checked=True),
        "deliver_after": FieldRule(pa.float64(), Value.NUMBER, checked=True),
        "depends_on": FieldRule(pa.list_(pa.string()), Value.TEXTS, checked=True),
        "progress_of": FieldRule(pa.string(), Value.TEXT, checked=True),
        "threshold": FieldRule(pa.float64(), Value.NUMBER, checked=True),
        "parent": FieldRule(pa.string(), Value.TEXT),
        "children": FieldRule(pa.int64(), Value.INTEGER),
        "fault": FieldRule(pa.string(), Value.TEXT),
        "redelivered": FieldRule(pa.bool_(), Value.BOOL),
    }
)

#: Fields any record may carry, whatever its kind (``t`` and ``event`` it must carry).
COMMON_FIELDS: tuple[str, ...] = ("t", "event", "activity", "computer")

#: Every event kind the kit knows. Unknown kinds are kept by the readers (producers may add
#: kinds) with their common fields only, and ignored by the rules.
EVENT_RULES: MappingProxyType[str, EventRule] = MappingProxyType(
    {
        "created": EventRule(
            required=("activity", "kind", "type", "state"),
            optional=(
                "computer",
                "group",
                "deliver_after",
                "depends_on",
                "progress_of",
                "threshold",
                "parent",
            ),
            needs=(
                Needs(
                    "computer",
                    when="kind",
                    equals="client",
                    message="missing required field 'computer' for a client 'created' record",
                ),
                Needs(
                    "threshold",
                    when="progress_of",
                    message="field 'progress_of' needs a 'threshold' (0..1) beside it",
                ),
            ),
        ),
        "transition": EventRule(required=("activity", "from", "to"), optional=("cause",)),
        "deliver": EventRule(required=("activity", "computer", "operation_id")),
        "result": EventRule(required=("activity", "computer", "operation_id", "status")),
        "exchange": EventRule(required=("computer",), optional=("urgent",)),
        "consume": EventRule(
            required=("activity",), optional=("handler", "attempt", "redelivered")
        ),
        "enqueue": EventRule(required=("activity",)),
        "approve": EventRule(required=("activity",)),
        "cancel": EventRule(required=("activity",)),
        "progress": EventRule(required=("activity", "value")),
        "group": EventRule(required=("activity",), optional=("type", "children"), kit=True),
        "ack": EventRule(required=("activity",), optional=("handler",), kit=True),
        "fault": EventRule(optional=("fault", "handler"), kit=True),
    }
)

# -- views of the two tables, for the code that needs one aspect ----------------------------

#: Field name -> Arrow type, in canonical order.
FIELDS: MappingProxyType[str, pa.DataType] = MappingProxyType(
    {name: rule.arrow for name, rule in FIELD_RULES.items()}
)
ARROW_SCHEMA: pa.Schema = pa.schema([pa.field(name, typ) for name, typ in FIELDS.items()])
#: Fields holding lists; CSV stores them as JSON text.
LIST_FIELDS: frozenset[str] = frozenset(n for n, r in FIELD_RULES.items() if r.value is Value.TEXTS)
#: The fields the checker reads; ``check`` validates only these.
CHECK_FIELDS: frozenset[str] = frozenset(n for n, r in FIELD_RULES.items() if r.checked)
#: Fields each event kind must carry (beyond ``t`` and ``event``).
REQUIRED: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {kind: rule.required for kind, rule in EVENT_RULES.items()}
)
#: Fields each event kind defines beyond ``COMMON_FIELDS``. A field on a record whose kind
#: does not define it is ignored, like an unknown field.
EVENT_FIELDS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {kind: rule.fields for kind, rule in EVENT_RULES.items()}
)
#: Event kinds of the interchange format itself, and those the kit adds.
SPEC_EVENT_KINDS: frozenset[str] = frozenset(k for k, r in EVENT_RULES.items() if not r.kit)
KIT_EVENT_KINDS: frozenset[str] = frozenset(k for k, r in EVENT_RULES.items() if r.kit)
EVENT_KINDS: frozenset[str] = SPEC_EVENT_KINDS | KIT_EVENT_KINDS


def _check_tables() -> None:
    """Every field an event kind names is in ``FIELD_RULES`` (a typo fails at import)."""
    for kind, rule in EVENT_RULES.items():
        named = set(rule.required + rule.optional)
        named |= {n.field for n in rule.needs} | {n.when for n in rule.needs}
        unknown = named - FIELD_RULES.keys()
        if unknown:
            raise AssertionError(f"event {kind!r} names unknown field(s) {sorted(unknown)}")
        undefined = {n.field for n in rule.needs} - set(COMMON_FIELDS) - set(rule.fields)
        if undefined:
            raise AssertionError(f"event {kind!r} needs field(s) it does not define: {undefined}")


_check_tables()
