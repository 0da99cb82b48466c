"""The trace interchange format (docs/trace-format.md): its rules, readers and writers.

``schema`` holds every field and event rule as data; ``validate`` applies them to one record
or to a whole table; ``readers`` and ``landscape`` read files, ``writers`` write them, and
``frame.as_frame`` is the one way from any trace to a DataFrame.
"""

from .frame import as_frame, count_events
from .landscape import landscape_records
from .readers import INPUT_FORMATS, read_records, read_table, table_from_records
from .schema import (
    ARROW_SCHEMA,
    CHECK_FIELDS,
    EVENT_KINDS,
    EVENT_RULES,
    FIELD_RULES,
    FIELDS,
    KIT_EVENT_KINDS,
    SPEC_EVENT_KINDS,
)
from .validate import validate_record
from .writers import (
    CsvTraceWriter,
    JsonlTraceWriter,
    MemoryTraceWriter,
    ParquetTraceWriter,
    TableTraceWriter,
    TraceFormatError,
    TraceWriter,
    format_for_path,
    open_writer,
    write_trace,
)

__all__ = [
    "ARROW_SCHEMA",
    "CHECK_FIELDS",
    "EVENT_KINDS",
    "EVENT_RULES",
    "FIELDS",
    "FIELD_RULES",
    "INPUT_FORMATS",
    "KIT_EVENT_KINDS",
    "SPEC_EVENT_KINDS",
    "CsvTraceWriter",
    "JsonlTraceWriter",
    "MemoryTraceWriter",
    "ParquetTraceWriter",
    "TableTraceWriter",
    "TraceFormatError",
    "TraceWriter",
    "as_frame",
    "count_events",
    "format_for_path",
    "landscape_records",
    "open_writer",
    "read_records",
    "read_table",
    "table_from_records",
    "validate_record",
    "write_trace",
]
