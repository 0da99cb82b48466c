"""What every scenario section shares: the limits of one run, strict models, distributions,
and the validation helpers more than one section uses (``schema`` re-exports them all)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

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
    "Dist",
    "Exponential",
    "Fixed",
    "HandlerSpec",
    "LogNormal",
    "Strict",
    "Uniform",
    "urgent_at_least_10",
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
#: Most unacknowledged messages per job-handler: RabbitMQ's prefetch count is a 16-bit field.
MAX_PREFETCH = 65_535
#: Most job requests open at once (job-handlers x prefetch): each is a pending ``get`` on
#: the simulated broker from the start (about 300 bytes), and every delivery shifts the
#: broker's list of them.
MAX_OPEN_REQUESTS = 100_000
#: Largest seed: seeds are stored as 64-bit integers (runs.parquet), and seed + i names the
#: replications.
MAX_SEED = 2**63 - 1
#: Largest sigma of a log-normal: at 5 its median is already 1/268,000 of its mean, which
#: rests on draws rarer than any run makes, so a larger one describes nothing a run could
#: show (and its mean overflows a float past about 26.6).
MAX_SIGMA = 5.0


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a scenario must not silently fall back to a default.

    Infinity and NaN are refused everywhere (YAML's ``.inf``, ``.nan``): no setting means
    "for ever", and a NaN compares false with every bound.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


# --- distributions ----------------------------------------------------------------------
class Fixed(Strict):
    dist: Literal["fixed"] = Field(default="fixed", description="Always the same value.")
    value: float = Field(ge=0, le=MAX_SECONDS, description="The value, every time (s).")


class Exponential(Strict):
    dist: Literal["exponential"] = Field(description="Memoryless: many short, a few long.")
    mean: float = Field(gt=0, le=MAX_SECONDS, description="Mean (s).")


class Uniform(Strict):
    dist: Literal["uniform"] = Field(description="Every value in [low, high] equally likely.")
    low: float = Field(ge=0, le=MAX_SECONDS, description="Lower bound (s).")
    high: float = Field(ge=0, le=MAX_SECONDS, description="Upper bound (s).")

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self


class LogNormal(Strict):
    dist: Literal["lognormal"] = Field(description="Right-skewed: a long tail of slow cases.")
    mean: float = Field(
        gt=0, le=MAX_SECONDS, description="Mean of the distribution itself (s), not of its log."
    )
    sigma: float = Field(
        gt=0, le=MAX_SIGMA, description="Standard deviation of the underlying normal."
    )


_DistUnion = Annotated[Fixed | Exponential | Uniform | LogNormal, Field(discriminator="dist")]


def _bare_number_is_fixed(v: object) -> object:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return {"dist": "fixed", "value": v}
    return v


#: A non-negative duration distribution; a bare number means a fixed value.
Dist = Annotated[
    _DistUnion,
    BeforeValidator(
        _bare_number_is_fixed, json_schema_input_type=Annotated[float, Field(ge=0)] | _DistUnion
    ),
]


# --- behaviour of handlers ----------------------------------------------------------------
class HandlerSpec(Strict):
    """How long a handler (client plugin or job-handler) takes for a type, and how it ends."""

    duration: Dist = Field(
        default=Fixed(value=10.0), description="Time from start to finish of the work (s)."
    )
    failure_probability: float = Field(
        default=0.0, ge=0, le=1, description="Chance that the work ends Failed."
    )


# --- validation helpers -------------------------------------------------------------------
def urgent_at_least_10(value: float | None) -> float | None:
    """The client schedules its "impending exchange" notice ``interval - 10`` s ahead."""
    if value is not None and value < MIN_URGENT_INTERVAL:
        raise ValueError(
            f"urgent_exchange_interval ({value:g} s) must be at least {MIN_URGENT_INTERVAL:g} s: "
            f"Landscape Client announces each exchange {MIN_URGENT_INTERVAL:g} s ahead and "
            "fails on a shorter interval"
        )
    return value
