"""The workload's sections of a scenario: what activities are created, when, and who
approves or cancels them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .basics import (
    MAX_ACTIVITIES,
    MAX_COMPUTERS,
    MAX_SECONDS,
    Dist,
    Exponential,
    HandlerSpec,
    Strict,
)

__all__ = [
    "Approvals",
    "Arrival",
    "Batch",
    "Bulk",
    "Cancellations",
    "Chain",
    "ChainStep",
    "StartState",
    "Workload",
]


# --- workload -------------------------------------------------------------------------------
StartState = Literal["Queued", "Scheduled", "Waiting", "Blocked"]


class _Template(Strict):
    """What every created activity may specify."""

    type: str = Field(description="Activity type name (docs/spec.md, 'Activity types').")
    state: StartState = Field(default="Queued", description="Start state.")
    deliver_after: float | None = Field(
        default=None,
        ge=0,
        le=MAX_SECONDS,
        description="For Scheduled: not delivered before creation time + this (s).",
    )
    deliver_delay_window: float = Field(
        default=0.0,
        ge=0,
        le=MAX_SECONDS,
        description="Delivery is spread uniformly over this window after deliver_after (s).",
    )
    handler: HandlerSpec | None = Field(
        default=None, description="Overrides the fleet/server handler for these activities."
    )
    cancel_probability: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Overrides cancellations.probability for these activities.",
    )


class Arrival(_Template):
    """A Poisson stream of activities of one type."""

    name: str = Field(min_length=1, description="Name, unique in the workload.")
    rate: float = Field(gt=0, description="Mean arrivals per second.")
    start: float = Field(
        default=0.0, ge=0, le=MAX_SECONDS, description="First possible arrival (s)."
    )
    stop: float | None = Field(
        default=None,
        ge=0,
        le=MAX_SECONDS,
        description="No arrivals after this (s); default: the end.",
    )
    group: str | None = Field(
        default=None, description="Client types: target computers of this group (default: any)."
    )


class Batch(_Template):
    """``count`` activities created at once (``at``) or spread uniformly over ``spread``."""

    name: str = Field(min_length=1, description="Name, unique in the workload.")
    at: float = Field(
        default=0.0, ge=0, le=MAX_SECONDS, description="Creation time of the first (s)."
    )
    spread: float = Field(
        default=0.0,
        ge=0,
        le=MAX_SECONDS,
        description="Creation times uniform in [at, at+spread] (s).",
    )
    count: int = Field(ge=1, le=MAX_ACTIVITIES, description="Number of activities.")
    group: str | None = Field(
        default=None, description="Client types: computers drawn from this group."
    )


class Bulk(_Template):
    """A bulk operation: one parent (group) activity with one child per targeted computer."""

    name: str = Field(min_length=1, description="Name, unique in the workload.")
    at: float = Field(default=0.0, ge=0, le=MAX_SECONDS, description="Creation time (s).")
    group: str | None = Field(default=None, description="Target this group (default: whole fleet).")
    count: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COMPUTERS,
        description="Target this many random computers (default: all).",
    )
    depends_on: list[str] = Field(
        default_factory=list, description="Names of bulks whose children must succeed first."
    )
    progress_of: str | None = Field(
        default=None, description="Wait until this bulk's progress reaches threshold."
    )
    threshold: float | None = Field(
        default=None, ge=0, le=1, description="Progress threshold for progress_of."
    )


class ChainStep(_Template):
    """One activity of a chain; it may wait for earlier steps of the same instance."""

    name: str = Field(min_length=1, description="Step name, unique in the chain.")
    depends_on: list[str] = Field(
        default_factory=list, description="Earlier steps that must succeed first."
    )
    progress_of: str | None = Field(
        default=None, description="A step whose progress releases this one."
    )
    threshold: float | None = Field(
        default=None, ge=0, le=1, description="Progress (0..1) of progress_of that releases it."
    )


class Chain(Strict):
    """A dependency chain instantiated ``count`` times, each on one random computer."""

    name: str = Field(min_length=1, description="Name, unique in the workload.")
    at: float = Field(
        default=0.0, ge=0, le=MAX_SECONDS, description="First instance created at (s)."
    )
    spread: float = Field(
        default=0.0,
        ge=0,
        le=MAX_SECONDS,
        description="Instances created uniformly in [at, at+spread] (s).",
    )
    count: int = Field(
        default=1, ge=1, le=MAX_ACTIVITIES, description="Number of instances of the chain."
    )
    group: str | None = Field(
        default=None, description="Computers drawn from this group (default: any)."
    )
    steps: list[ChainStep] = Field(min_length=1, description="The activities of one instance.")


class Workload(Strict):
    """What administrators ask for: the activities created during the run."""

    arrivals: list[Arrival] = Field(
        default_factory=list, description="Poisson streams of one activity type each."
    )
    batches: list[Batch] = Field(
        default_factory=list, description="Fixed numbers of activities at or around a time."
    )
    bulks: list[Bulk] = Field(
        default_factory=list, description="Bulk operations: a parent with one child per computer."
    )
    chains: list[Chain] = Field(
        default_factory=list, description="Dependency chains of steps on one computer."
    )


class Approvals(Strict):
    """The administrator who approves Blocked activities."""

    delay: Dist | None = Field(
        default_factory=lambda: Exponential(dist="exponential", mean=600.0),
        description="Time from creation to approval (s); null = never approved.",
    )
    probability: float = Field(
        default=1.0, ge=0, le=1, description="Chance a Blocked activity is ever approved."
    )


class Cancellations(Strict):
    """Administrators who cancel activities after they were created."""

    probability: float = Field(
        default=0.0, ge=0, le=1, description="Chance an activity gets a cancel request."
    )
    delay: Dist = Field(
        default_factory=lambda: Exponential(dist="exponential", mean=300.0),
        description="Time from creation to the cancel request (s).",
    )
