"""The simulator: a SimPy model of Landscape's activity system, every transition checked.

``simulate(scenario)`` runs one scenario and returns a ``SimResult``; the trace
(docs/trace-format.md records) goes to the ``writer`` you pass. See ``docs/simulator.md`` for
the architecture: where simulated time passes, why idle computers cost nothing, and the fault
semantics.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from ..scenario.schema import Scenario
from ..trace.writers import TraceWriter
from .engine import Simulation
from .result import SimResult, SimulationInvariantError

__all__ = ["SimResult", "Simulation", "SimulationInvariantError", "simulate"]


def simulate(
    scenario: Scenario,
    *,
    writer: TraceWriter | None = None,
    check: bool | str = True,
    progress: Callable[[float, float], None] | None = None,
    setup: Callable[[Simulation], None] | None = None,
) -> SimResult:
    """Run ``scenario`` once and return its ``SimResult``.

    ``writer`` receives every trace record in time order (``None``: records are only checked
    and counted). With ``check`` every record is fed to the online checker and every state
    change to the reference state machine; a violation raises ``SimulationInvariantError``
    naming the first broken rule and its record, because it means the simulator is wrong, not
    the scenario. ``check`` says where the checker runs: ``"inline"`` (in this process),
    ``"parallel"`` (a checker process on another core, ``activitykit.check.CheckerProcess``;
    the run stops a few thousand records after a violation), or ``"auto"`` (``True``):
    parallel for runs planning ``PARALLEL_FROM`` activities or more, where a second usable
    CPU exists and this process is no pool's daemonic worker. ``progress(now, end)`` is called
    about 100 times per run. ``setup(sim)`` runs once the run is built and before it starts:
    the extension point (add SimPy processes, replace a component's model; see
    docs/simulator.md). The same scenario (seed included) gives the same trace, byte for byte.
    The run's activities are released when it returns: to inspect the store afterwards, build
    a ``Simulation`` and call its ``run()``.
    """
    # The run keeps millions of long-lived objects (activities, per-computer state, the
    # checker's view) and creates no garbage cycles worth collecting, so the cyclic collector
    # would only re-traverse live objects, ever more of them: 20% of a 200k-activity run.
    # Reference counting still frees every record and event as soon as it is done with.
    # At the end the run's activities and the checker's state are dropped before the
    # collector is back: freed by reference counting, instead of the collector's first pass
    # traversing every object the run allocated (7% of a 200k-activity run). The components
    # reference each other, so without this only that pass would free them.
    enabled = gc.isenabled()
    gc.disable()
    sim = None
    try:
        sim = Simulation(scenario, writer, check, progress)
        if setup is not None:
            setup(sim)
        return sim.run()
    finally:
        if sim is not None:
            sim.close()
            sim.store.clear()
        if enabled:
            gc.enable()
