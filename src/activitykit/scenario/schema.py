"""The scenario schema: every simulation setting and every default, in one place.

A scenario file (YAML) maps one-to-one onto ``Scenario``; the simulator takes a validated
``Scenario`` and nothing else. All times are in seconds of simulated time, all rates are per
second unless a field name says otherwise (``*_per_day``, ``*_per_hour``).

Distributions are written either as a bare number (a fixed value) or as a mapping with a
``dist`` key, e.g. ``{dist: exponential, mean: 20}``.

The sections live in ``basics`` (limits, distributions, validation helpers), ``fleet``,
``server`` (with the faults) and ``workload``; this module is the one to import from.

The ``MAX_*`` / ``MIN_*`` limits (``basics``) are what one run on one machine can do; a value
beyond them would not fail gracefully later (an overflow, memory exhausted, a run that never
ends), so validation refuses it up front and names the limit. Single fields carry them as
``Field`` bounds; the sums over a scenario (fleet size, expected activities, expected fault
events) are checked in ``limits.py`` against the same constants.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from .basics import (
    MAX_ACTIVITIES,
    MAX_COMPUTERS,
    MAX_FAULT_EVENTS,
    MAX_JOB_HANDLERS,
    MAX_OPEN_REQUESTS,
    MAX_PREFETCH,
    MAX_SECONDS,
    MAX_SEED,
    MIN_INTERVAL,
    MIN_URGENT_INTERVAL,
    Dist,
    Exponential,
    Fixed,
    HandlerSpec,
    LogNormal,
    Strict,
    Uniform,
)
from .fleet import Background, ClientSpec, Fleet, FleetGroup, Offline, Restarts
from .server import Faults, JobHandlerCrash, Server, ServerBusy, SetIntervals, Window
from .workload import (
    Approvals,
    Arrival,
    Batch,
    Bulk,
    Cancellations,
    Chain,
    ChainStep,
    StartState,
    Workload,
)

__all__ = [
    "MAX_ACTIVITIES",
    "MAX_COMPUTERS",
    "MAX_FAULT_EVENTS",
    "MAX_JOB_HANDLERS",
    "MAX_OPEN_REQUESTS",
    "MAX_PREFETCH",
    "MAX_SECONDS",
    "MAX_SEED",
    "MIN_INTERVAL",
    "MIN_URGENT_INTERVAL",
    "Approvals",
    "Arrival",
    "Background",
    "Batch",
    "Bulk",
    "Cancellations",
    "Chain",
    "ChainStep",
    "ClientSpec",
    "Dist",
    "Exponential",
    "Faults",
    "Fixed",
    "FleetGroup",
    "HandlerSpec",
    "Headline",
    "JobHandlerCrash",
    "LogNormal",
    "Model",
    "Objective",
    "Offline",
    "Output",
    "Restarts",
    "Scenario",
    "Server",
    "ServerBusy",
    "SetIntervals",
    "StartState",
    "Uniform",
    "Window",
    "Workload",
]


# --- the model's open points (docs/spec.md, profiles and open points) ---------------------
class Model(Strict):
    """Readings of the points the spec leaves open."""

    profile: Literal["result-wins", "cancel-sticky"] = Field(
        default="result-wins",
        description="Client Canceled: may a late result still end it (result-wins) or not.",
    )
    on_dependency_failure: Literal["cancel", "keep-waiting"] = Field(
        default="cancel",
        description="What a Waiting activity does when a dependency ends Failed or Canceled.",
    )


class Output(Strict):
    """What a run writes besides the summary."""

    trace_format: Literal["parquet", "jsonl"] = Field(
        default="parquet", description="File format of the trace (trace.parquet or trace.jsonl)."
    )
    report: bool = Field(default=True, description="Write report.html at the end of a run.")
    stuck_after: float = Field(
        default=3600.0,
        gt=0,
        le=MAX_SECONDS,
        description="An activity still In Progress this long at the end counts as stuck (s).",
    )


class Objective(Strict):
    """A limit one figure of the run must respect: the scenario's "good enough"."""

    figure: str = Field(
        min_length=1,
        description="A headline figure name (docs/reports.md), e.g. server.to_start.p90.",
    )
    at_most: float | None = Field(default=None, description="The figure must be <= this.")
    at_least: float | None = Field(default=None, description="The figure must be >= this.")

    @model_validator(mode="after")
    def _one_limit(self) -> Objective:
        if (self.at_most is None) == (self.at_least is None):
            raise ValueError("give exactly one of at_most and at_least")
        return self


class Headline(Strict):
    """What the top of the report shows: the figures that answer the question."""

    figures: list[str] = Field(
        default_factory=list,
        max_length=5,
        description=(
            "Up to five headline figure names (docs/reports.md), shown with units first in "
            "report.html and the terminal summary; the objectives' figures come first."
        ),
    )
    objectives: list[Objective] = Field(
        default_factory=list,
        description="Limits that decide the verdict (met / not met) besides conformance.",
    )


class Scenario(Strict):
    """One simulation: fleet, server, workload, faults, and how long to run."""

    name: str = Field(default="scenario", min_length=1, description="Name shown in reports.")
    description: str = Field(default="", description="What the scenario sets up, in a sentence.")
    question: str = Field(
        default="", description="The question the scenario answers; the report opens with it."
    )
    headline: Headline = Field(
        default_factory=Headline, description="The figures and objectives that answer it."
    )
    seed: int = Field(
        default=0, ge=0, le=MAX_SEED, description="Random seed; same seed, same trace."
    )
    duration: float = Field(
        default=3600.0, gt=0, le=MAX_SECONDS, description="Simulated time to run (s)."
    )
    warmup: float = Field(
        default=0.0, ge=0, le=MAX_SECONDS, description="Excluded from statistics (s)."
    )
    run_until: Literal["duration", "drained"] = Field(
        default="duration",
        description=(
            "'drained': keep going past duration (up to drain_limit) until no activity is "
            "unfinished."
        ),
    )
    drain_limit: float = Field(
        default=7 * 86400.0,
        gt=0,
        le=MAX_SECONDS,
        description="Hard stop for run_until=drained (s).",
    )
    model: Model = Field(default_factory=Model, description="Readings of the spec's open points.")
    fleet: Fleet = Field(default_factory=Fleet, description="The managed computers.")
    server: Server = Field(default_factory=Server, description="Job-handlers and ping service.")
    workload: Workload = Field(default_factory=Workload, description="Activities to create.")
    approvals: Approvals = Field(
        default_factory=Approvals, description="Who approves Blocked activities, and when."
    )
    cancellations: Cancellations = Field(
        default_factory=Cancellations, description="Cancel requests after creation."
    )
    faults: Faults = Field(default_factory=Faults, description="Server-side faults.")
    output: Output = Field(default_factory=Output, description="What a run writes.")

    @model_validator(mode="after")
    def _warmup_inside(self) -> Scenario:
        if self.warmup >= self.duration:
            raise ValueError(
                f"warmup ({self.warmup}) must be shorter than duration ({self.duration})"
            )
        return self

    @model_validator(mode="after")
    def _cross_references(self, info: ValidationInfo) -> Scenario:
        """Names, groups and dependencies (``validate.py``), for scenarios built in Python.

        The file loader passes ``context={"defer_cross_checks": True}`` and runs the same
        checks itself, so that each problem points at its line of the file.
        """
        if info.context and info.context.get("defer_cross_checks"):
            return self
        from .validate import problems

        found = problems(self)
        if found:
            raise ValueError("; ".join(map(str, found)))
        return self
