"""The simulator and the conformance reference share the server's semantics: every bundled
scenario's simulated trace passes the online checker, and replaying its inputs (creations,
approvals, admin cancels, exchanges with their results, consumes, finishes, crashes, progress
reports) through ``ReferenceSystem`` reaches the same states and hands out the same work.

Scenarios are shrunk to stay fast (small fleets, two hours, capped rates and counts), with
``prefetch: 1`` (the protocol's broker) and no delivery windows (the protocol's
``deliver_after`` is the due time itself).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from activitykit.conformance import ReferenceSystem
from activitykit.scenario import load_scenario
from activitykit.scenario.schema import Scenario
from activitykit.sim import simulate
from activitykit.sim.kernel import exact_delay
from activitykit.trace import MemoryTraceWriter

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))


def _shrunk(path: Path) -> Scenario:
    spec = load_scenario(path).model_dump(mode="json")
    spec["duration"] = min(spec["duration"], 7200.0)
    spec["run_until"] = "duration"
    spec["server"]["prefetch"] = 1
    for g in spec["fleet"]["groups"]:
        g["computers"] = min(g["computers"], 40)
        g["registration_spread"] = min(g["registration_spread"], 600.0)
    wl = spec["workload"]
    for a in wl["arrivals"]:
        a["rate"] = min(a["rate"], 0.1)
    for entry in [*wl["batches"], *wl["chains"]]:
        entry["count"] = min(entry["count"], 60)
        entry["spread"] = min(entry.get("spread") or 0.0, 3600.0)
    for b in wl["batches"]:
        b["at"] = min(b["at"], 3600.0)
    for k in wl["bulks"]:
        if k.get("count") is not None:
            k["count"] = min(k["count"], 40)
    templates = [*wl["arrivals"], *wl["batches"], *wl["bulks"]]
    templates += [s for ch in wl["chains"] for s in ch["steps"]]
    for tp in templates:
        tp["deliver_delay_window"] = 0.0
        if tp.get("deliver_after") is not None:
            tp["deliver_after"] = min(tp["deliver_after"], 1800.0)
    return Scenario.model_validate(spec)


class Replay:
    """Feeds a simulated trace's inputs to the reference, checking each step's outcome."""

    def __init__(self, profile: str, system: type[ReferenceSystem] = ReferenceSystem) -> None:
        self.ref = system(profile)
        self.n = 0
        self.sim_states: dict[str, str] = {}
        self.handler_of: dict[str, str] = {}  # activity -> handler holding it (consumed)
        self.pending_exchange: str | None = None
        self.results: list[dict[str, Any]] = []
        self.delivered: set[str] = set()
        self.steps = 0
        self.send({"cmd": "hello", "protocol": "activitykit-iut/1", "profile": profile})

    def send(self, req: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        reply = self.ref.handle({"id": self.n, **req})
        assert reply["status"] == "ok", (req, reply)
        self.steps += 1
        return reply

    def clock_to(self, t: float) -> None:
        if t > self.ref.clock:
            self.flush()
            self.check_states()
            self.send({"cmd": "advance", "seconds": exact_delay(self.ref.clock, t)})

    def flush(self) -> None:
        """Carry out the exchange whose records are being read (results first)."""
        c = self.pending_exchange
        if c is None:
            return
        self.pending_exchange = None
        for r in self.results:
            op = self.ref.get(r["activity"]).op
            self.send({"cmd": "result", "computer": c, "operation_id": op, "status": r["status"]})
        reply = self.send({"cmd": "exchange", "computer": c})
        assert {d["activity"] for d in reply["delivered"]} == self.delivered
        assert [r["activity"] for r in reply["results"]] == [r["activity"] for r in self.results]
        self.results, self.delivered = [], set()

    def check_states(self) -> None:
        ref = self.ref.states()
        assert {a: ref[a] for a in self.sim_states} == self.sim_states

    def record(self, r: dict[str, Any]) -> None:
        ev = r["event"]
        self.clock_to(r["t"])
        if ev == "transition":
            self.sim_states[r["activity"]] = r["to"]
            return
        if self.pending_exchange is not None:
            # The records of one exchange: its results and deliveries; the progress the
            # client reports first (inputs); cascades and publications (outputs).
            if ev in ("result", "deliver") and r["computer"] == self.pending_exchange:
                (self.results.append(r) if ev == "result" else self.delivered.add(r["activity"]))
                return
            if ev in ("cancel", "enqueue"):
                return
            if ev == "progress":
                if r["activity"] in self.sim_states:
                    self.send({"cmd": "progress", "activity": r["activity"], "value": r["value"]})
                return
            self.flush()
        if ev == "exchange":
            self.pending_exchange = r["computer"]
            return
        if ev == "enqueue" or (ev == "fault" and "computer" in r):
            return  # an output / the fleet's business
        if ev == "created":
            keys = ("activity", "kind", "type", "state", "computer", "deliver_after")
            req = {k: r[k] for k in keys if k in r}
            for k in ("depends_on", "progress_of", "threshold", "parent"):
                if k in r:
                    req[k] = r[k]
            self.send({"cmd": "create", **req})
            self.sim_states[r["activity"]] = r["state"]
        elif ev == "group":
            # A kit extension that protocol v1 has no command for: straight to the store.
            self.ref.create_group(self.ref.clock, r["activity"], r["type"], r["children"])
        elif ev == "approve":
            self.send({"cmd": "approve", "activity": r["activity"]})
        elif ev == "cancel":
            if self.ref.states()[r["activity"]] != "Canceled":  # else a cascade already did it
                self.send({"cmd": "cancel", "activity": r["activity"]})
        elif ev == "progress" and r["activity"] in self.sim_states:
            self.send({"cmd": "progress", "activity": r["activity"], "value": r["value"]})
        elif ev == "consume":
            reply = self.send({"cmd": "consume", "handler": r["handler"]})
            assert reply["activity"] == r["activity"], (r, reply)
            self.handler_of[r["activity"]] = r["handler"]
        elif ev == "ack" and self.handler_of.get(r["activity"]) == r["handler"]:
            del self.handler_of[r["activity"]]
            status = "failed" if self.sim_states[r["activity"]] == "Failed" else "succeeded"
            self.send(
                {
                    "cmd": "finish",
                    "handler": r["handler"],
                    "activity": r["activity"],
                    "status": status,
                }
            )
        elif ev == "fault" and r["fault"] == "handler_crash":
            self.handler_of = {a: h for a, h in self.handler_of.items() if h != r["handler"]}
            self.send({"cmd": "crash", "handler": r["handler"]})


def _replay(path: Path, system: type[ReferenceSystem] = ReferenceSystem) -> None:
    sc = _shrunk(path)
    assert sc.model.on_dependency_failure == "cancel"  # the protocol's only policy
    writer = MemoryTraceWriter()
    result = simulate(sc, writer=writer, check=True)  # check: the online checker passes it
    assert result.violations == []
    replay = Replay(sc.model.profile, system)
    for r in writer.records:
        replay.record(r)
    replay.flush()
    replay.check_states()
    assert len(replay.sim_states) == result.counters["created"] > 0
    assert replay.steps > result.counters["created"]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_reference_replays_the_simulated_trace(path: Path) -> None:
    _replay(path)


@pytest.mark.parametrize(
    ("mutant", "scenario"),
    [
        ("ignores_approval", "approval-gate"),
        ("client_scheduled_to_queued", "maintenance-window"),
        ("double_delivery_after_redelivery", "job-handler-crash"),
    ],
)
def test_a_reference_with_a_bug_does_not_replay(mutant: str, scenario: str) -> None:
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        mutant, root / f"examples/iut/mutants/{mutant}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(AssertionError):
        _replay(root / "scenarios" / f"{scenario}.yaml", module.Mutant)
