"""The TRACE.md interchange format: record layout, writers and readers."""

from .readers import (
    INPUT_FORMATS,
    frame_from_records,
    landscape_records,
    read_frame,
    read_records,
    read_table,
    table_from_records,
    validate_record,
)
from .schema import ARROW_SCHEMA, EVENT_KINDS, FIELDS, KIT_EVENT_KINDS, SPEC_EVENT_KINDS
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
    "EVENT_KINDS",
    "FIELDS",
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
    "format_for_path",
    "frame_from_records",
    "landscape_records",
    "open_writer",
    "read_frame",
    "read_records",
    "read_table",
    "table_from_records",
    "validate_record",
    "write_trace",
]
