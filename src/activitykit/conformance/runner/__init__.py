"""Drive the IUT and the reference side by side, compare after every step, keep the trace.

A ``Session`` owns one IUT adapter for its whole life (restarting it after a crash) and the
trace of everything the IUT said. A ``Run`` is one reset-to-empty sequence of steps: each
step goes to a fresh ``ReferenceSystem`` and to the IUT; the two replies are compared
(status, per-activity moves, deliveries, consumptions, accepted results), every move the IUT
reports is judged against the machines, every operation-id must be new, and then the IUT is
asked for all states, which must match both what its events said and the reference.

The first difference ends the run and becomes a ``Deviation`` carrying the evidence; an IUT
that crashes, hangs or talks garbage becomes an ``IUTFailure`` naming the request.

The package by job: ``session`` (``Run``, ``Session``), ``replies`` (the two replies to one
step compared), ``sides`` (each side's moves judged by the model, operation-ids checked), ``trace``
(the trace records of the session) and ``results`` (``CaseResult``, ``Deviation``).
"""

from __future__ import annotations

from .replies import OpRenaming, SentResult, compare
from .results import CaseResult, Deviation, StepDeviation, step_to_json
from .session import Run, Session
from .trace import TraceBuilder

__all__ = [
    "CaseResult",
    "Deviation",
    "OpRenaming",
    "Run",
    "SentResult",
    "Session",
    "StepDeviation",
    "TraceBuilder",
    "compare",
    "step_to_json",
]
