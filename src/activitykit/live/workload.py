"""A scenario's workload as creation calls on the server core, in real seconds.

The creation plan (when each arrival, batch, bulk and chain instance is created, and on
which computer) is drawn by the simulator's own ``build_plan`` from the same seeded streams;
this module turns each planned item into ``ActivityStore.create`` calls, draws the work the
real client will do (a script that sleeps for the handler's drawn duration and fails with
its failure probability) and schedules the administrators' approvals and cancel requests.
The store decides everything that follows.

The simulator expands plan items in its own SimPy-bound code (``sim/activities.py``); this is
the second expansion, kept to the creation requests only, until the simulator runs on the
store too and both can share one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

from ..errors import InputError
from ..model import Kind, activity_type
from ..scenario.schema import Bulk, Chain, HandlerSpec, Scenario
from ..server import Activity, ActivityStore, Refused
from ..sim.rand import Streams
from ..sim.workload import FleetLayout, Plan
from .safety import check_activity_type

__all__ = ["SERVER_OPTIONS", "LiveWorkload", "check_workload"]

#: Seconds added to a script's drawn duration for its time limit.
TIME_LIMIT_MARGIN_S = 60


#: What to pass for a workload with server activities (named in the error).
SERVER_OPTIONS = "--amqp-url URL or --own-broker"


def check_workload(scenario: Scenario, *, allow_host_changes: bool, amqp: bool = False) -> None:
    """Refuse, before anything starts, a workload a live run cannot or must not carry.

    Server activities need a broker (``amqp``)."""
    wl = scenario.workload
    entries: list[tuple[str, str]] = [
        *((f"workload.arrivals[{i}]", a.type) for i, a in enumerate(wl.arrivals)),
        *((f"workload.batches[{i}]", b.type) for i, b in enumerate(wl.batches)),
        *((f"workload.bulks[{i}]", k.type) for i, k in enumerate(wl.bulks)),
        *(
            (f"workload.chains[{i}].steps[{j}]", s.type)
            for i, c in enumerate(wl.chains)
            for j, s in enumerate(c.steps)
        ),
    ]
    for where, type_name in entries:
        try:
            kind = activity_type(type_name).kind
            check_activity_type(type_name, allow_host_changes=allow_host_changes)
        except ValueError as exc:
            raise InputError(f"{where}.type: {exc}") from None
        if kind is Kind.SERVER and not amqp:
            raise InputError(
                f"{where}.type: {type_name} is a server activity; it runs through RabbitMQ: "
                f"pass {SERVER_OPTIONS}"
            )


class LiveWorkload:
    """Creates the planned activities in ``store`` when the run's clock reaches them."""

    def __init__(
        self,
        scenario: Scenario,
        layout: FleetLayout,
        plan: Plan,
        streams: Streams,
        store: ActivityStore,
        names: list[str],
        call_at: Callable[[float, Callable[[float], None]], None],
    ):
        self.scenario = scenario
        self.layout = layout
        self.plan = plan
        self.streams = streams
        self.store = store
        self.names = names
        self.call_at = call_at
        self._ids = itertools.count(1)
        self._next = 0
        self._samplers: dict[tuple[str, ...], Callable[[], float]] = {}
        self._u_fail = streams.uniform("live/failure")
        self._u_window = streams.uniform("schedule/window")
        self._u_approve = streams.uniform("approval/draw")
        self._u_cancel = streams.uniform("cancel/draw")
        self._cancel_delay = streams.sampler("cancel/delay", scenario.cancellations.delay)
        ad = scenario.approvals.delay
        self._approve_delay = streams.sampler("approval/delay", ad) if ad is not None else None
        self.refused: list[str] = []
        #: bulk name -> (group id, computer index -> child activity id)
        self._bulks: dict[str, tuple[str, dict[int, str]]] = {}

    # ------------------------------------------------------------------ the schedule

    def start(self) -> None:
        """Schedule the first creation; each one schedules the next."""
        if self.plan.t:
            self.call_at(self.plan.t[0], self._create_due)

    def _create_due(self, now: float) -> None:
        plan = self.plan
        while self._next < len(plan.t) and plan.t[self._next] <= now:
            i = self._next
            self._next += 1
            self._create_item(plan.src[i], plan.computer[i], now)
        if self._next < len(plan.t):
            self.call_at(plan.t[self._next], self._create_due)

    @property
    def created_all(self) -> bool:
        return self._next >= len(self.plan.t)

    # ------------------------------------------------------------------ creation

    def _create_item(self, si: int, comp: int, t: float) -> None:
        src = self.plan.sources[si]
        if src.form in ("arrival", "batch"):
            self._new(src.spec, src.where, comp, t)
        elif src.form == "bulk":
            self._create_bulk(src.spec, src.where, t)  # type: ignore[arg-type]
        else:
            self._create_chain(src.spec, src.where, comp, t)  # type: ignore[arg-type]

    def _create_bulk(self, k: Bulk, where: str, t: float) -> None:
        lo, hi = self.layout.span(k.group)
        targets = list(range(lo, hi))
        if k.count is not None and k.count < hi - lo:
            rng = self.streams.rng(f"bulk/{k.name}")
            targets = sorted((rng.choice(hi - lo, k.count, replace=False) + lo).tolist())
        gid = f"a{next(self._ids)}"
        self.store.create_group(t, gid, k.type, len(targets))
        self._bulks[k.name] = (gid, {})
        for comp in targets:
            deps = [self._bulks[d][1][comp] for d in k.depends_on if comp in self._bulks[d][1]]
            pw = self._bulks[k.progress_of][0] if k.progress_of else None
            a = self._new(k, where, comp, t, parent=gid, deps=deps, pwait=pw, thr=k.threshold)
            if a is not None:
                self._bulks[k.name][1][comp] = a.id

    def _create_chain(self, ch: Chain, where: str, comp: int, t: float) -> None:
        made: dict[str, str] = {}
        for j, s in enumerate(ch.steps):
            deps = [made[d] for d in s.depends_on if d in made]
            pw = made.get(s.progress_of) if s.progress_of else None
            a = self._new(s, f"{where}.steps[{j}]", comp, t, deps=deps, pwait=pw, thr=s.threshold)
            if a is not None:
                made[s.name] = a.id

    def _new(
        self,
        tpl: Any,
        where: str,
        comp: int,
        t: float,
        *,
        parent: str | None = None,
        deps: list[str] | None = None,
        pwait: str | None = None,
        thr: float | None = None,
    ) -> Activity | None:
        state = tpl.state
        if (deps or pwait is not None) and state in ("Queued", "Scheduled"):
            state = "Waiting"  # as in the simulator: something to wait for starts Waiting
        deliver_after = due = None
        if state == "Scheduled":
            if tpl.deliver_after is None:
                raise InputError(f"{where}: state Scheduled needs deliver_after")
            deliver_after = due = t + tpl.deliver_after
            if tpl.deliver_delay_window:
                due += tpl.deliver_delay_window * self._u_window()
        server = activity_type(tpl.type).kind is Kind.SERVER
        name = None if server else self.names[comp]
        try:
            a = self.store.create(
                t,
                f"a{next(self._ids)}",
                "server" if server else "client",
                tpl.type,
                state,
                computer=name,
                cname=name,
                deliver_after=deliver_after,
                due=due,
                depends_on=deps or (),
                progress_of=pwait,
                threshold=thr if pwait is not None else None,
                parent=parent,
                # A server activity's work is drawn when it is published (handler_model_for).
                extra=None if server else self._message(tpl, comp, where),
            )
        except Refused as exc:
            self.refused.append(f"{where}: {exc}")
            return None
        self._admin(tpl, a, t)
        return a

    def _admin(self, tpl: Any, a: Activity, t: float) -> None:
        """The approval and the cancel request this activity will get, if any."""
        ap = self.scenario.approvals
        if (
            a.state == "Blocked"
            and self._approve_delay is not None
            and (ap.probability >= 1.0 or self._u_approve() < ap.probability)
        ):
            self.call_at(t + self._approve_delay(), lambda now: self._approve(a, now))
        p = tpl.cancel_probability
        if p is None:
            p = self.scenario.cancellations.probability
        if p > 0 and self._u_cancel() < p:
            self.call_at(t + self._cancel_delay(), lambda now: self._cancel(a, now))

    def _approve(self, a: Activity, now: float) -> None:
        if a.state == "Blocked":  # canceled meanwhile: nothing to approve
            self.store.approve(now, a)

    def _cancel(self, a: Activity, now: float) -> None:
        if self.store.may_cancel(a):
            self.store.cancel(now, a)

    # ------------------------------------------------------------------ the work

    def _handler(self, tpl: Any, comp: int, where: str) -> tuple[HandlerSpec, tuple[str, ...]]:
        if tpl.handler is not None:
            return tpl.handler, ("tpl", where)
        group = self.scenario.fleet.groups[self._group_of(comp)]
        return group.handlers.get(tpl.type) or group.default_handler, (
            "client",
            group.name,
            tpl.type,
        )

    def _group_of(self, comp: int) -> int:
        return next(i for i, stop in enumerate(self.layout.stops) if comp < stop)

    def _message(self, tpl: Any, comp: int, where: str) -> dict[str, Any]:
        """The wire message of the activity, without its operation-id."""
        if tpl.type == "ResynchronizeRequest":
            return {"type": "resynchronize"}
        spec, key = self._handler(tpl, comp, where)
        sampler = self._samplers.get(key)
        if sampler is None:
            purpose = "duration/" + "/".join(key)
            sampler = self._samplers[key] = self.streams.sampler(purpose, spec.duration)
        duration = max(0.0, float(sampler()))
        fails = spec.failure_probability > 0 and self._u_fail() < spec.failure_probability
        code = f"sleep {duration:.3f}" + ("; exit 1" if fails else "")
        return {
            "type": "execute-script",
            "interpreter": "/bin/sh",
            "code": code,
            "username": "root",
            "time-limit": math.ceil(duration) + TIME_LIMIT_MARGIN_S,
            "attachments": {},
        }
