"""What a simulation run hands back, and the error raised when the simulator breaks a rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SimResult", "SimulationInvariantError"]


class SimulationInvariantError(AssertionError):
    """The simulator produced a record that breaks the reference model: a bug in the simulator.

    ``violation`` is what the checker (or the reference state machine) said, ``record`` the
    offending trace record. It subclasses ``AssertionError`` because it is an internal
    invariant, never bad user input.
    """

    def __init__(self, violation: object, record: dict[str, Any] | None = None) -> None:
        self.violation = violation
        self.record = record
        super().__init__(
            f"simulator bug: {violation}"
            + (f"; offending record: {record!r}" if record is not None else "")
            + "; please report it with the scenario and seed"
        )


@dataclass(frozen=True)
class SimResult:
    """Facts about one finished run. The trace itself went to the writer."""

    #: Simulated time at which the run stopped (s).
    end_t: float
    #: Trace records emitted (and written, when a writer was given).
    records: int
    #: SimPy events processed (only relevant events: idle pings/exchanges are counted, not run).
    events: int
    #: Wall-clock duration of the run (s); the only non-reproducible figure here.
    wall_seconds: float
    #: Violations reported by the online checker (always empty: a violation raises).
    violations: list[Any]
    #: Named counts; exchanges and pings include those counted analytically.
    counters: dict[str, int]
    #: Activities not final at the end: (activity id, state).
    unfinished: tuple[tuple[str, str], ...]
    seed: int
    #: Whether records went through ``activitykit.check.Checker`` (else only the state machine).
    checked_with: str = field(default="state-machine")
