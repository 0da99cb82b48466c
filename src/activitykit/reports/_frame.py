"""Helpers of the report code over the kit's records DataFrame (``trace.frame.as_frame``).

Every report function accepts any trace source and funnels it through ``as_frame`` (the one
trace -> DataFrame function, re-exported here), so the rest of the package can assume its
shape; this module adds fast comparisons on its categorical columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..model import State
from ..trace.frame import TraceSource, as_frame

__all__ = ["STATES", "TERMINAL_STATES", "Events", "TraceSource", "as_frame", "events", "state_code"]

#: Spec states in table order; a state's position is its integer code in the hot paths.
STATES: tuple[str, ...] = tuple(s.value for s in State)
#: States after which a report counts an activity as finished. Canceled is included: under
#: the result-wins profile a client activity may still leave Canceled, and then its *last*
#: state (Succeeded/Failed) is what the report shows.
TERMINAL_STATES: frozenset[str] = frozenset(
    {State.SUCCEEDED.value, State.FAILED.value, State.CANCELED.value}
)


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
