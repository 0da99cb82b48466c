"""The people and programs that talk to the server: the workload's creations (arrivals,
batches, bulks, chains) and the administrators' approvals and cancellations.

They only call the activity store (``create``, ``create_group``, ``approve``, ``cancel``);
what those do is the store's business. The creation plan (``workload.build_plan``) is walked
by one chained event, so a million planned activities cost arrays, not heap entries.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import count
from typing import TYPE_CHECKING, Any

import simpy

from ..model import Kind, activity_type
from ..scenario.schema import Arrival, Batch, Bulk, Chain, ChainStep, HandlerSpec, Scenario
from ..server import Activity, ActivityStore
from ..server.activity import B, Q, S, W
from .kernel import at
from .rand import Streams
from .workload import FleetLayout, Plan

if TYPE_CHECKING:
    from .fleet import Fleet

__all__ = ["Admin", "Template", "Work"]

#: Every workload entry that describes one activity.
Template = Arrival | Batch | Bulk | ChainStep


class Work:
    """What running an activity takes (the simulator's ``Activity.extra``)."""

    __slots__ = ("duration", "failp")

    def __init__(self, duration: Callable[[], float], failp: float) -> None:
        self.duration = duration
        self.failp = failp


class Admin:
    """Creates the planned activities and approves/cancels them as the scenario says."""

    def __init__(
        self,
        scenario: Scenario,
        streams: Streams,
        env: simpy.Environment,
        store: ActivityStore,
        fleet: Fleet,
        plan: Plan,
        layout: FleetLayout,
        counters: dict[str, int],
    ) -> None:
        self.sc = scenario
        self.streams = st = streams
        self.env = env
        self.store = store
        self.fleet = fleet
        self.plan = plan
        self.layout = layout
        self.c = counters
        self._ids = count(1)
        self._ci = 0
        self._u_cancel = st.uniform("cancel/draw")
        self._cancel_p = scenario.cancellations.probability
        self._cancel_delay = st.sampler("cancel/delay", scenario.cancellations.delay)
        self._u_approve = st.uniform("approval/draw")
        ad = scenario.approvals.delay
        self._approve_delay = st.sampler("approval/delay", ad) if ad is not None else None
        self._u_window = st.uniform("schedule/window")
        self._work: dict[tuple[str, ...], Work] = {}
        #: (template, fleet group index) -> its Work; templates live as long as the scenario.
        self._work_by_group: dict[tuple[int, int], Work] = {}
        self._types: dict[str, tuple[str, str, bool]] = {}
        self.bulk_groups: dict[str, str] = {}
        self.bulk_children: dict[str, dict[int, Activity]] = {}

    def start(self) -> None:
        if len(self.plan):
            at(self.env, self.plan.t[0], self._on_create)

    def _work_of(self, tpl: Template, tname: str, client: bool, comp: int, where: str) -> Work:
        """Duration and failure: the template's handler, else the group's, else the server's."""
        spec: HandlerSpec
        if tpl.handler is not None:
            key: tuple[str, ...] = ("tpl", where)
            spec = tpl.handler
        elif client:
            g = self.fleet.group(comp)
            spec = g.handlers.get(tname) or g.default
            key = ("client", g.name, tname)
        else:
            srv = self.sc.server
            spec = srv.handlers.get(tname) or srv.default_handler
            key = ("server", tname)
        w = self._work.get(key)
        if w is None:
            smp = self.streams.sampler("duration/" + "/".join(key), spec.duration)
            w = self._work[key] = Work(smp, spec.failure_probability)
        return w

    def _new(
        self,
        tpl: Template,
        where: str,
        comp: int,
        t: float,
        parent: str | None = None,
        deps: list[Activity] | None = None,
        pwait: str | None = None,
        thr: float | None = None,
    ) -> Activity:
        info = self._types.get(tpl.type)
        if info is None:
            at_ = activity_type(tpl.type)
            info = self._types[tpl.type] = (at_.name, at_.kind.value, at_.kind is Kind.CLIENT)
        tname, kind, client = info
        state = tpl.state
        if (deps or pwait is not None) and state in (Q, S):
            state = W  # an activity with something to wait for starts Waiting
        due = None
        if state == S:
            deliver_after = t + tpl.deliver_after  # type: ignore[operator]
            due = deliver_after
            if tpl.deliver_delay_window:
                due += tpl.deliver_delay_window * self._u_window()
        else:
            deliver_after = None
        self.c["created"] += 1
        if client:
            fleet = self.fleet
            gi = fleet.gi[comp]
            work = self._work_by_group.get((id(tpl), gi))
            if work is None:
                work = self._work_by_group[(id(tpl), gi)] = self._work_of(
                    tpl, tname, True, comp, where
                )
            cname: str | None = fleet.name(comp)
            group: str | None = fleet.gcfg[gi].name
        else:
            work = self._work_of(tpl, tname, False, comp, where)
            cname = group = None
        # One call with every argument named, the unset ones at the store's defaults: as
        # fast as leaving them out (a dict of the set ones passed as ``**`` costs three times
        # the call; this runs once per activity).
        a = self.store.create(
            t,
            f"a{next(self._ids)}",
            kind,
            tname,
            state,
            computer=comp if client else None,
            cname=cname,
            group=group,
            deliver_after=deliver_after,
            due=due,
            depends_on=[d.id for d in deps] if deps else (),
            progress_of=pwait,
            threshold=thr,
            parent=parent,
            extra=work,
        )
        if state == B and self._approve_delay is not None:
            ap = self.sc.approvals
            if ap.probability >= 1.0 or self._u_approve() < ap.probability:
                at(self.env, t + self._approve_delay(), partial(self._on_approve, a))
        p = tpl.cancel_probability
        if p is None:
            p = self._cancel_p
        if p > 0 and self._u_cancel() < p:
            at(self.env, t + self._cancel_delay(), partial(self._on_cancel, a))
        return a

    def _on_approve(self, a: Activity, ev: Any) -> None:
        if a.state == B:
            self.c["approvals"] += 1
            self.store.approve(self.env.now, a)

    def _on_cancel(self, a: Activity, ev: Any) -> None:
        if self.store.may_cancel(a):
            self.c["cancels"] += 1
            self.store.cancel(self.env.now, a)

    # -- walking the plan ----------------------------------------------------------------------
    def _on_create(self, ev: Any) -> None:
        plan = self.plan
        i = self._ci
        t = self.env.now
        ts = plan.t
        n = len(ts)
        while i < n and ts[i] <= t:
            self._create_item(plan.src[i], plan.computer[i], t)
            i += 1
        self._ci = i
        if i < n:
            at(self.env, ts[i], self._on_create)

    def _create_item(self, si: int, comp: int, t: float) -> None:
        src = self.plan.sources[si]
        spec: Any = src.spec
        if src.form in ("arrival", "batch"):
            self._new(spec, src.where, comp, t)
        elif src.form == "bulk":
            self._create_bulk(spec, src.where, t)
        else:
            self._create_chain(spec, src.where, comp, t)

    def _create_bulk(self, k: Bulk, where: str, t: float) -> None:
        lo, hi = self.layout.span(k.group)
        if k.count is not None and k.count < hi - lo:
            rng = self.streams.rng(f"bulk/{k.name}")
            targets = sorted((rng.choice(hi - lo, k.count, replace=False) + lo).tolist())
        else:
            targets = list(range(lo, hi))
        gid = f"a{next(self._ids)}"
        self.c["groups"] += 1
        self.store.create_group(t, gid, k.type, len(targets))
        self.bulk_groups[k.name] = gid
        per_comp: dict[int, Activity] = {}
        self.bulk_children[k.name] = per_comp
        pw = self.bulk_groups[k.progress_of] if k.progress_of else None
        for comp in targets:
            deps = [
                self.bulk_children[d][comp] for d in k.depends_on if comp in self.bulk_children[d]
            ]
            per_comp[comp] = self._new(
                k, where, comp, t, parent=gid, deps=deps or None, pwait=pw, thr=k.threshold
            )

    def _create_chain(self, ch: Chain, where: str, comp: int, t: float) -> None:
        made: dict[str, Activity] = {}
        for j, s in enumerate(ch.steps):
            deps = [made[d] for d in s.depends_on]
            pw = made[s.progress_of].id if s.progress_of else None
            made[s.name] = self._new(
                s, f"{where}.steps[{j}]", comp, t, deps=deps or None, pwait=pw, thr=s.threshold
            )
