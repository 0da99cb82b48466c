"""The fault timeline: client restarts and offline periods (drawn up front, walked by one
chained event) and job-handler crashes (one SimPy process per handler)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from ..scenario.schema import Scenario
from .broker import JobHandler
from .fleet import INF, Fleet
from .kernel import at
from .rand import Streams

__all__ = ["ClientFaults", "handler_crashes"]


class ClientFaults:
    """Restarts and offline periods of every computer, in time order."""

    def __init__(self, scenario: Scenario, streams: Streams, fleet: Fleet, t_stop: float) -> None:
        self.fleet = fleet
        self.t_stop = t_stop
        st = streams
        end = scenario.duration
        times: list[np.ndarray] = []
        kinds: list[np.ndarray] = []
        comps: list[np.ndarray] = []
        ends: list[np.ndarray] = []
        base = 0
        for g in scenario.fleet.groups:
            n = g.computers
            if n and g.restarts.rate_per_day > 0:
                rng = st.rng(f"fleet/{g.name}/restarts")
                k = rng.poisson(g.restarts.rate_per_day * end / 86400.0, n)
                cs = np.repeat(np.arange(base, base + n), k)
                times.append(rng.uniform(0.0, end, len(cs)))
                kinds.append(np.zeros(len(cs), dtype=np.int64))
                comps.append(cs)
                ends.append(np.zeros(len(cs)))
            if n and g.offline.rate_per_day > 0:
                rng = st.rng(f"fleet/{g.name}/offline")
                k = rng.poisson(g.offline.rate_per_day * end / 86400.0, n)
                cs = np.repeat(np.arange(base, base + n), k)
                s0 = rng.uniform(0.0, end, len(cs))
                dur = st.sampler(f"fleet/{g.name}/offline-duration", g.offline.duration)
                e0 = s0 + np.array([dur() for _ in range(len(cs))])
                order = np.lexsort((s0, cs))
                ms, me, mc = [], [], []
                for i in order.tolist():  # overlapping periods of one computer merge
                    c, a, b = int(cs[i]), float(s0[i]), float(e0[i])
                    if mc and mc[-1] == c and a <= me[-1]:
                        me[-1] = max(me[-1], b)
                    else:
                        ms.append(a)
                        me.append(b)
                        mc.append(c)
                times.append(np.array(ms))
                kinds.append(np.ones(len(ms), dtype=np.int64))
                comps.append(np.array(mc, dtype=np.int64))
                ends.append(np.array(me))
            base += n
        self.ft: list[tuple[float, int, int, float]] = []
        if times:
            t = np.concatenate(times)
            k = np.concatenate(kinds)
            c = np.concatenate(comps)
            e = np.concatenate(ends)
            order = np.lexsort((c, k, t))
            self.ft = list(
                zip(
                    t[order].tolist(),
                    k[order].tolist(),
                    c[order].tolist(),
                    e[order].tolist(),
                    strict=True,
                )
            )
        self._i = 0

    def start(self, env: simpy.Environment) -> None:
        self.env = env
        if self.ft:
            at(env, self.ft[0][0], self._on_fault)

    def _on_fault(self, ev: simpy.Event) -> None:
        i, ft, fleet = self._i, self.ft, self.fleet
        t = self.env.now
        while i < len(ft) and ft[i][0] <= t:
            _, kind, c, e = ft[i]
            i += 1
            if not fleet.registered(c, t):
                continue  # not registered yet: nothing to restart, nothing to cut off
            if kind == 0:
                if fleet.down[c] != INF:
                    fleet.restart(c, t, fleet.group(c).restart_down())
            else:
                fleet.offline(c, t, e, self.t_stop)
        self._i = i
        if i < len(ft):
            at(self.env, ft[i][0], self._on_fault)


def handler_crashes(
    env: simpy.Environment,
    handler: JobHandler,
    gap: Callable[[], float],
    first_before: float,
    t_stop: float,
):
    """A SimPy process: crash ``handler`` every ``gap()`` seconds of its uptime."""
    first = gap()
    if first >= first_before:
        return
    yield env.timeout(first)
    while True:
        handler.crash()
        yield handler.restarted
        nxt = gap()
        if env.now + nxt >= t_stop:
            return
        yield env.timeout(nxt)
