"""The catalogue: named, scripted scenarios that every conformant IUT must pass.

A case is data: a name, what it checks, and one or more *runs*; each run is a list of
abstract steps executed after a ``reset`` (``steps``: the ``Case`` type and the step
builders).

The expected replies are not written here: the reference model (``reference.py``) is the
oracle, so one catalogue serves both profiles. Three families, in the modules ``client``,
``server``, ``forbidden`` and ``inputs`` (the catalogue lists them in that order):

- ``client/...`` and ``server/...``: each allowed transition through the life cycle that
  causes it, plus scheduling, dependencies, thresholds, approvals, cancellation during
  execution, operation-id uniqueness and redelivery after a job-handler crash;
- ``forbidden/<kind>/<state>``: an activity is brought to each state and every command that
  could move it is tried from there, each in its own run; the IUT must refuse exactly what
  the reference refuses and never make a move the machine forbids;
- ``create/...`` and ``input/...``: requests the spec rejects.
"""

from __future__ import annotations

from .client import CLIENT
from .forbidden import FORBIDDEN
from .inputs import INPUT
from .server import SERVER
from .steps import (
    Case,
    Step,
    adv,
    approve,
    block,
    cancel,
    cl,
    con,
    crash,
    ex,
    fin,
    prog,
    query,
    res,
    sv,
)

__all__ = [
    "CASES",
    "Case",
    "Step",
    "adv",
    "approve",
    "block",
    "cancel",
    "case_names",
    "cl",
    "con",
    "crash",
    "ex",
    "fin",
    "get_case",
    "prog",
    "query",
    "res",
    "sv",
]

#: Every case, by name, in catalogue order.
CASES: dict[str, Case] = {c.name: c for c in [*CLIENT, *SERVER, *FORBIDDEN, *INPUT]}
if len(CASES) != len(CLIENT) + len(SERVER) + len(FORBIDDEN) + len(INPUT):
    raise RuntimeError("duplicate case names in the catalogue")  # pragma: no cover


def case_names() -> list[str]:
    return list(CASES)


def get_case(name: str) -> Case:
    try:
        return CASES[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(CASES), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no case named {name!r}{hint}") from None
