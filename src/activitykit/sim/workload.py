"""The creation plan: when each activity (or bulk, or chain instance) of a scenario is created.

The whole plan is drawn before the run, as numpy arrays, one stream per workload entry. The
simulator then walks it with a single chained event instead of holding one pending event per
future activity, so a million planned activities cost three arrays, not a million heap entries.

The scenario is validated before it gets here (``Scenario`` runs ``scenario.validate``: known
groups with computers, bulks and chain steps waiting only for earlier ones, thresholds given),
so nothing below checks it again.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model import Kind, activity_type
from ..scenario.schema import Arrival, Batch, Bulk, Chain, Scenario
from .rand import Streams

__all__ = ["FleetLayout", "Plan", "Source", "build_plan", "fleet_layout"]


@dataclass(frozen=True, slots=True)
class FleetLayout:
    """Computers are numbered 0..total-1, group after group (ids ``c1``..``cN``)."""

    names: tuple[str, ...]
    starts: tuple[int, ...]
    stops: tuple[int, ...]

    @property
    def total(self) -> int:
        return self.stops[-1] if self.stops else 0

    def group_of(self, computer: int) -> str:
        """The name of the group computer number ``computer`` belongs to."""
        return self.names[bisect_right(self.stops, computer)]

    def span(self, group: str | None) -> tuple[int, int]:
        if group is None:
            return 0, self.total
        i = self.names.index(group)
        return self.starts[i], self.stops[i]


def fleet_layout(scenario: Scenario) -> FleetLayout:
    names, starts, stops = [], [], []
    at = 0
    for g in scenario.fleet.groups:
        names.append(g.name)
        starts.append(at)
        at += g.computers
        stops.append(at)
    return FleetLayout(tuple(names), tuple(starts), tuple(stops))


@dataclass(frozen=True, slots=True)
class Source:
    """One workload entry; ``where`` names it (``workload.arrivals[0]``) and keys its streams."""

    form: str  # "arrival" | "batch" | "bulk" | "chain"
    spec: Arrival | Batch | Bulk | Chain
    where: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Creation items sorted by time; ties keep workload order (then draw order)."""

    sources: tuple[Source, ...]
    t: list[float]
    src: list[int]
    computer: list[int]  # -1 for server activities and bulks

    def __len__(self) -> int:
        return len(self.t)

    def activities(self, layout: FleetLayout) -> int:
        """How many activities the plan creates: one per arrival or batch item, a bulk's
        children, a chain's steps."""
        per_source = np.bincount(np.asarray(self.src, dtype=np.int64), minlength=len(self.sources))
        n = 0
        for source, k in zip(self.sources, per_source.tolist(), strict=True):
            spec: Any = source.spec
            if source.form == "bulk":
                lo, hi = layout.span(spec.group)
                n += k * (hi - lo if spec.count is None else min(spec.count, hi - lo))
            elif source.form == "chain":
                n += k * len(spec.steps)
            else:
                n += k
        return n


def _kind_of(type_name: str) -> Kind:
    return activity_type(type_name).kind


def build_plan(scenario: Scenario, layout: FleetLayout, streams: Streams) -> Plan:
    """Draw every creation time (and target computer) of the scenario's workload."""
    end = scenario.duration
    sources: list[Source] = []
    ts: list[np.ndarray] = []
    srcs: list[np.ndarray] = []
    comps: list[np.ndarray] = []
    wl = scenario.workload

    def add(form: str, spec, where: str, t: np.ndarray, comp: np.ndarray) -> None:
        i = len(sources)
        sources.append(Source(form, spec, where))
        ts.append(np.asarray(t, dtype=np.float64))
        srcs.append(np.full(len(t), i, dtype=np.int64))
        comps.append(np.asarray(comp, dtype=np.int64))

    for i, a in enumerate(wl.arrivals):
        where = f"workload.arrivals[{i}]"
        kind = _kind_of(a.type)
        rng = streams.rng(f"arrival/{a.name}")
        stop = end if a.stop is None else min(a.stop, end)
        if stop <= a.start:
            add("arrival", a, where, np.empty(0), np.empty(0))
            continue
        n = int(rng.poisson(a.rate * (stop - a.start)))
        t = np.sort(rng.uniform(a.start, stop, n))
        lo, hi = layout.span(a.group)
        comp = rng.integers(lo, hi, n) if kind is Kind.CLIENT else np.full(n, -1)
        add("arrival", a, where, t, comp)

    def spread_out(form: str, e: Batch | Chain, where: str, client: bool) -> None:
        """``count`` created at ``at``, spread uniformly over ``spread`` when given."""
        rng = streams.rng(f"{form}/{e.name}")
        t = (
            np.sort(e.at + rng.uniform(0.0, e.spread, e.count))
            if e.spread
            else np.full(e.count, e.at)
        )
        lo, hi = layout.span(e.group)
        add(form, e, where, t, rng.integers(lo, hi, e.count) if client else np.full(e.count, -1))

    for i, b in enumerate(wl.batches):
        spread_out("batch", b, f"workload.batches[{i}]", _kind_of(b.type) is Kind.CLIENT)
    for i, k in enumerate(wl.bulks):
        add("bulk", k, f"workload.bulks[{i}]", np.array([k.at]), np.array([-1]))
    for i, c in enumerate(wl.chains):
        client = any(_kind_of(s.type) is Kind.CLIENT for s in c.steps)
        spread_out("chain", c, f"workload.chains[{i}]", client)

    if not ts:
        return Plan(tuple(sources), [], [], [])
    t_all = np.concatenate(ts)
    src_all = np.concatenate(srcs)
    comp_all = np.concatenate(comps)
    seq = np.arange(len(t_all))
    order = np.lexsort((seq, src_all, t_all))
    keep = t_all[order] < end
    order = order[keep]
    return Plan(
        tuple(sources),
        t_all[order].tolist(),
        src_all[order].tolist(),
        comp_all[order].tolist(),
    )
