"""The direct SimPy model of the benchmark fleet: the yardstick the optimised simulator must beat.

This is how one would first write the model: one SimPy process per computer that wakes at
every ping, Landscape Client's exchange timers as cancellable reactor-style calls, a server
store that the ping service and the message system read, a ``simpy.Store`` as the RabbitMQ
queue with one process per job-handler, and a Poisson process per workload stream. It does
the same work as ``activitykit.sim`` (issue 4, item 5): every state change is judged by the
reference machine (``activitykit.model.machine(kind).check``) and a refused move raises; every
fact is written as a trace record through ``JsonlTraceWriter``; and, like the simulator
with ``check=True``, every record also goes through the kit's online checker (rules T1-T3 and
C1-C8) when it is installed, a violation raises, and the checker's final verdict is asked for
at the end. The checker runs where the caller says (``online_checker``): in this process
(``activitykit.check.Checker``) or in a checker process (``activitykit.check.CheckerProcess``);
``bench_fleet.py`` gives it the placement the simulator's own run chose, so that the ratio
compares the two models and not two ways of checking. Nothing is skipped to make
it slow and nothing clever is done to make it fast: its cost is computers x pings plus the
work of the activities, which is exactly what the optimised simulator avoids.

Client rules (docs/spec.md section 4), as the real client's ``schedule_exchange`` applies them:
a ping that finds a message schedules an urgent exchange (cancelling the pending regular one)
unless one is already urgent; an exchange lasts while its server messages are handled (17 ms
each), every handled message restarts the ping timer, and a handler starts when its message
is handled; what the client learns meanwhile (a result, a ping's answer) it sees after the
loop; the exchange then ends urgent mode and schedules the next one from its completion
(urgent when messages are left and some were sent); an operation-result schedules an urgent
exchange; at most 100 client->server messages go per exchange.
Clients have been running since before t=0, so each computer's first exchange falls
uniformly in one exchange interval and its pings have a uniform phase (the scenario schema's
default ``start_phase_spread``); ``fresh_start=True`` starts every client at t=0 instead,
with its first exchange urgent.

An ``exchange`` record is written for every exchange that carries a message (a delivery or a
result); an idle exchange is counted but not traced unless ``trace_idle_exchanges``.

Run: ``python benchmarks/baseline_direct_simpy.py [--computers N] [--hours H] [--seed S]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import simpy

from activitykit.model import Kind, State, machine
from activitykit.trace import JsonlTraceWriter

__all__ = ["BENCHMARK_FLEET", "RefusedMoveError", "run_baseline"]

#: The benchmark fleet of issue 4 item 5 (rates per s, times in s).
BENCHMARK_FLEET: dict[str, Any] = {
    "computers": 20_000,
    "hours": 6.0,
    "exchange_interval": 900.0,
    "urgent_exchange_interval": 60.0,
    "ping_interval": 30.0,
    "max_messages_per_exchange": 100,
    "message_handling": 0.017,
    "client_type": "ExecuteScriptRequest",
    "client_rate": 2.0,
    "client_duration_mean": 20.0,
    "client_failure_probability": 0.05,
    "server_type": "GenerateUsgReportActivity",
    "server_rate": 0.5,
    "server_duration_mean": 5.0,
    "job_handlers": 4,
}

Q, IP, OK, KO = State.QUEUED, State.IN_PROGRESS, State.SUCCEEDED, State.FAILED


class RefusedMoveError(RuntimeError):
    """The model tried a move the reference machine refuses: a bug in the model."""


class _Activity:
    __slots__ = ("computer", "id", "kind", "op_id", "state")

    def __init__(self, aid: str, kind: Kind, computer: _Computer | None) -> None:
        self.id = aid
        self.kind = kind
        self.computer = computer
        self.state = Q
        self.op_id = -1


class _Server:
    """Activity store, message system, ping service, job-handler queue and the trace."""

    def __init__(self, env: simpy.Environment, write: Callable[[dict], None]) -> None:
        self.env = env
        self.write = write
        self.store: dict[str, _Activity] = {}
        self.next_op = 1
        self.in_flight: dict[int, _Activity] = {}  # operation-id -> activity
        self.queue = simpy.Store(env)
        self.machines = {k: machine(k) for k in Kind}
        self.transitions = 0
        self.exchanges = 0
        self.idle_exchanges = 0
        self.trace_idle = False

    def move(self, act: _Activity, dst: State, cause: str) -> None:
        verdict = self.machines[act.kind].check(act.state, dst)
        if not verdict.allowed:
            raise RefusedMoveError(f"activity {act.id} at t={self.env.now}: {verdict.reason}")
        self.write(
            {
                "t": self.env.now,
                "event": "transition",
                "activity": act.id,
                "from": act.state.value,
                "to": dst.value,
                "cause": cause,
            }
        )
        act.state = dst
        self.transitions += 1

    # -- the ping service and the message system ----------------------------------------------
    def has_messages(self, computer: _Computer) -> bool:
        return bool(computer.waiting)

    def exchange(
        self, computer: _Computer, results: list[tuple[_Activity, int, bool]], urgent: bool
    ) -> list[_Activity]:
        """Take the client's operation-results, hand over its deliverable activities."""
        self.exchanges += 1
        now = self.env.now
        if not results and not computer.waiting:
            self.idle_exchanges += 1
            if self.trace_idle:
                self.write(
                    {"t": now, "event": "exchange", "computer": computer.id, "urgent": urgent}
                )
            return []
        self.write({"t": now, "event": "exchange", "computer": computer.id, "urgent": urgent})
        for act, op_id, ok in results:
            if self.in_flight.pop(op_id, None) is not act or act.computer is not computer:
                raise RefusedMoveError(
                    f"result for operation-id {op_id} from {computer.id} at t={now} does not "
                    "match a delivered operation of that computer (trace rules C2/C8)"
                )
            self.write(
                {
                    "t": now,
                    "event": "result",
                    "activity": act.id,
                    "computer": computer.id,
                    "operation_id": op_id,
                    "status": "succeeded" if ok else "failed",
                }
            )
            self.move(act, OK if ok else KO, "operation-result received")
        delivered = list(computer.waiting)
        computer.waiting.clear()
        for act in delivered:
            act.op_id = op_id = self.next_op
            self.next_op += 1
            self.in_flight[op_id] = act
            self.write(
                {
                    "t": now,
                    "event": "deliver",
                    "activity": act.id,
                    "computer": computer.id,
                    "operation_id": op_id,
                }
            )
            self.move(act, IP, "delivered in exchange")
        return delivered


class _Computer:
    """One Landscape Client: a pinger process plus reactor-style exchange timers."""

    __slots__ = (
        "deferred",
        "env",
        "exchange_gen",
        "exchanging",
        "fleet",
        "id",
        "outbox",
        "pinging",
        "rng",
        "server",
        "urgent",
        "waiting",
    )

    def __init__(self, cid: str, env: simpy.Environment, server: _Server, fleet: dict, rng):
        self.id = cid
        self.env = env
        self.server = server
        self.fleet = fleet
        self.rng = rng
        self.waiting: deque[_Activity] = deque()  # server side: Queued for this computer
        self.outbox: list[tuple[_Activity, int, bool]] = []  # client side: results to send
        self.urgent = False
        self.exchange_gen = 0
        self.exchanging = False  # handling the messages of an exchange
        self.deferred = False  # an urgent request seen during that loop
        self.pinging: simpy.Process | None = None

    # -- timers ---------------------------------------------------------------------------------
    def _call_later(self, delay: float) -> None:
        self.exchange_gen += 1
        gen = self.exchange_gen
        self.env.timeout(delay).callbacks.append(lambda _ev: self._exchange(gen))

    def schedule_exchange(self, urgent: bool = False, force: bool = False) -> None:
        """Landscape Client's rule: an urgent request replaces a pending regular exchange."""
        if self.exchanging:
            self.deferred = self.deferred or urgent  # the client sees it after the loop
            return
        if (urgent and not self.urgent) or force:
            if urgent:
                self.urgent = True
            f = self.fleet
            self._call_later(
                f["urgent_exchange_interval"] if self.urgent else f["exchange_interval"]
            )

    def _exchange(self, gen: int) -> None:
        if gen != self.exchange_gen:
            return  # cancelled
        cap = self.fleet["max_messages_per_exchange"]
        send, self.outbox = self.outbox[:cap], self.outbox[cap:]
        delivered = self.server.exchange(self, send, self.urgent)
        self.urgent = False  # a successful exchange ends urgent mode
        if not delivered:
            self._completed(bool(send))
            return
        self.exchanging = True
        self.env.process(self._handle_messages(delivered, bool(send)))

    def _handle_messages(self, delivered: list[_Activity], sent: bool):
        h = self.fleet["message_handling"]
        for act in delivered:
            yield self.env.timeout(h)
            self.env.process(self.handle(act))
        if self.pinging is not None and self.pinging.is_alive:
            self.pinging.interrupt()  # every server message restarts the ping timer
        self.exchanging = False
        self._completed(sent)

    def _completed(self, sent: bool) -> None:
        deferred, self.deferred = self.deferred, False
        self.schedule_exchange(urgent=bool(self.outbox) and sent, force=True)
        if deferred:
            self.schedule_exchange(urgent=True)

    # -- processes ------------------------------------------------------------------------------
    def pinger(self, phase: float):
        env, ping = self.env, self.fleet["ping_interval"]
        wait = phase
        while True:
            try:
                yield env.timeout(wait)
            except simpy.Interrupt:
                wait = ping  # restarted by a server message
                continue
            if self.server.has_messages(self):
                self.schedule_exchange(urgent=True)
            wait = ping

    def handle(self, act: _Activity):
        f = self.fleet
        yield self.env.timeout(self.rng.expovariate(1.0 / f["client_duration_mean"]))
        ok = self.rng.random() >= f["client_failure_probability"]
        self.outbox.append((act, act.op_id, ok))
        self.schedule_exchange(urgent=True)  # an operation-result is sent urgently


def _created(t: float, act: _Activity, type_name: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"t": t, "event": "created", "activity": act.id}
    if act.computer is not None:
        rec["computer"] = act.computer.id
    rec |= {"kind": act.kind.value, "type": type_name, "state": act.state.value}
    return rec


def _client_arrivals(env, server: _Server, computers: list[_Computer], fleet: dict, rng):
    rate, type_name, n = fleet["client_rate"], fleet["client_type"], len(computers)
    while True:
        yield env.timeout(rng.expovariate(rate))
        comp = computers[rng.randrange(n)]
        act = _Activity(f"a{len(server.store) + 1}", Kind.CLIENT, comp)
        server.store[act.id] = act
        server.write(_created(env.now, act, type_name))
        comp.waiting.append(act)


def _server_arrivals(env, server: _Server, fleet: dict, rng):
    rate, type_name = fleet["server_rate"], fleet["server_type"]
    while True:
        yield env.timeout(rng.expovariate(rate))
        act = _Activity(f"a{len(server.store) + 1}", Kind.SERVER, None)
        server.store[act.id] = act
        server.write(_created(env.now, act, type_name))
        server.write({"t": env.now, "event": "enqueue", "activity": act.id})
        yield server.queue.put(act)


def _job_handler(env, server: _Server, name: str, fleet: dict, rng):
    mean = fleet["server_duration_mean"]
    while True:
        act = yield server.queue.get()
        server.write(
            {"t": env.now, "event": "consume", "activity": act.id, "handler": name, "attempt": 1}
        )
        server.move(act, IP, "consumed by a job-handler")
        yield env.timeout(rng.expovariate(1.0 / mean))
        server.move(act, OK, "job-handler finished")
        server.write({"t": env.now, "event": "ack", "activity": act.id, "handler": name})


def _online_checker(wanted: bool | str | None):
    """``wanted``: None (a checker in this process when the kit has one), False (none),
    True or "inline" (in this process), "parallel" (a checker process)."""
    if wanted is False:
        return None
    try:
        from activitykit.check import Checker
        from activitykit.check.process import CheckerProcess
    except ImportError:
        if wanted is not None:
            raise
        return None
    if wanted == "parallel":
        return CheckerProcess()
    if wanted in (None, True, "inline"):
        return Checker()
    raise ValueError(
        f"online_checker={wanted!r}; accepted: None, False, True, 'inline', 'parallel'"
    )


def run_baseline(
    computers: int = 20000,
    hours: float = 6.0,
    seed: int = 0,
    trace_path: str | None = None,
    *,
    fresh_start: bool = False,
    trace_idle_exchanges: bool = False,
    online_checker: bool | str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Simulate the benchmark fleet directly; return wall time and work counts.

    ``overrides`` replace entries of ``BENCHMARK_FLEET`` (e.g. ``client_rate=0.1``). The
    trace goes to ``trace_path`` (JSON Lines), or to a temporary file deleted afterwards.
    ``online_checker``: where every record is also judged by the kit's online checker
    (``_online_checker``; default: in this process, when the kit can be imported);
    transitions are always judged by the reference machine.
    """
    unknown = set(overrides) - set(BENCHMARK_FLEET)
    if unknown:
        raise TypeError(
            f"unknown benchmark setting(s) {sorted(unknown)}; known: {', '.join(BENCHMARK_FLEET)}"
        )
    if computers < 1 or hours <= 0:
        raise ValueError(f"need computers >= 1 and hours > 0, got {computers} and {hours}")
    fleet = {**BENCHMARK_FLEET, **overrides, "computers": computers, "hours": hours}
    tmp = None
    if trace_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="ak-baseline-")
        trace_path = str(Path(tmp.name) / "trace.jsonl")
    rng = random.Random(seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    writer = JsonlTraceWriter(trace_path)
    records = 0
    checker = _online_checker(online_checker)
    feed = checker.feed if checker is not None else None

    def write(rec: dict) -> None:
        nonlocal records
        records += 1
        writer.write(rec)
        if feed is not None and (bad := feed(rec)):
            raise RefusedMoveError(f"online checker: {bad[0]}")

    # Like activitykit.sim.simulate, run with the cyclic garbage collector off (reference
    # counting still frees everything): the ratio then compares the models, not a GC setting.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        env = simpy.Environment()
        server = _Server(env, write)
        server.trace_idle = trace_idle_exchanges
        fleet_list = [_Computer(f"c{i + 1}", env, server, fleet, rng) for i in range(computers)]
        for comp in fleet_list:
            if fresh_start:
                comp.pinging = env.process(comp.pinger(0.0))
                comp.schedule_exchange(urgent=True)  # the first exchange is urgent
            else:
                comp.pinging = env.process(comp.pinger(rng.uniform(0.0, fleet["ping_interval"])))
                comp._call_later(rng.uniform(0.0, fleet["exchange_interval"]))
        env.process(_client_arrivals(env, server, fleet_list, fleet, rng))
        env.process(_server_arrivals(env, server, fleet, rng))
        for h in range(fleet["job_handlers"]):
            env.process(_job_handler(env, server, f"jh-{h}", fleet, rng))
        env.run(until=hours * 3600.0)
        if checker is not None:  # the verdict on every record, as the simulator asks for it
            verdict = checker.finish(hours * 3600.0).violation_list
            if verdict:
                raise RefusedMoveError(f"online checker: {verdict[0]}")
    finally:
        writer.close()
        if checker is not None:
            checker.clear()
        if gc_was_on:
            gc.enable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    trace_bytes = Path(trace_path).stat().st_size
    if tmp is not None:
        tmp.cleanup()
    acts = server.store.values()
    eid = getattr(env, "_eid", None)  # SimPy's event counter: every event ever scheduled
    return {
        "computers": computers,
        "hours": hours,
        "seed": seed,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "events": next(eid) if eid is not None else None,
        "activities_created": len(server.store),
        "activities_finished": sum(a.state in (OK, KO) for a in acts),
        "client_created": sum(a.kind is Kind.CLIENT for a in acts),
        "server_created": sum(a.kind is Kind.SERVER for a in acts),
        "transitions": server.transitions,
        "exchanges": server.exchanges,
        "idle_exchanges": server.idle_exchanges,
        "records": records,
        "trace_bytes": trace_bytes,
        "trace_path": None if tmp is not None else trace_path,
        "checked_with": (
            "state-machine"
            if checker is None
            else getattr(checker, "checked_with", "activitykit.check.Checker")
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--computers", type=int, default=BENCHMARK_FLEET["computers"])
    ap.add_argument("--hours", type=float, default=BENCHMARK_FLEET["hours"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trace", default=None, help="keep the JSONL trace at this path")
    args = ap.parse_args(argv)
    res = run_baseline(args.computers, args.hours, args.seed, args.trace)
    for k, v in res.items():
        print(f"{k:>22}: {v:.3f}" if isinstance(v, float) else f"{k:>22}: {v}")
    print(json.dumps(res), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
