"""Independent yardsticks for the simulator: queueing theory, client-rule latencies, Little's law.

Nothing here imports ``activitykit.sim``. The fidelity tests measure the simulator's traces
with ``latencies`` / ``littles_law`` and compare them with what ``queueing`` and
``client_latency`` derive from first principles (see docs/fidelity.md).
"""

from .client_latency import (
    Backoff,
    ClientIntervals,
    ClientLatencyInputError,
    ClientRules,
    Replay,
    busy_delivery_cdf,
    delivery_cdf,
    delivery_mean,
    delivery_sample,
    lock_offset,
    replay_client,
    result_latency,
    result_latency_cdf,
    simulate_client,
)
from .latency import END_STATES, LatencyInputError, as_frame, isolated, latencies
from .littles_law import LittleCheck, in_system, littles_law
from .queueing import (
    ConfidenceInterval,
    MMc,
    QueueingInputError,
    batch_means_ci,
    erlang_c,
    mean_ci,
    mmc,
    simulate_mmc_waits,
)
from .round_trips import lognormal_fit, ping_periods

__all__ = [
    "END_STATES",
    "Backoff",
    "ClientIntervals",
    "ClientLatencyInputError",
    "ClientRules",
    "ConfidenceInterval",
    "LatencyInputError",
    "LittleCheck",
    "MMc",
    "QueueingInputError",
    "Replay",
    "as_frame",
    "batch_means_ci",
    "busy_delivery_cdf",
    "delivery_cdf",
    "delivery_mean",
    "delivery_sample",
    "erlang_c",
    "in_system",
    "isolated",
    "latencies",
    "littles_law",
    "lock_offset",
    "lognormal_fit",
    "mean_ci",
    "mmc",
    "ping_periods",
    "replay_client",
    "result_latency",
    "result_latency_cdf",
    "simulate_client",
    "simulate_mmc_waits",
]
