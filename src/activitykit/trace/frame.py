"""The one way from a trace to a pandas DataFrame: ``as_frame``.

Reports, the run summary, the analysis yardsticks and notebooks all call it, with a path
(read and validated by ``readers.read_table``), a pyarrow Table (``TableTraceWriter``), a
DataFrame or an iterable of record dicts. What comes out is always the same shape: every
``FIELDS`` column exists, ``t`` is float, rows are in time order (stable, so equal-``t``
rows keep file order, which the format says is meaningful), the index is the row position,
state names are the spec spellings, and ``event`` and the state columns are categoricals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..model import parse_state
from .schema import FIELD_RULES, FIELDS, Value
from .writers import event_counts

__all__ = ["TraceSource", "as_frame", "count_events"]

TraceSource = pd.DataFrame | pa.Table | Iterable[Mapping[str, Any]] | str | PathLike[str]

_STATE_COLUMNS = tuple(n for n, r in FIELD_RULES.items() if r.value is Value.STATE)
_MARK = "activitykit.trace.frame"


def _read(path: Path, columns: Iterable[str] | None, input_format: str | None) -> pa.Table:
    from .readers import read_table  # validates and reports bad records precisely

    if not path.exists():
        raise InputError("no such trace file", source=str(path))
    fields = frozenset(FIELDS if columns is None else {"t", "event", *columns})
    return read_table(path, input_format, fields=fields)


def _table_frame(table: pa.Table, events: Iterable[str] | None) -> pd.DataFrame:
    """Only the rows of ``events`` converted; dictionary columns as plain strings (their
    dictionaries may repeat values, which pandas categoricals do not allow)."""
    if events is not None:
        table = table.filter(pc.is_in(table["event"], value_set=pa.array(list(events))))
    plain = [
        pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(plain)).to_pandas()


def _normalise_states(col: pd.Series) -> pd.Series:
    # Map each distinct spelling once (a few values in millions of rows); unknown names are
    # kept verbatim so the checker, not the report, is the one to complain.
    mapping: dict[Any, Any] = {}
    for name in col.dropna().unique():
        try:
            mapping[name] = parse_state(str(name)).value
        except ValueError:
            mapping[name] = name
    if all(k == v for k, v in mapping.items()):
        return col
    return col.map(mapping)


def as_frame(
    source: TraceSource,
    *,
    events: Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
    input_format: str | None = None,
) -> pd.DataFrame:
    """``source`` as the kit's records DataFrame (see the module docstring).

    ``events`` keeps only records of those kinds, ``columns`` reads only those fields (the
    others are present but empty): a summary of a million-activity run needs neither the
    exchanges nor every field. ``input_format`` names a file's format (default: from its
    name). A frame already normalised here is returned as it is.
    """
    if isinstance(source, pd.DataFrame):
        if (
            events is None
            and source.attrs.get(_MARK) is True
            and isinstance(source.index, pd.RangeIndex)
            and source.index.start == 0
        ):
            return source
        frame = source if events is None else source.loc[source["event"].isin(list(events))]
    elif isinstance(source, pa.Table):
        frame = _table_frame(source, events)
    elif isinstance(source, str | PathLike):
        frame = _table_frame(_read(Path(source), columns, input_format), events)
    else:
        frame = pd.DataFrame.from_records(list(source))
        if events is not None and len(frame):
            frame = frame.loc[frame["event"].isin(list(events))]
    return _normalise(frame)


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) == 0:
        frame = pd.DataFrame({name: pd.Series(dtype=object) for name in FIELDS})
        frame["t"] = frame["t"].astype(float)
    if "t" not in frame.columns or "event" not in frame.columns:
        missing = sorted({"t", "event"} - set(frame.columns))
        raise InputError(f"trace records lack the field(s) {missing}; every record has t and event")
    missing = [name for name in FIELDS if name not in frame.columns]
    if missing:
        frame = frame.assign(**dict.fromkeys(missing))
    t = pd.to_numeric(frame["t"], errors="coerce").astype(float)
    if t.isna().any():
        bad = int(np.flatnonzero(t.isna().to_numpy())[0])
        raise InputError(
            f"record {bad + 1}: field 't' must be a number, got {frame['t'].iloc[bad]!r}"
        )
    cols: dict[str, Any] = {"t": t, "event": frame["event"].astype("category")}
    for name in _STATE_COLUMNS:
        cols[name] = _normalise_states(frame[name]).astype("category")
    cols["activity"] = frame["activity"].astype(object)
    frame = frame.assign(**cols)
    if not t.is_monotonic_increasing:
        frame = frame.sort_values("t", kind="stable")
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
        frame = frame.reset_index(drop=True)
    frame.attrs[_MARK] = True
    return frame


def count_events(source: TraceSource, input_format: str | None = None) -> dict[str, int]:
    """How many records of each kind ``source`` holds, by kind name (sorted)."""
    if isinstance(source, str | PathLike):
        source = _read(Path(source), (), input_format)
    if isinstance(source, pa.Table):
        by_event = event_counts(source)
    else:
        frame = source if isinstance(source, pd.DataFrame) else as_frame(source)
        by_event = {str(k): int(v) for k, v in frame["event"].value_counts().items() if v}
    return dict(sorted(by_event.items()))
