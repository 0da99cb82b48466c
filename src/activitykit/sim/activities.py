"""The activity store: creation, scheduling, approvals, cancellations, dependencies, bulks."""

from __future__ import annotations

from ..errors import InputError
from ..model import Kind, activity_type
from ..scenario.schema import Arrival, Batch, Bulk, Chain, ChainStep, HandlerSpec
from .base import IP, OK, OPEN, Act, B, Ev, Group, Kernel, Q, Record, S, W, X, neg_thr

__all__ = ["ActivitiesMixin", "Template"]

#: Every workload entry that describes one activity (what ``_new`` instantiates).
Template = Arrival | Batch | Bulk | ChainStep


class ActivitiesMixin(Kernel):
    """What happens to activities on the server side, from creation to their final state."""

    # ------------------------------------------------------------------ activities
    def _handler(self, tpl: Template, a: Act, where: str) -> None:
        """Resolve duration sampler and failure probability: template, then group/server."""
        tname = a.atype.name
        spec: HandlerSpec
        if tpl.handler is not None:
            key: tuple[str, ...] = ("tpl", where)
            spec = tpl.handler
        elif a.client:
            g = self.gcfg[self.gi[a.comp]]
            spec = g.handlers.get(tname) or g.default
            key = ("client", g.name, tname)
        else:
            srv = self.sc.server
            spec = srv.handlers.get(tname) or srv.default_handler
            key = ("server", tname)
        smp = self._samplers.get(key)
        if smp is None:
            smp = self._samplers[key] = self.streams.sampler(
                "duration/" + "/".join(key), spec.duration
            )
        a.dur = smp
        a.failp = spec.failure_probability

    def _new(
        self,
        tpl: Template,
        where: str,
        comp: int,
        t: float,
        parent: Group | None = None,
        deps: list[Act] | None = None,
        pwait: Act | Group | None = None,
        thr: float | None = None,
    ) -> Act:
        at = activity_type(tpl.type)
        client = at.kind is Kind.CLIENT
        state = tpl.state
        if (deps or pwait is not None) and state in (Q, S):
            state = W  # an activity with something to wait for starts Waiting
        if state == S and tpl.deliver_after is None:
            raise InputError(
                f"{where}: state Scheduled needs deliver_after (seconds after creation); "
                "set deliver_after or use another start state"
            )
        a = Act(f"a{next(self._ids)}", at, client, comp, state)
        self.acts.append(a)
        self.open += 1
        self.c["created"] += 1
        self._handler(tpl, a, where)
        rec: Record = {"t": t, "event": "created", "activity": a.id}
        if comp >= 0:
            rec["computer"] = f"c{comp + 1}"
            rec["group"] = self.sc.fleet.groups[self.gi[comp]].name
        rec["kind"] = "client" if client else "server"
        rec["type"] = at.name
        rec["state"] = state
        due = 0.0
        if state == S:
            rec["deliver_after"] = t + tpl.deliver_after
            due = t + tpl.deliver_after
            if tpl.deliver_delay_window:
                due += tpl.deliver_delay_window * self._u_window()
        failed = False
        if deps:
            rec["depends_on"] = [d.id for d in deps]
            for d in deps:
                if d.state == OK:
                    continue
                if d.done:  # Failed or Canceled
                    failed = True
                    continue
                a.unmet += 1
                if d.dependents is None:
                    d.dependents = []
                d.dependents.append(a)
        if pwait is not None:
            rec["progress_of"] = pwait.id
            rec["threshold"] = thr
            a.pwait = pwait
            a.thr = thr
            if pwait.last_progress >= thr:
                a.psat = True
            elif isinstance(pwait, Act) and pwait.done:
                a.psat = False
                failed = True
            else:
                a.psat = False
                if pwait.watchers is None:
                    pwait.watchers = []
                pwait.watchers.append(a)
                pwait.wsorted = False
        if parent is not None:
            rec["parent"] = parent.id
            a.parent = parent
        self.emit(rec)
        # What happens next, by start state.
        if failed and self.cancel_on_dep_failure and state in (W, B):
            self._cancel(a, t, "dependency failed")
        elif state == Q:
            self._queued(a, t)
        elif state == S:
            self._at(due, self._on_due, a)
        elif state == W:
            self._try_release(a, t)
        elif state == B:
            ap = self.sc.approvals
            if self._approve_delay is not None and (
                ap.probability >= 1.0 or self._u_approve() < ap.probability
            ):
                self._at(t + self._approve_delay(), self._on_approve, a)
        p = tpl.cancel_probability
        if p is None:
            p = self.sc.cancellations.probability
        if p > 0 and self._u_cancel() < p:
            self._at(t + self._cancel_delay(), self._on_cancel, a)
        return a

    def _queued(self, a: Act, t: float) -> None:
        if a.client:
            self._offer(a, t)
        else:
            self.emit({"t": t, "event": "enqueue", "activity": a.id})
            self.queue.append(a)
            self._dispatch(t)

    def _offer(self, a: Act, t: float) -> None:
        c = a.comp
        a.vis = t
        lst = self.pend.get(c)
        if lst is None:
            self.pend[c] = [a]
        else:
            lst.append(a)
        self._visible(c, t)

    def _on_due(self, ev: Ev) -> None:
        a = ev._value
        if a.state != S:
            return
        t = self.env._now
        if a.client:
            self._offer(a, t)  # delivered (Scheduled -> In Progress) at the next exchange
        else:
            self._move(a, Q, t, "schedule due")
            self._queued(a, t)

    def _on_approve(self, ev: Ev) -> None:
        a = ev._value
        if a.state != B:
            return
        t = self.env._now
        self.c["approvals"] += 1
        self.emit({"t": t, "event": "approve", "activity": a.id})
        if a.unmet == 0 and a.psat:
            self._move(a, Q, t, "approved")
            self._queued(a, t)
        else:
            self._move(a, W, t, "approved; dependencies not met")

    def _on_cancel(self, ev: Ev) -> None:
        self._cancel(ev._value, self.env._now, "cancel request")

    def _cancel(self, a: Act, t: float, cause: str) -> None:
        if a.state not in OPEN:
            return
        self.c["cancels"] += 1
        self.emit({"t": t, "event": "cancel", "activity": a.id})
        was = a.state
        self._move(a, X, t, cause)
        if was == IP and a.client:
            a.cancel_ip = True  # the client keeps running; its late result follows the profile
        self._final(a, t, False)

    def _try_release(self, a: Act, t: float) -> None:
        if a.state == W and a.unmet == 0 and a.psat:
            self._move(a, Q, t, "dependencies met")
            self._queued(a, t)

    def _progress(self, obj: Act | Group, v: float, t: float) -> None:
        obj.last_progress = v
        self.emit({"t": t, "event": "progress", "activity": obj.id, "value": v})
        ws = obj.watchers
        if not ws:
            return
        if not obj.wsorted:
            ws.sort(key=neg_thr)
            obj.wsorted = True
        while ws and ws[-1].thr <= v:
            w = ws.pop()
            w.psat = True
            self._try_release(w, t)

    def _final(self, a: Act, t: float, ok: bool) -> None:
        """First arrival in Succeeded, Failed or Canceled: progress, dependents, watchers."""
        if a.done:
            return
        a.done = True
        self.open -= 1
        g = a.parent
        if g is not None:
            g.done += 1
            self._progress(g, g.done / g.n, t)
        if ok and a.watchers and not a.atype.reports_progress:
            self._progress(a, 1.0, t)
        deps = a.dependents
        if deps:
            a.dependents = None
            if ok:
                for d in deps:
                    d.unmet -= 1
                    self._try_release(d, t)
            elif self.cancel_on_dep_failure:
                for d in deps:
                    self._cancel(d, t, "dependency failed")
        ws = a.watchers
        if ws and not ok:
            a.watchers = None
            if self.cancel_on_dep_failure:
                for w in ws:
                    self._cancel(w, t, "dependency failed")

    # ------------------------------------------------------------------ workload walking
    def _on_create(self, ev: Ev) -> None:
        plan = self.plan
        i = self._ci
        t = self.env._now
        ts = plan.t
        n = len(ts)
        while i < n and ts[i] <= t:
            self._create_item(plan.src[i], plan.computer[i], t)
            i += 1
        self._ci = i
        if i < n:
            self._at(ts[i], self._on_create)

    def _create_item(self, si: int, comp: int, t: float) -> None:
        src = self.plan.sources[si]
        spec = src.spec
        if src.form in ("arrival", "batch"):
            self._new(spec, src.where, comp, t)
        elif src.form == "bulk":
            self._create_bulk(si, spec, src.where, t)
        else:
            self._create_chain(spec, src.where, comp, t)

    def _create_bulk(self, si: int, k: Bulk, where: str, t: float) -> None:
        lo, hi = self.layout.span(k.group, where)
        if k.count is not None and k.count < hi - lo:
            rng = self.streams.rng(f"bulk/{k.name}")
            targets = sorted((rng.choice(hi - lo, k.count, replace=False) + lo).tolist())
        else:
            targets = list(range(lo, hi))
        gid = f"a{next(self._ids)}"
        grp = Group(gid, len(targets))
        self.bulk_groups[k.name] = grp
        self.c["groups"] += 1
        self.emit({"t": t, "event": "group", "activity": gid, "type": k.type, "children": grp.n})
        self._progress(grp, 0.0, t)
        per_comp: dict[int, Act] = {}
        self.bulk_children[k.name] = per_comp
        for comp in targets:
            deps = [
                self.bulk_children[d][comp] for d in k.depends_on if comp in self.bulk_children[d]
            ]
            pw = self.bulk_groups[k.progress_of] if k.progress_of else None
            a = self._new(
                k, where, comp, t, parent=grp, deps=deps or None, pwait=pw, thr=k.threshold
            )
            per_comp[comp] = a
        if grp.n == 0:
            self._progress(grp, 1.0, t)

    def _create_chain(self, ch: Chain, where: str, comp: int, t: float) -> None:
        made: dict[str, Act] = {}
        for j, s in enumerate(ch.steps):
            deps = [made[d] for d in s.depends_on]
            pw = made[s.progress_of] if s.progress_of else None
            made[s.name] = self._new(
                s, f"{where}.steps[{j}]", comp, t, deps=deps or None, pwait=pw, thr=s.threshold
            )
