"""The trace interchange format (docs/trace-format.md): its rules, readers and writers.

``schema`` holds every field and event rule as data; ``validate`` applies them to one record
or to a whole table; ``readers`` and ``landscape`` read files, ``writers`` write them, and
``frame.as_frame`` is the one way from any trace to a DataFrame.
"""

from .._lazy import lazy_exports

#: Imported on first use: ``frame`` needs pandas, which checking a trace file never
#: needs (half a second of ``activitykit check`` start-up).
_WHERE = {
    "frame": (
        "as_frame",
        "count_events",
    ),
    "landscape": ("landscape_records",),
    "readers": (
        "INPUT_FORMATS",
        "read_records",
        "read_table",
        "table_from_records",
    ),
    "schema": (
        "ARROW_SCHEMA",
        "CHECK_FIELDS",
        "EVENT_KINDS",
        "EVENT_RULES",
        "FIELD_RULES",
        "FIELDS",
        "KIT_EVENT_KINDS",
        "SPEC_EVENT_KINDS",
    ),
    "validate": ("validate_record",),
    "writers": (
        "CsvTraceWriter",
        "JsonlTraceWriter",
        "MemoryTraceWriter",
        "ParquetTraceWriter",
        "TableTraceWriter",
        "TraceFormatError",
        "TraceWriter",
        "event_counts",
        "format_for_path",
        "open_writer",
        "write_trace",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)

__all__ = sorted(name for names in _WHERE.values() for name in names)
