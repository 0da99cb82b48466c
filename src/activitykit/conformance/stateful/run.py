"""Run the stateful machine under a seed; the first deviation becomes a shrunk outcome.

Every step goes through ``runner.Run``, which compares the IUT with the reference after
it. A failure is minimised by ``shrink.minimize`` (why not Hypothesis's own shrinking: see
``shrink``); that sequence is what we print and save for ``--replay``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..adapters import IUTFailure
from ..cases import Step
from ..runner import CaseResult, Deviation, Session, StepDeviation
from .coverage import Coverage
from .machine import machine_class
from .shrink import evidence, minimize, renumber

__all__ = ["StatefulOutcome", "run_stateful"]


@dataclass
class StatefulOutcome:
    result: CaseResult
    #: The shrunk failing sequence (empty when everything passed).
    counterexample: list[Step] = field(default_factory=list)
    examples: int = 0
    coverage: Coverage | None = None


@contextlib.contextmanager
def _no_local_constants() -> Iterator[None]:
    """Hypothesis without the constants it harvests from the modules imported so far.

    Hypothesis (6.131+) makes one draw in twenty from a process-global pool of literals
    it parses out of every non-library module in ``sys.modules``, within a 100 ms budget
    and through an on-disk cache. That pool depends on what the process imported before
    (test order, xdist's split, a fresh clone without ``.hypothesis/``, machine load), so
    a seeded run drew different sequences from one process to the next: a bulk batch of
    101 creates in one, of 120 in another. With the pool empty for the run, the draws are
    a function of the seed alone. There is no public switch for this; the private names
    are looked up defensively, and tests/test_conformance_harness.py
    (``test_stateful_draws_do_not_depend_on_imported_modules``) fails if a new Hypothesis
    brings the dependence back.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
    except ImportError:  # pragma: no cover - a Hypothesis without the pool
        yield
        return
    collect = getattr(providers, "_get_local_constants", None)
    cache = getattr(getattr(providers, "CONSTANTS_CACHE", None), "cache", None)
    if collect is None or cache is None:  # pragma: no cover - renamed: the test reports it
        yield
        return
    empty = Constants()
    providers._get_local_constants = lambda: empty
    cache.clear()  # filled from the old pool: (choice type, bounds) -> allowed constants
    try:
        yield
    finally:
        providers._get_local_constants = collect
        cache.clear()


def run_stateful(
    session: Session,
    examples: int = 100,
    seed: int = 0,
    steps: int = 25,
    shrink_seconds: float = 30.0,
) -> StatefulOutcome:
    """Run the machine for ``examples`` sequences of up to ``steps`` steps each.

    Hypothesis generates (no shrink phase: see ``minimize``); the first deviation is
    minimised by ``minimize`` for at most ``shrink_seconds``, which stops early once the
    sequence stops getting smaller. The outcome carries that sequence and its evidence.
    """
    import hypothesis
    from hypothesis import HealthCheck, Phase, Verbosity, settings

    state: dict[str, Any] = {"last": [], "failure": None, "n": 0, "steps": 0}
    coverage = Coverage(session.profile.value)
    iut_machine = machine_class(session, state, coverage)
    settings_ = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
        # No Phase.shrink: minimize() shrinks the abstract steps and stops when they stop
        # getting smaller, where Hypothesis would use its whole budget every time.
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
    )
    from hypothesis.stateful import get_state_machine_test

    test = get_state_machine_test(iut_machine, settings=settings_)
    test = hypothesis.seed(seed)(test)
    result = CaseResult("stateful", f"{examples} random sequences of up to {steps} steps", "pass")
    import time

    started = time.perf_counter()
    outcome = StatefulOutcome(result, coverage=coverage)
    try:
        with _no_local_constants():
            test()
    except StepDeviation as exc:
        result.outcome = "fail"
        dev = exc.deviation
        # If the IUT breaks while we minimise, keep Hypothesis's sequence.
        with contextlib.suppress(IUTFailure):
            shrunk = minimize(session, list(dev.steps), seconds=shrink_seconds)
            dev = evidence(session, shrunk) or dev
            # Readable names, kept only if the renamed sequence still fails.
            dev = evidence(session, renumber(list(dev.steps))) or dev
        outcome.counterexample = list(dev.steps)
        result.deviation = Deviation(
            "stateful",
            dev.run,
            dev.step,
            dev.request,
            dev.message,
            dev.expected,
            dev.actual,
            dev.steps,
        )
    except Exception as exc:  # IUT failure, or Hypothesis saying the failure was flaky
        failure = state["failure"]
        result.outcome = "error" if failure is not None else "fail"
        where = getattr(failure, "where", None)
        if where is not None:
            outcome.counterexample = list(where.steps)
            result.deviation = where
            result.note = failure.kind
        else:
            message = f"IUT failure: {failure}" if failure else f"{type(exc).__name__}: {exc}"
            result.deviation = Deviation(
                "stateful",
                0,
                0,
                state["last"][-1] if state["last"] else {},
                message,
                steps=tuple(state["last"]),
            )
            outcome.counterexample = list(state["last"])
        if failure is not None:
            session.protocol_failures += 1
            session.iut.close()
    result.seconds = time.perf_counter() - started
    result.steps = state["steps"]
    outcome.examples = state["n"]
    result.note = (result.note + "; " if result.note else "") + f"{state['n']} sequences"
    return outcome
