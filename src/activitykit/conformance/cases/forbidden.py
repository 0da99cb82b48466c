"""``forbidden/<kind>/<state>``: an activity is brought to each state and every command that
could move it is tried from there, each in its own run; the IUT must refuse exactly what
the reference refuses and never make a move the machine forbids.
"""

from __future__ import annotations

from ...model import Kind, State
from .steps import (
    Case,
    Step,
    adv,
    approve,
    block,
    cancel,
    cl,
    con,
    crash,
    ex,
    fin,
    prog,
    query,
    res,
    sv,
)

__all__ = ["FORBIDDEN"]


def _setup(kind: Kind, state: State) -> list[Step]:
    """Steps that bring activity ``t`` (computer c1 / handler h1) to ``state``."""
    make = cl if kind is Kind.CLIENT else sv
    if state is State.QUEUED:
        return [make("t")]
    if state is State.SCHEDULED:
        return [make("t", "Scheduled", deliver_after=1000)]
    if state is State.WAITING:
        return [make("dep"), make("t", "Waiting", depends_on=["dep"])]
    if state is State.BLOCKED:
        return [make("t", "Blocked")]
    run = [make("t"), ex() if kind is Kind.CLIENT else con()]
    if state is State.IN_PROGRESS:
        return run
    if state is State.CANCELED:
        return [make("t"), cancel("t")]
    status = "succeeded" if state is State.SUCCEEDED else "failed"
    if kind is Kind.CLIENT:
        return [*run, res("t", status), ex()]
    return [*run, fin("t", status)]


def _probes(kind: Kind) -> list[list[Step]]:
    """Every command that could move ``t``, each tried on its own from the same setup."""
    common = [
        [approve("t")],
        [block("t")],
        [prog("t", 1.0)],
        [adv(5000), ex(), con()],
        [cancel("t")],
        [cancel("t"), cancel("t")],
    ]
    if kind is Kind.CLIENT:
        return [
            *common,
            [ex()],
            [res("t"), ex()],
            [res("t", "failed"), ex()],
            [con(), fin("t")],
        ]
    return [
        *common,
        [con()],
        [fin("t")],
        [fin("t", "failed")],
        [crash(), con("h2")],
        [ex()],
    ]


def _forbidden(kind: Kind, state: State) -> Case:
    slug = state.value.lower().replace(" ", "-")
    setup = _setup(kind, state)
    runs = tuple(tuple([*setup, *probe, query()]) for probe in _probes(kind))
    return Case(
        f"forbidden/{kind.value}/{slug}",
        f"from {state.value}, a {kind.value} activity takes only the moves the machine allows "
        "and the requests the reference accepts",
        runs,
    )


FORBIDDEN = [_forbidden(k, s) for k in Kind for s in State]


def _canceled_running(kind: Kind) -> Case:
    """Canceled reached from In Progress: the profile decides what a late result does."""
    if kind is Kind.CLIENT:
        setup = [cl("t"), ex(), cancel("t")]
        probes = [[res("t"), ex()], [res("t", "failed"), ex()], [approve("t")], [cancel("t")]]
    else:
        setup = [sv("t"), con(), cancel("t")]
        probes = [[fin("t")], [fin("t", "failed")], [crash(), con("h2")], [approve("t")]]
    return Case(
        f"forbidden/{kind.value}/canceled-while-running",
        "Canceled after In Progress: only a client's late result may move it (result-wins)",
        tuple(tuple([*setup, *p, query()]) for p in probes),
    )


FORBIDDEN += [_canceled_running(k) for k in Kind]


def _direct(kind: Kind, state: State, ready: bool) -> Case:
    """``release: direct`` activities, not yet due/released or ready and unmoved."""
    make = cl if kind is Kind.CLIENT else sv
    if state is State.SCHEDULED:
        setup = [make("t", "Scheduled", deliver_after=1000 if not ready else 10, release="direct")]
        setup += [adv(10)] if ready else []
        what = "due and published" if ready else "not yet due"
    else:
        setup = [make("dep", computer="c2") if kind is Kind.CLIENT else make("dep")]
        setup.append(make("t", "Waiting", depends_on=["dep"], release="direct"))
        if ready:
            finish_dep = (
                [ex("c2"), res("dep", computer="c2"), ex("c2")]
                if kind is Kind.CLIENT
                else [con("h9"), fin("dep", handler="h9")]
            )
            setup += finish_dep
        what = "released and published" if ready else "with its dependency unmet"
    slug = f"{state.value.lower()}-direct{'-ready' if ready else ''}"
    return Case(
        f"forbidden/{kind.value}/{slug}",
        f"release direct, {state.value} {what}: only the moves the machine allows (a consume "
        "or exchange before it is ready moves nothing)",
        tuple(tuple([*setup, *probe, query()]) for probe in _probes(kind)),
    )


FORBIDDEN += [
    _direct(k, s, ready)
    for k in Kind
    for s in (State.SCHEDULED, State.WAITING)
    for ready in (False, True)
    if not (k is Kind.CLIENT and s is State.SCHEDULED)  # client Scheduled is always direct
]
