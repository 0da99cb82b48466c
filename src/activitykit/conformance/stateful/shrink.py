"""Shrinking a failing sequence: ddmin over the abstract steps, then readable names.

Hypothesis's shrink phase is off (``run.run_stateful``): it would spend its whole budget
even on a 2-step counterexample. ``minimize`` works on the steps, each candidate a fresh
``Run``, and stops as soon as nothing smaller fails.
"""

from __future__ import annotations

from typing import Any

from ..cases import Step
from ..runner import Deviation, Run, Session, StepDeviation

__all__ = ["evidence", "minimize", "renumber"]


def evidence(session: Session, steps: list[Step]) -> Deviation | None:
    """The deviation ``steps`` provoke when run afresh (None if they no longer do)."""
    run = Run(session, "stateful", 0, "stateful#final")
    try:
        for step in steps:
            run.step(step)
    except StepDeviation as exc:
        return exc.deviation
    return None


def renumber(steps: list[Step]) -> list[Step]:
    """The same steps with activities renamed a1, a2, ... in order of creation.

    Shrinking drops creates, so a minimal sequence may start at ``a4``; the behaviour does
    not depend on names (everything is visited in creation order), only the reading does.
    """
    names: dict[str, str] = {}
    for step in steps:
        if step.get("cmd") == "create" and isinstance(step.get("activity"), str):
            names.setdefault(step["activity"], f"a{len(names) + 1}")

    def rename(value: Any) -> Any:
        return names.get(value, value) if isinstance(value, str) else value

    out = []
    for step in steps:
        new = dict(step)
        for key in ("activity", "progress_of", "parent"):
            if key in new:
                new[key] = rename(new[key])
        if isinstance(new.get("depends_on"), list):
            new["depends_on"] = [rename(d) for d in new["depends_on"]]
        out.append(new)
    return out


_WAIT_FIELDS = ("depends_on", "progress_of", "threshold")


def _simpler(step: Step) -> list[Step]:
    """Simpler variants of one ``create``: without ``release``, without its dependencies.

    Dropping a dependency can make its target's ``create`` droppable in turn, which the
    step-dropping pass alone never reaches (removing the target first is refused).
    """
    if step.get("cmd") != "create":
        return []
    out = []
    if "release" in step:
        out.append({k: v for k, v in step.items() if k != "release"})
    if any(k in step for k in _WAIT_FIELDS):
        free = {k: v for k, v in step.items() if k not in _WAIT_FIELDS}
        out.append(free if free.get("state") != "Waiting" else {**free, "state": "Queued"})
    return out


def minimize(
    session: Session,
    steps: list[Step],
    label: str = "minimize",
    seconds: float | None = None,
) -> list[Step]:
    """The smallest failing sequence this finds: 1-minimal unless ``seconds`` ran out.

    Hypothesis's own shrinker is off (``run_stateful``): it works on its choice sequence,
    spends its whole time budget even when the sequence stopped getting smaller, and
    cannot be told to stop. This pass works on the abstract steps and stops as soon as no
    candidate is smaller: it drops chunks of halving size (ddmin), ending with single
    steps, simplifies ``create`` steps (``_simpler``), cuts each failing candidate after
    the step that deviated, and repeats until nothing changes. Each candidate is a fresh
    run. With ``seconds``, it returns the smallest failure found when the time is up.
    """
    import time

    deadline = None if seconds is None else time.monotonic() + seconds
    n = 0

    def fails(candidate: list[Step]) -> list[Step] | None:
        """The candidate cut after its deviating step, or None if it passes."""
        nonlocal n
        n += 1
        run = Run(session, label, n, f"{label}#{n}")
        try:
            for step in candidate:
                run.step(step)
        except StepDeviation as exc:
            return candidate[: exc.deviation.step]
        return None

    def out_of_time() -> bool:
        return deadline is not None and time.monotonic() > deadline

    current = list(steps)
    changed = True
    while changed and not out_of_time():
        changed = False
        size = max(1, len(current) // 2)
        while size >= 1 and not out_of_time():
            i = len(current) - size
            while i >= 0 and not out_of_time():
                candidate = current[:i] + current[i + size :]
                smaller = fails(candidate) if candidate else None
                if smaller is not None:
                    current = smaller
                    changed = True
                    i = min(i, len(current)) - size
                else:
                    i -= size
            size //= 2
        i = 0
        while i < len(current) and not out_of_time():
            for variant in _simpler(current[i]):
                smaller = fails([*current[:i], variant, *current[i + 1 :]])
                if smaller is not None:
                    current = smaller
                    changed = True
                    break
            i += 1
    return current
