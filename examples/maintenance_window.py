#!/usr/bin/env python3
"""Extending the simulator without touching the package: a maintenance window.

Between ``--start`` and ``--end`` (simulated seconds) every job-handler finishes what it is
doing and then takes nothing until the window closes; server activities pile up in the broker
and are worked off afterwards. A second, optional change swaps the job-handlers' duration
model (``--slowdown 2``: every server activity takes twice as long).

Both go through ``simulate(..., setup=fn)``: ``fn(sim)`` runs once the run is built and
before it starts; ``sim.process(gen_fn)`` adds a SimPy process of our own, and
``sim.handlers`` are the job-handlers (``pause()``, ``resume()``, ``duration``).

Run: ``python examples/maintenance_window.py [--start S] [--end E] [--slowdown F]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Generator
from typing import Any

from activitykit.scenario.schema import Scenario
from activitykit.server import Activity
from activitykit.sim import SimResult, Simulation, simulate
from activitykit.trace import MemoryTraceWriter

#: A small fleet whose server activities keep two job-handlers busy all day.
SCENARIO: dict[str, Any] = {
    "name": "maintenance-window-example",
    "seed": 3,
    "duration": 6 * 3600,
    "fleet": {"groups": [{"name": "web", "computers": 50}]},
    "server": {
        "job_handlers": 2,
        "handlers": {
            "GenerateUsgReportActivity": {"duration": {"dist": "exponential", "mean": 20}}
        },
    },
    "workload": {
        "arrivals": [
            {"name": "reports", "type": "GenerateUsgReportActivity", "rate": 0.05},
            {"name": "scripts", "type": "ExecuteScriptRequest", "rate": 0.01},
        ]
    },
}


def maintenance_window(start: float, end: float) -> Callable[[Simulation], Generator]:
    """A SimPy process body: pause every job-handler over ``[start, end)``."""

    def window(sim: Simulation) -> Generator:
        yield sim.env.timeout(start)
        for handler in sim.handlers:
            handler.pause()
        yield sim.env.timeout(end - start)
        for handler in sim.handlers:
            handler.resume()

    return window


def slower(factor: float) -> Callable[[Activity], float]:
    """A job-handler duration model: the scenario's draw, times ``factor``."""

    def duration(a: Activity) -> float:
        return factor * a.extra.duration()

    return duration


def run(start: float, end: float, slowdown: float = 1.0) -> tuple[SimResult, list[dict]]:
    def setup(sim: Simulation) -> None:
        sim.process(maintenance_window(start, end))
        if slowdown != 1.0:
            for handler in sim.handlers:
                handler.duration = slower(slowdown)

    writer = MemoryTraceWriter()
    result = simulate(Scenario.model_validate(SCENARIO), writer=writer, setup=setup)
    return result, writer.records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=float, default=7200.0)
    ap.add_argument("--end", type=float, default=10800.0)
    ap.add_argument("--slowdown", type=float, default=1.0)
    args = ap.parse_args(argv)
    if not 0 <= args.start <= args.end:
        ap.error("need 0 <= --start <= --end")
    result, records = run(args.start, args.end, args.slowdown)
    consumes = [r["t"] for r in records if r["event"] == "consume"]
    inside = sum(args.start <= t < args.end for t in consumes)
    after = [t for t in consumes if t >= args.end]
    print(f"{result.counters['consumes']} consumes, {inside} inside the window")
    if after:
        print(f"first consume after the window: t={after[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
