"""The scenario schema: every simulation setting and every default, in one place.

A scenario file (YAML) maps one-to-one onto ``Scenario``; the simulator takes a validated
``Scenario`` and nothing else. All times are in seconds of simulated time, all rates are per
second unless a field name says otherwise (``*_per_day``, ``*_per_hour``).

Distributions are written either as a bare number (a fixed value) or as a mapping with a
``dist`` key, e.g. ``{dist: exponential, mean: 20}``.

The ``MAX_*`` / ``MIN_*`` limits below are what one run on one machine can do; a value
beyond them would not fail gracefully later (an overflow, memory exhausted, a run that never
ends), so validation refuses it up front and names the limit. Single fields carry them as
``Field`` bounds; the sums over a scenario (fleet size, expected activities, expected fault
events) are checked in ``validate.py`` against the same constants.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "MAX_ACTIVITIES",
    "MAX_COMPUTERS",
    "MAX_FAULT_EVENTS",
    "MAX_JOB_HANDLERS",
    "MAX_SECONDS",
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
    "Uniform",
    "Window",
    "Workload",
]


# --- limits -------------------------------------------------------------------------------
#: Longest simulated time and largest time value (s): one year. Scenarios span hours to
#: days; a year of an idle drain already takes seconds of wall time.
MAX_SECONDS = 365 * 86400.0
#: Shortest exchange, ping, progress and back-off interval, and mean time between crashes
#: (s). Landscape Client configures its intervals in whole seconds; shorter ones would only
#: multiply events (or, near 0, overflow the exchange count).
MIN_INTERVAL = 1.0
#: Shortest urgent exchange interval (s): Landscape Client announces an exchange 10 s before
#: it happens and fails on the negative delay a shorter interval would give.
MIN_URGENT_INTERVAL = 10.0
#: Most computers in a fleet: about 200 bytes of simulator state each (measured), so 2 GB.
MAX_COMPUTERS = 10_000_000
#: Most activities a workload may be expected to create (arrival rate x time, batch and
#: chain counts, bulk children): about 3 KB of memory each in a run (measured), so 15 GB.
#: The scale target (scenarios/million-computers.yaml) creates 1,000,000.
MAX_ACTIVITIES = 5_000_000
#: Most fault events a run may expect (client restarts, offline periods, job-handler
#: crashes): they are drawn up front, about 200 bytes each.
MAX_FAULT_EVENTS = 10_000_000
#: Most job-handler processes: every dispatch looks at each of them (a real server has a few).
MAX_JOB_HANDLERS = 1000


class _Strict(BaseModel):
    """Unknown keys are errors: a typo in a scenario must not silently fall back to a default.

    Infinity and NaN are refused everywhere (YAML's ``.inf``, ``.nan``): no setting means
    "for ever", and a NaN compares false with every bound.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


# --- distributions ----------------------------------------------------------------------
class Fixed(_Strict):
    dist: Literal["fixed"] = Field(default="fixed", description="Always the same value.")
    value: float = Field(ge=0, le=MAX_SECONDS, description="The value, every time (s).")


class Exponential(_Strict):
    dist: Literal["exponential"] = Field(description="Memoryless: many short, a few long.")
    mean: float = Field(gt=0, le=MAX_SECONDS, description="Mean (s).")


class Uniform(_Strict):
    dist: Literal["uniform"] = Field(description="Every value in [low, high] equally likely.")
    low: float = Field(ge=0, le=MAX_SECONDS, description="Lower bound (s).")
    high: float = Field(ge=0, le=MAX_SECONDS, description="Upper bound (s).")

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self


class LogNormal(_Strict):
    dist: Literal["lognormal"] = Field(description="Right-skewed: a long tail of slow cases.")
    mean: float = Field(
        gt=0, le=MAX_SECONDS, description="Mean of the distribution itself (s), not of its log."
    )
    sigma: float = Field(gt=0, description="Standard deviation of the underlying normal.")


_DistUnion = Annotated[Fixed | Exponential | Uniform | LogNormal, Field(discriminator="dist")]


def _bare_number_is_fixed(v: object) -> object:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return {"dist": "fixed", "value": v}
    return v


from pydantic import BeforeValidator  # noqa: E402

#: A non-negative duration distribution; a bare number means a fixed value.
Dist = Annotated[
    _DistUnion,
    BeforeValidator(
        _bare_number_is_fixed, json_schema_input_type=Annotated[float, Field(ge=0)] | _DistUnion
    ),
]


# --- behaviour of handlers ----------------------------------------------------------------
class HandlerSpec(_Strict):
    """How long a handler (client plugin or job-handler) takes for a type, and how it ends."""

    duration: Dist = Field(
        default=Fixed(value=10.0), description="Time from start to finish of the work (s)."
    )
    failure_probability: float = Field(
        default=0.0, ge=0, le=1, description="Chance that the work ends Failed."
    )


# --- fleet ----------------------------------------------------------------------------------
class Offline(_Strict):
    """Periods when a computer is unreachable: it neither pings nor exchanges."""

    rate_per_day: float = Field(
        default=0.0, ge=0, description="Offline periods per computer per day."
    )
    duration: Dist = Field(
        default=Exponential(dist="exponential", mean=3600.0),
        description="Length of one offline period (s).",
    )


class Restarts(_Strict):
    """Landscape Client restarts: running handlers lose their results (docs/spec.md)."""

    rate_per_day: float = Field(
        default=0.0, ge=0, description="Client restarts per computer per day."
    )
    downtime: Dist = Field(
        default=Fixed(value=30.0), description="Time until the client runs again (s)."
    )


def _urgent_at_least_10(value: float | None) -> float | None:
    """The client schedules its "impending exchange" notice ``interval - 10`` s ahead."""
    if value is not None and value < MIN_URGENT_INTERVAL:
        raise ValueError(
            f"urgent_exchange_interval ({value:g} s) must be at least {MIN_URGENT_INTERVAL:g} s: "
            f"Landscape Client announces each exchange {MIN_URGENT_INTERVAL:g} s ahead and "
            "fails on a shorter interval"
        )
    return value


class Background(_Strict):
    """The client's own messages (monitor and package reports): a steady stream per computer.

    They share the per-exchange message cap with operation-results, in the order they were
    queued, so a result queued behind a backlog waits for it. They never ask for an urgent
    exchange themselves.
    """

    interval: float | None = Field(
        default=None,
        ge=MIN_INTERVAL,
        le=MAX_SECONDS,
        description=(
            "Each computer queues `messages` background messages every this many seconds, at a "
            "random phase of its own (s); null = no background stream."
        ),
    )
    messages: int = Field(
        default=1, ge=1, le=10_000, description="Background messages queued each time."
    )
    resynchronize_messages: int = Field(
        default=20,
        ge=0,
        le=10_000,
        description=(
            "Messages the client's plugins queue again after a ResynchronizeRequest (their "
            "whole state, sent anew)."
        ),
    )


class ClientSpec(_Strict):
    """How this group's Landscape Client behaves where versions and settings differ."""

    version: Literal["current", "backoff"] = Field(
        default="current",
        description=(
            "'current': a busy server (429/5xx) sees retries at the current mode's interval, no "
            "back-off (today's clients); 'backoff': the exponential back-off of older clients, "
            "added to the interval, with jitter, one level down per successful exchange "
            "(faults.server_busy.backoff_*)."
        ),
    )
    message_handling: Dist = Field(
        default=Fixed(value=0.017),
        description=(
            "Time the client spends on each server message of an exchange (s); the exchange "
            "is in progress until the last is handled (17 ms measured on the real client)."
        ),
    )
    round_trip: float = Field(
        default=0.0,
        ge=0,
        le=60.0,
        description=(
            "Network round trip of an exchange, and of a ping unless ping_round_trip is set "
            "(s). While an exchange request is on the way, the client ignores requests to "
            "schedule one; its messages are handled when the answer comes."
        ),
    )
    handler_overhead: Dist = Field(
        default=LogNormal(dist="lognormal", mean=0.10, sigma=0.65),
        description=(
            "Time a handler adds to its own duration (s): the message's way from the broker "
            "to the manager, the handler's process start and exit, and its result's way "
            "back, before the result is queued."
        ),
    )
    ping_round_trip: Dist | None = Field(
        default=None,
        description=(
            "Round trip of a ping (s), a distribution: each ping draws its own; null = "
            "round_trip. The next ping is scheduled from the answer (a ping period is "
            "ping_interval + the ping's round trip); an answer that comes after an exchange's "
            "answer waits until that exchange's messages are handled. Whether the duplicate "
            "ping loop starts depends on milliseconds here: a random round trip lets it start "
            "on some computers and not others, as on real networks."
        ),
    )
    packages_reboot: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Chance that a package change was sent with reboot-if-necessary and needs the "
            "reboot: the computer reboots 5 s after its change-packages-result is queued."
        ),
    )
    duplicate_ping_loop: bool = Field(
        default=True,
        description=(
            "A server message handled while the pinger's current ping is unanswered starts a "
            "second ping loop, as the real client does (needs a ping round trip > 0 to "
            "happen); false = a fixed client."
        ),
    )
    background: Background = Field(
        default_factory=Background,
        description="The client's own messages, counted in the per-exchange cap.",
    )
    shutdown_delay: float = Field(
        default=120.0,
        ge=0,
        le=MAX_SECONDS,
        description="A ShutdownRequest powers the computer off this long after its result (s).",
    )

    @field_validator("ping_round_trip")
    @classmethod
    def _ping_round_trip_bounded(cls, v: Dist | None) -> Dist | None:
        """As round_trip's bound: a round trip beyond a minute is a dead network."""
        if v is None:
            return v
        top = v.value if isinstance(v, Fixed) else v.high if isinstance(v, Uniform) else v.mean
        if top > 60.0:
            raise ValueError(f"a ping round trip of {top:g} s (over 60 s) is a dead network")
        return v


class FleetGroup(_Strict):
    """A set of computers that share client settings and handler behaviour."""

    name: str = Field(
        default="default", min_length=1, description="Group name, unique in the fleet."
    )
    computers: int = Field(
        default=100, ge=0, le=MAX_COMPUTERS, description="Number of computers in the group."
    )
    exchange_interval: float = Field(
        default=900.0, ge=MIN_INTERVAL, le=MAX_SECONDS, description="Regular exchange interval (s)."
    )
    urgent_exchange_interval: float = Field(
        default=60.0,
        le=MAX_SECONDS,
        description=f"Delay of an urgent exchange (s), at least {MIN_URGENT_INTERVAL:g}.",
    )
    ping_interval: float = Field(
        default=30.0, ge=MIN_INTERVAL, le=MAX_SECONDS, description="Ping interval (s)."
    )
    max_messages_per_exchange: int = Field(
        default=100, ge=1, description="Client->server messages per exchange."
    )
    registration_spread: float = Field(
        default=0.0,
        ge=0,
        le=MAX_SECONDS,
        description="Computers register at uniform random times in [0, this] (s); 0 = all at t=0.",
    )
    start_phase_spread: float | None = Field(
        default=None,
        ge=0,
        le=MAX_SECONDS,
        description=(
            "Clients started before t=0 are at random points of their exchange cycle; the first "
            "exchange falls uniformly in [0, this] (s). Default: the exchange interval. "
            "Only used when registration_spread is 0."
        ),
    )
    handlers: dict[str, HandlerSpec] = Field(
        default_factory=dict, description="Handler behaviour per activity type name."
    )
    default_handler: HandlerSpec = Field(
        default_factory=HandlerSpec,
        description="Handler behaviour for types not listed in handlers.",
    )
    offline: Offline = Field(
        default_factory=Offline, description="Periods when a computer is unreachable."
    )
    restarts: Restarts = Field(
        default_factory=Restarts, description="Landscape Client restarts (lose running work)."
    )
    client: ClientSpec = Field(
        default_factory=ClientSpec,
        description="Client version and behaviour (busy server, pings, background messages).",
    )

    _urgent = field_validator("urgent_exchange_interval")(_urgent_at_least_10)


class Fleet(_Strict):
    """The managed computers, as groups that share client settings."""

    groups: list[FleetGroup] = Field(
        default_factory=lambda: [FleetGroup()], min_length=1, description="Computer groups."
    )


# --- server ---------------------------------------------------------------------------------
class SetIntervals(_Strict):
    """The server sends ``set-intervals`` at ``at``: the ping interval applies at once, the
    exchange intervals from the client's next scheduling; the values outlive a restart."""

    at: float = Field(ge=0, le=MAX_SECONDS, description="When the message reaches the clients (s).")
    group: str | None = Field(
        default=None, description="Only this fleet group's computers (default: the whole fleet)."
    )
    exchange_interval: float | None = Field(
        default=None, ge=MIN_INTERVAL, le=MAX_SECONDS, description="New exchange interval (s)."
    )
    urgent_exchange_interval: float | None = Field(
        default=None,
        le=MAX_SECONDS,
        description=f"New urgent exchange interval (s), at least {MIN_URGENT_INTERVAL:g}.",
    )
    ping_interval: float | None = Field(
        default=None, ge=MIN_INTERVAL, le=MAX_SECONDS, description="New ping interval (s)."
    )

    _urgent = field_validator("urgent_exchange_interval")(_urgent_at_least_10)

    @model_validator(mode="after")
    def _something(self) -> SetIntervals:
        if (self.exchange_interval, self.urgent_exchange_interval, self.ping_interval) == (
            None,
            None,
            None,
        ):
            raise ValueError(
                "set one of exchange_interval, urgent_exchange_interval, ping_interval"
            )
        return self


class Server(_Strict):
    """The Landscape server: job-handlers behind a RabbitMQ-like queue, and the ping service."""

    job_handlers: int = Field(
        default=2,
        ge=0,
        le=MAX_JOB_HANDLERS,
        description="Job-handler processes consuming the queue.",
    )
    prefetch: int = Field(
        default=1, ge=1, description="Unacknowledged messages one job-handler may hold."
    )
    ping_staleness: float = Field(
        default=0.0,
        ge=0,
        le=MAX_SECONDS,
        description="The ping service answers from a view of the store this old (s).",
    )
    handlers: dict[str, HandlerSpec] = Field(
        default_factory=dict, description="Job-handler behaviour per server activity type."
    )
    default_handler: HandlerSpec = Field(
        default_factory=lambda: HandlerSpec(duration=Fixed(value=5.0)),
        description="Job-handler behaviour for server types not listed in handlers.",
    )
    progress_interval: float = Field(
        default=10.0,
        ge=MIN_INTERVAL,
        le=MAX_SECONDS,
        description="How often progress-reporting server activities report progress (s).",
    )
    set_intervals: list[SetIntervals] = Field(
        default_factory=list,
        description="set-intervals messages the server sends to the clients during the run.",
    )


# --- workload -------------------------------------------------------------------------------
StartState = Literal["Queued", "Scheduled", "Waiting", "Blocked"]


class _Template(_Strict):
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


class Chain(_Strict):
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


class Workload(_Strict):
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


class Approvals(_Strict):
    """The administrator who approves Blocked activities."""

    delay: Dist | None = Field(
        default_factory=lambda: Exponential(dist="exponential", mean=600.0),
        description="Time from creation to approval (s); null = never approved.",
    )
    probability: float = Field(
        default=1.0, ge=0, le=1, description="Chance a Blocked activity is ever approved."
    )


class Cancellations(_Strict):
    """Administrators who cancel activities after they were created."""

    probability: float = Field(
        default=0.0, ge=0, le=1, description="Chance an activity gets a cancel request."
    )
    delay: Dist = Field(
        default_factory=lambda: Exponential(dist="exponential", mean=300.0),
        description="Time from creation to the cancel request (s).",
    )


# --- faults ---------------------------------------------------------------------------------
class Window(_Strict):
    """A period of simulated time."""

    start: float = Field(ge=0, le=MAX_SECONDS, description="Start (s).")
    end: float = Field(gt=0, le=MAX_SECONDS, description="End (s), after start.")

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be greater than start ({self.start})")
        return self


class JobHandlerCrash(_Strict):
    """Job-handler processes that die; their unacknowledged messages are redelivered."""

    mtbf: float | None = Field(
        default=None,
        ge=MIN_INTERVAL,
        le=MAX_SECONDS,
        description="Mean time between crashes of one job-handler (s); null = never.",
    )
    restart_delay: Dist = Field(
        default=Fixed(value=30.0),
        description="Time until a crashed job-handler consumes again (s).",
    )


class ServerBusy(_Strict):
    """Periods when the message system answers exchanges with 429/5xx."""

    windows: list[Window] = Field(default_factory=list, description="Fixed busy windows.")
    backoff_initial: float = Field(
        default=300.0, ge=MIN_INTERVAL, le=MAX_SECONDS, description="First back-off delay (s)."
    )
    backoff_max: float = Field(
        default=7200.0, ge=MIN_INTERVAL, le=MAX_SECONDS, description="Back-off ceiling (s)."
    )
    backoff_jitter: float = Field(
        default=0.25, ge=0, lt=1, description="Relative +- jitter of each back-off."
    )


class Faults(_Strict):
    """Things that go wrong on the server side (computer faults are per fleet group)."""

    job_handler_crash: JobHandlerCrash = Field(
        default_factory=JobHandlerCrash, description="Job-handler crashes and restarts."
    )
    server_busy: ServerBusy = Field(
        default_factory=ServerBusy, description="Busy message system: clients back off."
    )
    lost_exchange_probability: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Chance an exchange is lost in transit: nothing is delivered or received.",
    )


# --- the model's open points (docs/spec.md, profiles and open points) ---------------------
class Model(_Strict):
    """Readings of the points the spec leaves open."""

    profile: Literal["result-wins", "cancel-sticky"] = Field(
        default="result-wins",
        description="Client Canceled: may a late result still end it (result-wins) or not.",
    )
    on_dependency_failure: Literal["cancel", "keep-waiting"] = Field(
        default="cancel",
        description="What a Waiting activity does when a dependency ends Failed or Canceled.",
    )


class Output(_Strict):
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


class Objective(_Strict):
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


class Headline(_Strict):
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


class Scenario(_Strict):
    """One simulation: fleet, server, workload, faults, and how long to run."""

    name: str = Field(default="scenario", min_length=1, description="Name shown in reports.")
    description: str = Field(default="", description="What the scenario sets up, in a sentence.")
    question: str = Field(
        default="", description="The question the scenario answers; the report opens with it."
    )
    headline: Headline = Field(
        default_factory=Headline, description="The figures and objectives that answer it."
    )
    seed: int = Field(default=0, ge=0, description="Random seed; same seed, same trace.")
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
