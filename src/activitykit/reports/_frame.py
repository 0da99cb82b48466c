"""Turn any trace source into one normalised records DataFrame.

Every report function accepts a DataFrame, an iterable of record dicts, or a trace path, and
funnels it through ``as_frame`` so the rest of the package can assume: every ``FIELDS``
column exists, ``t`` is float, rows are in time order (stable, so equal-``t`` rows keep file
order, which TRACE.md says is meaningful), the index is the row position, and state names
are the spec spellings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..model import State, parse_state
from ..trace.schema import FIELDS

__all__ = ["STATES", "TERMINAL_STATES", "Events", "TraceSource", "as_frame", "events", "state_code"]

#: Spec states in table order; a state's position is its integer code in the hot paths.
STATES: tuple[str, ...] = tuple(s.value for s in State)
#: States after which a report counts an activity as finished. Canceled is included: under
#: the result-wins profile a client activity may still leave Canceled, and then its *last*
#: state (Succeeded/Failed) is what the report shows.
TERMINAL_STATES: frozenset[str] = frozenset(
    {State.SUCCEEDED.value, State.FAILED.value, State.CANCELED.value}
)

TraceSource = pd.DataFrame | Iterable[Mapping[str, Any]] | str | PathLike[str]


def _normalise_states(col: pd.Series) -> pd.Series:
    # Map each distinct spelling once (a few values in millions of rows); unknown names are
    # kept verbatim so the checker, not the report, is the one to complain.
    uniq = col.dropna().unique()
    mapping: dict[Any, Any] = {}
    for name in uniq:
        try:
            mapping[name] = parse_state(str(name)).value
        except ValueError:
            mapping[name] = name
    if all(k == v for k, v in mapping.items()):
        return col
    return col.map(mapping)


def _read_path(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError("no such trace file", source=str(path))
    from ..trace.readers import read_frame  # validates and reports bad records precisely

    return read_frame(path)


_MARK = "activitykit.reports.frame"


def as_frame(source: TraceSource) -> pd.DataFrame:
    """Return ``source`` as a normalised records DataFrame (see module docstring).

    The hot columns get cheap dtypes once: ``event`` and the state columns become
    categoricals (comparisons on integer codes), ``activity`` plain Python strings (fast
    hashing for id lookups). A frame already normalised here is returned as it is.
    """
    if isinstance(source, pd.DataFrame):
        if (
            source.attrs.get(_MARK) is True
            and isinstance(source.index, pd.RangeIndex)
            and source.index.start == 0
        ):
            return source
        frame = source
    elif isinstance(source, str | PathLike):
        frame = _read_path(Path(source))
    else:
        frame = pd.DataFrame.from_records(list(source))
    if len(frame) == 0:
        frame = pd.DataFrame({name: pd.Series(dtype=object) for name in FIELDS})
        frame["t"] = frame["t"].astype(float)
    if "t" not in frame.columns:
        raise InputError("trace has no 't' field; every TRACE.md record needs 't' (seconds)")
    missing = [name for name in FIELDS if name not in frame.columns]
    if missing:
        frame = frame.assign(**{m: None for m in missing})
    t = pd.to_numeric(frame["t"], errors="coerce").astype(float)
    if t.isna().any():
        bad = int(np.flatnonzero(t.isna().to_numpy())[0])
        raise InputError(
            f"record {bad + 1}: field 't' must be a number, got {frame['t'].iloc[bad]!r}"
        )
    cols: dict[str, Any] = {"t": t, "event": frame["event"].astype("category")}
    for name in ("state", "from", "to"):
        cols[name] = _normalise_states(frame[name]).astype("category")
    cols["activity"] = frame["activity"].astype(object)
    frame = frame.assign(**cols)
    if not t.is_monotonic_increasing:
        frame = frame.sort_values("t", kind="stable")
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
        frame = frame.reset_index(drop=True)
    frame.attrs[_MARK] = True
    return frame


class Events:
    """The ``event`` column of an ``as_frame`` frame, compared by category code.

    ``events(f) == "consume"`` gives a boolean numpy array by comparing small integer
    codes, never strings, so it costs milliseconds even on 10M records.
    """

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, col: pd.Series):
        if not isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype("category")
        self.codes = col.cat.codes.to_numpy()
        self._code = {str(c): i for i, c in enumerate(col.cat.categories)}

    def __eq__(self, name: object) -> np.ndarray:  # type: ignore[override]
        code = self._code.get(str(name))
        if code is None:
            return np.zeros(len(self.codes), dtype=bool)
        return self.codes == code


def events(frame: pd.DataFrame) -> Events:
    """Fast equality tests on the ``event`` column (see ``Events``)."""
    return Events(frame["event"])


def state_code(states: pd.Series) -> np.ndarray:
    """Integer code of each state name (position in ``STATES``), -1 for unknown/missing."""
    if isinstance(states.dtype, pd.CategoricalDtype):  # recode: no per-row string work
        cat = states.cat.set_categories(list(STATES))
        return np.asarray(cat.cat.codes, dtype=np.int64)
    cat = pd.Categorical(states, categories=list(STATES))
    return np.asarray(cat.codes, dtype=np.int64)
