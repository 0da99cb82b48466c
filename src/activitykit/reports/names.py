"""The names a run's figures and summary are known by, without numpy or pandas.

Scenario validation checks a headline's figure names, ``activitykit run`` configures its
trace writer with what the summary reads and prints the summary's latencies, before (or
without) any table being computed: they import these from here, and the simulation does not
wait for pandas to be imported (``metrics`` and ``summary`` re-export them, with the
statistics they name).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "HEADLINE_FIGURES",
    "KEY_FIGURES",
    "KEY_FIGURE_NAMES",
    "LATENCY_PHASES",
    "LOAD_FIGURES",
    "PERCENTILES",
    "PHASE_STATS",
    "SCOPES",
    "SUMMARY_COLUMNS",
    "SUMMARY_EVENTS",
    "bound_text",
    "figure_unit",
]

#: The three latency phases: created -> first In Progress, first In Progress -> final, both.
LATENCY_PHASES: tuple[str, ...] = ("to_start", "run", "total")
#: Percentiles of each phase (linear interpolation, numpy's default).
PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)
#: The statistics of a latency phase, in ``metrics.phase_stats`` order.
PHASE_STATS: tuple[str, ...] = ("count", "mean", *(f"p{p}" for p in PERCENTILES), "max")
SCOPES: tuple[str, ...] = ("all", "client", "server")
#: The latency statistics among the key figures (the summary has every ``PHASE_STATS``).
_FIGURE_STATS = ("p50", "p90", "p99", "mean")

#: Each key figure's place in ``metrics.measures`` (and so in summary.json): the figures are
#: a flat view of the measures, never computed on their own.
KEY_FIGURES: dict[str, tuple[str, ...]] = {
    **{
        f"{s}.{ph}.{st}": ("latency", s, ph, st)
        for s in SCOPES
        for ph in LATENCY_PHASES
        for st in _FIGURE_STATS
    },
    **{f"{s}.throughput_per_hour": ("throughput", s, "finished_per_hour") for s in SCOPES},
    "server.queue_wait.mean": ("queue_wait", "mean"),
    "server.job_handler_utilisation": ("job_handlers", "utilisation"),
    "all.created": ("activities", "total"),
    "all.finished": ("activities", "finished"),
    "all.unfinished": ("unfinished", "count"),
}
KEY_FIGURE_NAMES: tuple[str, ...] = tuple(KEY_FIGURES)
#: The load figures: from the simulator's counters (summary.json ``load``), so they exist in
#: a run's summary but not in ``key_figures`` of a bare trace, which has no counters.
LOAD_FIGURES: dict[str, tuple[str, ...]] = {
    "load.exchanges_per_minute": ("load", "exchanges_per_minute", "total"),
    "load.urgent_exchanges_per_minute": ("load", "exchanges_per_minute", "urgent"),
    "load.regular_exchanges_per_minute": ("load", "exchanges_per_minute", "regular"),
    "load.pings_per_minute": ("load", "pings_per_minute"),
    "server.message_system_requests_per_s": ("load", "server", "message_system_requests_per_s"),
    "server.pings_per_s": ("load", "server", "pings_per_s"),
}
#: What a scenario's ``headline`` and ``objectives`` may name: a key figure or a load figure,
#: each read from summary.json at this path.
HEADLINE_FIGURES: dict[str, tuple[str, ...]] = {**KEY_FIGURES, **LOAD_FIGURES}

#: Record kinds the summary reads; exchanges, deliveries and results (most of a trace) are
#: only counted.
SUMMARY_EVENTS: tuple[str, ...] = ("created", "transition", "enqueue", "consume", "ack", "fault")
#: The fields of those records it reads (the rest of a million-activity trace would only
#: cost memory).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "t",
    "event",
    "activity",
    "computer",
    "group",
    "kind",
    "type",
    "state",
    "from",
    "to",
    "deliver_after",
    "depends_on",
    "progress_of",
    "threshold",
    "parent",
    "handler",
    "fault",
)


def figure_unit(name: str) -> str:
    """The unit a headline figure is shown in ("s", "/h", "%", "/min", "/s", "")."""
    last = name.rsplit(".", 1)[-1]
    if name.endswith("utilisation"):
        return "%"
    if name.endswith("_per_hour"):
        return "/h"
    if name.endswith("_per_minute"):
        return "/min"
    if name.endswith("_per_s"):
        return "/s"
    if last in ("mean", "max", *(f"p{p}" for p in PERCENTILES)):
        return "s"
    return ""


def bound_text(stats: dict[str, Any], name: str) -> str:
    """A statistic of ``metrics.phase_stats`` as text in seconds, ">= x" when only a lower
    bound."""
    value = stats.get(name)
    if value is None:
        return ""
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"
    return (">= " if name in stats.get("lower_bounds", ()) else "") + text
