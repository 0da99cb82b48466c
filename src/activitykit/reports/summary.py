"""The run summary (summary.json): computed here, once, from the run's trace.

Every statistic in it comes from ``metrics.measures`` (latency statistics, throughput, queue
wait, job-handler utilisation) over the window from the warm-up to the end of the run; the
key figures the sweeps compare are a flat view of the same numbers (``key_figures_of``),
never a second computation. On top of the measures the summary adds counts by state, kind
and type, per-fleet-group latencies, unfinished and stuck activities, the checker's
violations and the simulator's counters.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .headline import headline
from .metrics import (
    activity_table,
    busy_intervals,
    flat_figures,
    latency_stats,
    latency_window,
    measures,
    open_ages,
    queue_waits,
)
from .names import LATENCY_PHASES, SUMMARY_COLUMNS, SUMMARY_EVENTS

if TYPE_CHECKING:
    from ..scenario import Scenario
    from ..sim.result import SimResult

__all__ = [
    "SUMMARY_COLUMNS",
    "SUMMARY_EVENTS",
    "key_figures_of",
    "load",
    "strict",
    "summarise",
    "summarise_run",
    "write_summary",
]

_PHASES = {
    "to_start": "created -> first In Progress",
    "run": "first In Progress -> final state",
    "total": "created -> final state",
}
assert tuple(_PHASES) == LATENCY_PHASES


def summarise(
    scenario: Scenario,
    sim: SimResult,
    frame: pd.DataFrame,
    records_by_event: Mapping[str, int],
) -> dict[str, Any]:
    """summary.json as a dict (see ``summarise_run``)."""
    return summarise_run(scenario, sim, frame, records_by_event)[0]


def summarise_run(
    scenario: Scenario,
    sim: SimResult,
    frame: pd.DataFrame,
    records_by_event: Mapping[str, int],
    activities: pd.DataFrame | None = None,
    measured: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """summary.json as a dict, with the activity table and the ``metrics.measures`` it was
    computed from (a report of the same run starts from them instead of again from the
    trace); ``frame`` holds the trace's records (at least
    ``SUMMARY_EVENTS``, as ``trace.as_frame`` gives them), ``records_by_event`` the count
    of every record kind; ``activities``: its ``activity_table``, and ``measured``: its
    measures (a report's ``RunData.measures``, of the same run's window and handlers), if
    already made.

    Latencies, throughput, queue wait and utilisation cover the window from the warm-up to
    the end of the run (activities created in the warm-up are left out); counts of
    activities and of unfinished or stuck ones cover the whole run. Undefined values are
    None.
    """
    end, warmup = float(sim.end_t), scenario.warmup
    acts = activity_table(frame) if activities is None else activities
    if measured is None:
        measured = measures(
            acts,
            queue_waits(frame),
            busy_intervals(frame, acts),
            warmup=warmup,
            t_end=end,
            handlers=scenario.server.job_handlers,
        )
    unfinished = acts.loc[~acts["finished"].to_numpy(dtype=bool)]
    t_run = unfinished["t_in_progress"].to_numpy(dtype=float)
    in_progress = (unfinished["state"] == "In Progress").to_numpy()
    age_running = end - t_run
    stuck_mask = in_progress & (age_running >= scenario.output.stuck_after)
    stuck = unfinished.loc[stuck_mask].assign(age=age_running[stuck_mask])
    stuck = stuck.sort_values("age", ascending=False, kind="stable")
    ages = end - unfinished["created_t"].to_numpy(dtype=float)
    violations = [str(v) for v in (sim.violations or ())]
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "profile": scenario.model.profile,
        "end_t": end,
        "conformant": not violations,
        "activities": {
            **measured["activities"],
            "by_state": _value_counts(acts["state"]),
            "by_kind": _counts(acts, "kind"),
            "by_type": _counts(acts, "type"),
        },
        "latency": {
            "excludes_created_before": warmup,
            "phases": _PHASES,
            **measured["latency"],
        },
        "latency_by_group": _latency_by_group(
            [g.name for g in scenario.fleet.groups],
            acts,
            latency_window(acts, warmup=warmup, t_end=end),
            open_ages(acts, warmup=warmup, t_end=end),
        ),
        "throughput": {"window": [warmup, end], **measured["throughput"]},
        "queue_wait": measured["queue_wait"],
        "job_handlers": measured["job_handlers"],
        "unfinished": {
            **measured["unfinished"],
            "by_state": _value_counts(unfinished["state"]),
            "oldest_age": float(ages.max()) if len(ages) else None,
        },
        "stuck": {
            "in_progress_for_at_least": scenario.output.stuck_after,
            "count": len(stuck),
            "oldest": [
                {"activity": str(r.id), "type": str(r.type), "computer": r.computer, "age": r.age}
                for r in stuck.head(20).itertuples()
            ],
        },
        "violations": {"count": len(violations), "first": violations[:50]},
        "events_processed": int(sim.events),
        "records": {
            "total": int(sum(records_by_event.values())),
            "by_event": dict(records_by_event),
        },
        "wall_seconds": float(sim.wall_seconds),
        "counters": dict(sim.counters or {}),
        "load": load(scenario, sim.counters or {}, end),
    }
    summary["headline"] = headline(scenario, summary)
    return _plain(summary), acts, measured


#: Said with the per-group load when a run's counters have no per-group counts (a summary
#: of a run made before they existed, or of a trace alone).
LOAD_GROUP_NOTE = (
    "These counters have no per-group counts, so per group these are the nominal rates "
    "(computers / interval, every computer online all the time); the fleet-wide figures are "
    "the counted ones."
)


def load(scenario: Scenario, counters: Mapping[str, int], end: float) -> dict[str, Any]:
    """The load the fleet puts on the server over the whole run ``[0, end]``, from the
    run's counters: exchanges and pings, per minute and as the server sees them
    (message-system requests/s: one per exchange; pings/s), for the fleet and per group.

    The simulator counts every exchange (urgent and regular apart; idle ones are counted,
    not traced, so this is the only place they show) and every ping, per group too
    (``exchanges.<group>``, ``pings.<group>``). A live run's server counts the requests it
    answered (``exchanges``, ``pings``, per group too) but cannot tell urgent from regular
    exchanges: those two are None there.
    """
    urgent = counters.get("exchanges_urgent")
    regular = counters.get("exchanges_regular")
    split = urgent is not None and regular is not None
    total = int(counters.get("exchanges", (urgent or 0) + (regular or 0)))
    pings = int(counters.get("pings", 0))
    per_min = 60.0 / end if end > 0 else math.nan

    def rate(n: int | None) -> float | None:
        return None if n is None else n * per_min

    by_group: dict[str, dict[str, Any]] = {}
    counted = bool(scenario.fleet.groups) and all(
        f"exchanges.{g.name}" in counters for g in scenario.fleet.groups
    )
    for g in scenario.fleet.groups:
        row: dict[str, Any] = {"computers": g.computers}
        if counted:
            row["exchanges_per_minute"] = rate(int(counters[f"exchanges.{g.name}"]))
            row["pings_per_minute"] = rate(int(counters.get(f"pings.{g.name}", 0)))
        row["nominal_regular_exchanges_per_minute"] = g.computers * 60.0 / g.exchange_interval
        row["nominal_pings_per_minute"] = g.computers * 60.0 / g.ping_interval
        by_group[g.name] = row
    return {
        "window": [0.0, end],
        "exchanges": {
            "urgent": int(urgent) if split else None,
            "regular": int(regular) if split else None,
            "total": total,
        },
        "pings": pings,
        "exchanges_per_minute": {
            "urgent": rate(int(urgent)) if split else None,
            "regular": rate(int(regular)) if split else None,
            "total": rate(total),
        },
        "pings_per_minute": rate(pings),
        "server": {
            "message_system_requests_per_s": total * per_min / 60.0,
            "pings_per_s": pings * per_min / 60.0,
        },
        "by_group": by_group,
        "by_group_counted": counted,
        "by_group_note": "" if counted else LOAD_GROUP_NOTE,
    }


def key_figures_of(summary: Mapping[str, Any]) -> dict[str, float]:
    """The key figures (``metrics.KEY_FIGURE_NAMES``) of a summary; NaN where undefined."""
    return flat_figures(dict(summary))


def _value_counts(col: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in col.value_counts().sort_index().items()}


def _counts(frame: pd.DataFrame, by: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    if frame.empty:
        return out
    table = frame.groupby([by, "state"], dropna=False).size()
    for (key, state), n in table.items():
        out.setdefault(str(key), {})[str(state)] = int(n)
    return dict(sorted(out.items()))


def _latency_by_group(
    groups: Sequence[str],
    acts: pd.DataFrame,
    window: dict[str, np.ndarray],
    ages: dict[str, np.ndarray],
) -> dict[str, Any]:
    """Client latencies per fleet group (the ``group`` of their ``created`` records), in the
    scenario's group order; for fleets of several groups only."""
    if len(groups) < 2:
        return {}
    client = (acts["kind"] == "client").to_numpy()
    group = acts["group"].to_numpy(dtype=object)
    return {g: latency_stats(acts, client & (group == g), window, ages) for g in groups}


def _plain(value: Any, *, nan: bool = True) -> Any:
    """numpy scalars -> Python; NaN/inf kept (``nan``) or -> None (for strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v, nan=nan) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, nan=nan) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value) and not nan:
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def strict(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary as summary.json holds it: plain Python values, NaN and infinities as
    None (what reading the file back gives, without the file)."""
    return _plain(dict(summary), nan=False)


def write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    """summary.json: strict JSON (NaN and infinities as null)."""
    text = json.dumps(strict(summary), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
