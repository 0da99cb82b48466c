"""The fleet's sections of a scenario: groups of computers and their Landscape Client."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .basics import (
    MAX_COMPUTERS,
    MAX_SECONDS,
    MIN_INTERVAL,
    MIN_URGENT_INTERVAL,
    Dist,
    Exponential,
    Fixed,
    HandlerSpec,
    LogNormal,
    Strict,
    Uniform,
    urgent_at_least_10,
)

__all__ = ["Background", "ClientSpec", "Fleet", "FleetGroup", "Offline", "Restarts"]

#: Most client->server messages one exchange may carry: Landscape Client sends 100 by
#: default; more than this is no cap at all, and is better said by this number.
MAX_MESSAGES = 1_000_000


# --- fleet ----------------------------------------------------------------------------------
class Offline(Strict):
    """Periods when a computer is unreachable: it neither pings nor exchanges."""

    rate_per_day: float = Field(
        default=0.0, ge=0, description="Offline periods per computer per day."
    )
    duration: Dist = Field(
        default=Exponential(dist="exponential", mean=3600.0),
        description="Length of one offline period (s).",
    )


class Restarts(Strict):
    """Landscape Client restarts: running handlers lose their results (docs/spec.md)."""

    rate_per_day: float = Field(
        default=0.0, ge=0, description="Client restarts per computer per day."
    )
    downtime: Dist = Field(
        default=Fixed(value=30.0), description="Time until the client runs again (s)."
    )


class Background(Strict):
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


class ClientSpec(Strict):
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
            "on some computers and not others, as on real networks. At most 60 s (a fixed "
            "value, a uniform's high, another distribution's mean)."
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


class FleetGroup(Strict):
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
        default=100, ge=1, le=MAX_MESSAGES, description="Client->server messages per exchange."
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

    _urgent = field_validator("urgent_exchange_interval")(urgent_at_least_10)


class Fleet(Strict):
    """The managed computers, as groups that share client settings."""

    groups: list[FleetGroup] = Field(
        default_factory=lambda: [FleetGroup()], min_length=1, description="Computer groups."
    )
