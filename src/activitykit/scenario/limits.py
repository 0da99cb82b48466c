"""What one run can do: sums over a scenario against the schema's limits, and draining.

These checks need the whole scenario (every group, every workload entry) but no references
between its parts; ``validate.problems`` runs them after the fleet and workload checks, with
the same checker state (``Checks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..model import Kind, UnknownActivityTypeError, activity_type
from ._yaml import Path
from .problem import format_path
from .schema import (
    MAX_ACTIVITIES,
    MAX_COMPUTERS,
    MAX_FAULT_EVENTS,
    MAX_OPEN_REQUESTS,
    Arrival,
    Batch,
    ChainStep,
    FleetGroup,
    Scenario,
)

__all__ = ["Checks", "check_limits"]


class Checks(Protocol):
    """The checker state these checks read, and where they report."""

    s: Scenario
    groups: Mapping[str, FleetGroup]
    fleet_size: int

    def add(self, loc: Path, message: str) -> None: ...


def check_limits(c: Checks) -> None:
    """Sums over the scenario against the schema's limits, blamed on the largest part."""
    s = c.s
    groups = s.fleet.groups
    if c.fleet_size > MAX_COMPUTERS:
        big = max(range(len(groups)), key=lambda i: groups[i].computers)
        c.add(
            ("fleet", "groups", big, "computers"),
            f"the fleet has {c.fleet_size:,} computers in all; the limit is "
            f"{MAX_COMPUTERS:,} (about 200 bytes of memory each)",
        )
    _bounded(
        c,
        _expected_activities(c),
        MAX_ACTIVITIES,
        "the workload would create about {n} activities (arrival rate x time, counts, "
        "bulk children, chain steps); the limit is {limit} (about 3 KB of memory each): "
        "lower it, or shorten the duration",
    )
    _bounded(
        c,
        _expected_faults(c),
        MAX_FAULT_EVENTS,
        "about {n} fault events expected (client restarts and offline periods per "
        "computer per day, job-handler crashes per mtbf); the limit is {limit}",
    )
    open_requests = s.server.job_handlers * s.server.prefetch
    if open_requests > MAX_OPEN_REQUESTS:
        c.add(
            ("server", "prefetch"),
            f"{s.server.job_handlers:,} job-handlers x prefetch {s.server.prefetch:,} keep "
            f"{open_requests:,} job requests open at once; the limit is {MAX_OPEN_REQUESTS:,} "
            "(each is held from the start): lower the prefetch",
        )
    _drains(c)


def _bounded(c: Checks, parts: list[tuple[Path, float]], limit: int, message: str) -> None:
    total = sum(n for _, n in parts)
    if total > limit:
        loc = max(parts, key=lambda p: p[1])[0]
        shown = f"{total:,.0f}" if total < 1e12 else f"{total:.2e}"
        c.add(loc, message.format(n=shown, limit=f"{limit:,}"))


def _expected_activities(c: Checks) -> list[tuple[Path, float]]:
    s, w = c.s, c.s.workload
    parts: list[tuple[Path, float]] = []
    for i, a in enumerate(w.arrivals):
        stop = s.duration if a.stop is None else min(a.stop, s.duration)
        parts.append((("workload", "arrivals", i, "rate"), a.rate * max(stop - a.start, 0.0)))
    for i, b in enumerate(w.batches):
        parts.append((("workload", "batches", i, "count"), float(b.count)))
    for i, k in enumerate(w.bulks):
        size = c.groups[k.group].computers if k.group in c.groups else c.fleet_size
        parts.append((("workload", "bulks", i, "count"), float(k.count or size) + 1))
    for i, chain in enumerate(w.chains):
        parts.append((("workload", "chains", i, "count"), float(chain.count * len(chain.steps))))
    return parts


def _expected_faults(c: Checks) -> list[tuple[Path, float]]:
    s = c.s
    days = s.duration / 86400.0
    parts: list[tuple[Path, float]] = []
    for i, g in enumerate(s.fleet.groups):
        loc: Path = ("fleet", "groups", i)
        parts.append(
            ((*loc, "restarts", "rate_per_day"), g.computers * g.restarts.rate_per_day * days)
        )
        parts.append(
            ((*loc, "offline", "rate_per_day"), g.computers * g.offline.rate_per_day * days)
        )
    crash = s.faults.job_handler_crash
    if crash.mtbf is not None:
        horizon = s.drain_limit if s.run_until == "drained" else s.duration
        parts.append(
            (
                ("faults", "job_handler_crash", "mtbf"),
                s.server.job_handlers * horizon / crash.mtbf,
            )
        )
    return parts


def _drains(c: Checks) -> None:
    """``run_until: drained`` must be able to drain: server work needs a job-handler."""
    s = c.s
    if s.run_until != "drained" or s.server.job_handlers > 0:
        return
    w = s.workload
    entries: list[tuple[Path, Arrival | Batch | ChainStep]] = [
        *((("workload", "arrivals", i), a) for i, a in enumerate(w.arrivals)),
        *((("workload", "batches", i), b) for i, b in enumerate(w.batches)),
        *(
            (("workload", "chains", i, "steps", j), step)
            for i, chain in enumerate(w.chains)
            for j, step in enumerate(chain.steps)
        ),
    ]
    for loc, entry in entries:
        try:
            server = activity_type(entry.type).kind is Kind.SERVER
        except UnknownActivityTypeError:
            continue  # reported on the type field already
        cancel = entry.cancel_probability
        if cancel is None:
            cancel = s.cancellations.probability
        if server and cancel < 1:
            c.add(
                ("server", "job_handlers"),
                f"run_until is drained but there are no job-handlers, so the server "
                f"activities of {format_path(loc)} ({entry.type}) can never finish and "
                f"the run would only stop at drain_limit ({s.drain_limit:g} s); add "
                "job-handlers or use run_until: duration",
            )
            return
