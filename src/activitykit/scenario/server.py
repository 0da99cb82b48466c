"""The server's sections of a scenario: job-handlers, the ping service, set-intervals
messages, and the server-side faults."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from .basics import (
    MAX_JOB_HANDLERS,
    MAX_PREFETCH,
    MAX_SECONDS,
    MIN_INTERVAL,
    MIN_URGENT_INTERVAL,
    Dist,
    Fixed,
    HandlerSpec,
    Strict,
    urgent_at_least_10,
)

__all__ = ["Faults", "JobHandlerCrash", "Server", "ServerBusy", "SetIntervals", "Window"]


# --- server ---------------------------------------------------------------------------------
class SetIntervals(Strict):
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

    _urgent = field_validator("urgent_exchange_interval")(urgent_at_least_10)

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


class Server(Strict):
    """The Landscape server: job-handlers behind a RabbitMQ-like queue, and the ping service."""

    job_handlers: int = Field(
        default=2,
        ge=0,
        le=MAX_JOB_HANDLERS,
        description="Job-handler processes consuming the queue.",
    )
    prefetch: int = Field(
        default=1,
        ge=1,
        le=MAX_PREFETCH,
        description="Unacknowledged messages one job-handler may hold.",
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


# --- faults ---------------------------------------------------------------------------------
class Window(Strict):
    """A period of simulated time."""

    start: float = Field(ge=0, le=MAX_SECONDS, description="Start (s).")
    end: float = Field(gt=0, le=MAX_SECONDS, description="End (s), after start.")

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be greater than start ({self.start})")
        return self


class JobHandlerCrash(Strict):
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


class ServerBusy(Strict):
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


class Faults(Strict):
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
