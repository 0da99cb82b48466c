"""Conformant synthetic traces for the checker's tests and benchmark (not a simulator).

``synth_trace`` writes random but valid life-cycles of client and server activities,
interleaved in time, with every record kind the rules refer to (deliver/result around
exchanges, consume/enqueue/ack, approve, cancel, progress, groups with children, waiting
chains on dependencies and progress thresholds, faults). It exists so the checker can be
tested and timed on traces of any size without the simulator: every trace it yields is
conformant under the profile it was made for, which the tests assert.

Activities are made in epochs of ``epoch`` activities whose whole lives fit in one time
window, so memory stays bounded however long the trace is. Records are ordered by time;
equal times keep causal order (a dependency before its dependents, a cause before its effect).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from ..model import CATALOG, Kind, Profile, parse_profile

__all__ = ["synth_trace"]

Record = dict[str, Any]
_CLIENT_TYPES = sorted(n for n, a in CATALOG.items() if a.kind is Kind.CLIENT)
_SERVER_TYPES = sorted(
    n for n, a in CATALOG.items() if a.kind is Kind.SERVER and n != "SyncPocketRequest"
)
_SPAN = 20_000.0  # seconds per epoch; every life in an epoch ends inside it


class _Epoch:
    def __init__(self, gen: _Gen, t0: float) -> None:
        self.g = gen
        self.t0 = t0
        self.items: list[tuple[float, int, int, Record]] = []
        self.order = 0
        # (activity id, final state, time it got there) of finished lives, for dependents
        self.finished: list[tuple[str, str, float]] = []
        # (activity id, [(t, value)]) of progress-reporting server activities
        self.progress: list[tuple[str, list[tuple[float, float]]]] = []

    def life(self) -> _Life:
        self.order += 1
        return _Life(self, self.order)


class _Life:
    """The records of one activity, in its own causal order."""

    def __init__(self, epoch: _Epoch, order: int) -> None:
        self.e = epoch
        self.order = order
        self.step = 0

    def emit(self, t: float, rec: Record) -> None:
        t = round(t, 3)
        rec = {"t": t, **rec}
        self.step += 1
        self.e.items.append((t, self.order, self.step, rec))


class _Gen:
    def __init__(self, seed: int, profile: Profile, computers: int) -> None:
        self.rng = random.Random(seed)
        self.profile = profile
        self.computers = computers
        self.op = 0
        self.n = 0

    def aid(self) -> str:
        self.n += 1
        return f"a{self.n}"

    # -- one activity ---------------------------------------------------------------------------
    def run(
        self,
        ep: _Epoch,
        t: float,
        *,
        kind: str | None = None,
        start: str | None = None,
        extra: Record | None = None,
        release: tuple[bool, float] | None = None,
        reports_progress: bool = False,
    ) -> tuple[str, str, float]:
        """Make one life; returns (id, final state, time of the last move)."""
        rng = self.rng
        kind = kind or ("client" if rng.random() < 0.7 else "server")
        aid = self.aid()
        comp = f"c{rng.randrange(self.computers)}"
        life = ep.life()
        if start is None:
            start = rng.choices(("Queued", "Scheduled", "Blocked"), (0.7, 0.15, 0.15))[0]
        if reports_progress:
            typ = "SyncPocketRequest"
        else:
            typ = rng.choice(_CLIENT_TYPES if kind == "client" else _SERVER_TYPES)
        created: Record = {"event": "created", "activity": aid, "kind": kind, "type": typ}
        if kind == "client":
            created["computer"] = comp
        created["state"] = start
        if extra:
            created.update(extra)
        deliver_after = None
        if start == "Scheduled":
            deliver_after = round(t + rng.uniform(1, 600), 3)
            created["deliver_after"] = deliver_after
        life.emit(t, created)
        state = start
        last = t

        def move(at: float, to: str) -> None:
            nonlocal state, last
            life.emit(at, {"event": "transition", "activity": aid, "from": state, "to": to})
            state, last = to, at

        def cancel(at: float) -> None:
            life.emit(at, {"event": "cancel", "activity": aid})
            move(at, "Canceled")

        def enqueue(at: float) -> None:
            life.emit(at, {"event": "enqueue", "activity": aid})

        def start_running(at: float) -> int | None:
            if kind == "client":
                self.op += 1
                life.emit(at, {"event": "exchange", "computer": comp, "urgent": rng.random() < 0.5})
                life.emit(
                    at,
                    {
                        "event": "deliver",
                        "activity": aid,
                        "computer": comp,
                        "operation_id": self.op,
                    },
                )
                move(at, "In Progress")
                return self.op
            attempt = {"attempt": 1} if rng.random() < 0.5 else {}
            life.emit(
                at,
                {"event": "consume", "activity": aid, "handler": f"h{rng.randrange(4)}", **attempt},
            )
            move(at, "In Progress")
            return None

        def dt(lo: float = 0.5, hi: float = 120.0) -> float:
            return rng.uniform(lo, hi)

        t += dt()
        if state == "Blocked":
            if rng.random() < 0.1:
                cancel(t)
                return aid, state, last
            life.emit(t, {"event": "approve", "activity": aid})
            move(t, "Waiting" if release is not None else "Queued")
            t += dt()
        if state == "Queued" and release is None and rng.random() < 0.05:
            move(t, "Blocked")
            t += dt()
            life.emit(t, {"event": "approve", "activity": aid})
            move(t, "Queued")
            t += dt()
        if state == "Waiting":
            assert release is not None
            ok, when = release
            t = max(t, when) + dt(0.01, 30)
            if not ok:
                cancel(t)
                return aid, state, last
            if rng.random() < 0.5:
                move(t, "Queued")
                if kind == "server":
                    enqueue(t)
                t += dt()
            else:
                start_running(t)
        if state == "Scheduled":
            assert deliver_after is not None
            t = max(t, deliver_after) + dt(0, 60)
            if rng.random() < 0.05:
                cancel(t)
                return aid, state, last
            if kind == "server" and rng.random() < 0.5:
                move(t, "Queued")
                enqueue(t)
                t += dt()
            else:
                start_running(t)
        if state == "Queued":
            if kind == "server" and start == "Queued":
                enqueue(last)
            if rng.random() < 0.05:
                cancel(t)
                return aid, state, last
            start_running(t)
        op = None
        if state == "In Progress" and kind == "client":
            op = self.op
        # -- In Progress
        if reports_progress:
            points: list[tuple[float, float]] = []
            v = 0.0
            for _ in range(rng.randrange(1, 6)):
                t += dt(1, 60)
                v = round(min(1.0, v + rng.uniform(0.1, 0.4)), 3)
                life.emit(t, {"event": "progress", "activity": aid, "value": v})
                points.append((round(t, 3), v))
            ep.progress.append((aid, points))
        t += dt(1, 600)
        r = rng.random()
        if r < 0.75:
            end = "Succeeded" if rng.random() < 0.85 else "Failed"
            if kind == "client":
                life.emit(t, {"event": "exchange", "computer": comp})
                life.emit(
                    t,
                    {
                        "event": "result",
                        "activity": aid,
                        "computer": comp,
                        "operation_id": op,
                        "status": end.lower(),
                    },
                )
                move(t, end)
            else:
                move(t, end)
                life.emit(t, {"event": "ack", "activity": aid})
        elif r < 0.9:
            cancel(t)
            if kind == "client" and rng.random() < 0.6:
                t += dt()
                end = "Succeeded" if rng.random() < 0.8 else "Failed"
                life.emit(
                    t,
                    {
                        "event": "result",
                        "activity": aid,
                        "computer": comp,
                        "operation_id": op,
                        "status": end.lower(),
                    },
                )
                if self.profile is Profile.RESULT_WINS:
                    move(t, end)
        elif r < 0.95 and kind == "client":
            life.emit(t, {"event": "fault", "computer": comp, "fault": "restart"})
        return aid, state, last

    # -- one epoch ----------------------------------------------------------------------------
    def epoch(self, t0: float, n: int) -> list[Record]:
        rng = self.rng
        ep = _Epoch(self, t0)
        made = 0
        window = _SPAN / 4
        while made < n:
            t = t0 + rng.uniform(0, window)
            r = rng.random()
            if r < 0.08 and ep.finished:
                dep_id, dep_state, dep_t = rng.choice(ep.finished)
                st = "Waiting" if rng.random() < 0.8 else "Blocked"
                res = self.run(
                    ep,
                    min(t, dep_t),
                    start=st,
                    extra={"depends_on": [dep_id]},
                    release=(dep_state == "Succeeded", dep_t),
                )
                ep.finished.append(res)
                made += 1
            elif r < 0.10 and ep.progress and ep.progress[-1][1]:
                of, points = rng.choice([p for p in ep.progress if p[1]])
                threshold = round(rng.uniform(0.05, 1.0), 3)
                hit = next((pt for pt, v in points if v >= threshold), None)
                first_t = points[0][0]
                res = self.run(
                    ep,
                    max(ep.t0, first_t - rng.uniform(0, 100)),
                    start="Waiting",
                    extra={"progress_of": of, "threshold": threshold},
                    release=(hit is not None, hit if hit is not None else points[-1][0]),
                )
                ep.finished.append(res)
                made += 1
            elif r < 0.12:
                res = self.run(ep, t, kind="server", start="Queued", reports_progress=True)
                ep.finished.append(res)
                made += 1
            elif r < 0.15:
                made += self._group(ep, t, rng.randrange(2, 6))
            else:
                ep.finished.append(self.run(ep, t))
                made += 1
        ep.items.sort(key=lambda x: (x[0], x[1], x[2]))
        return [rec for _t, _o, _s, rec in ep.items]

    def _group(self, ep: _Epoch, t: float, k: int) -> int:
        gid = f"g{self.n + 1}"
        self.n += 1
        head = ep.life()
        head.emit(
            t, {"event": "group", "activity": gid, "type": "ChangePackagesRequest", "children": k}
        )
        ends: list[float] = []
        for _ in range(k):
            aid, state, last = self.run(ep, t, kind="client", start="Queued", extra={"parent": gid})
            ep.finished.append((aid, state, last))
            if state in ("Succeeded", "Failed", "Canceled"):
                ends.append(last)
        tail = ep.life()
        for i, at in enumerate(sorted(ends), start=1):
            tail.emit(at, {"event": "progress", "activity": gid, "value": round(i / k, 6)})
        return k


def synth_trace(
    n_activities: int,
    *,
    seed: int = 0,
    profile: Profile | str = Profile.RESULT_WINS,
    computers: int | None = None,
    epoch: int = 2_000,
) -> Iterator[Record]:
    """Yield the records of a conformant trace with about ``n_activities`` activities."""
    gen = _Gen(seed, parse_profile(profile), computers or max(1, n_activities // 20))
    made = 0
    t0 = 0.0
    while made < n_activities:
        size = min(epoch, n_activities - made)
        records = gen.epoch(t0, size)
        yield from records
        made += size
        # the next epoch starts after this one's last record, however long its chains ran
        t0 = max(t0 + _SPAN, float(records[-1]["t"]) + 1.0) if records else t0 + _SPAN
