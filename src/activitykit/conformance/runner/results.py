"""What a conformance run reports: a case's result and the deviation that failed it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..cases import Step

__all__ = ["CaseResult", "Deviation", "StepDeviation", "step_to_json"]


def step_to_json(step: Step) -> str:
    return json.dumps(step, separators=(", ", ": "))


@dataclass(frozen=True)
class Deviation:
    """The IUT did something the reference did not (or failed at the protocol level)."""

    case: str
    run: int
    step: int
    request: Step
    message: str
    expected: dict[str, Any] | None = None
    actual: dict[str, Any] | None = None
    steps: tuple[Step, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "run": self.run,
            "step": self.step,
            "request": self.request,
            "message": self.message,
            "expected": self.expected,
            "actual": self.actual,
            "steps": list(self.steps),
        }


@dataclass
class CaseResult:
    name: str
    title: str
    #: ``pass``, ``fail`` (deviation), ``error`` (IUT failure) or ``skipped``.
    outcome: str
    steps: int = 0
    seconds: float = 0.0
    deviation: Deviation | None = None
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.name,
            "title": self.title,
            "outcome": self.outcome,
            "steps": self.steps,
            "seconds": round(self.seconds, 4),
            "note": self.note,
            "evidence": self.deviation.as_dict() if self.deviation else None,
        }


class StepDeviation(AssertionError):
    """Raised inside a run (and inside Hypothesis rules) when the IUT deviates."""

    def __init__(self, deviation: Deviation) -> None:
        super().__init__(deviation.message)
        self.deviation = deviation
