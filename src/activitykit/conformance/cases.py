"""The catalogue: named, scripted scenarios that every conformant IUT must pass.

A case is data: a name, what it checks, and one or more *runs*; each run is a list of
abstract steps executed after a ``reset``. A step is a protocol request without ``id``,
except that ``result`` names the ``activity`` whose latest operation-id the harness fills in
for each side (the IUT and the reference number operations independently).

The expected replies are not written here: the reference model (``reference.py``) is the
oracle, so one catalogue serves both profiles. Three families:

- ``client/...`` and ``server/...``: each allowed transition through the life cycle that
  causes it, plus scheduling, dependencies, thresholds, approvals, cancellation during
  execution, operation-id uniqueness and redelivery after a job-handler crash;
- ``forbidden/<kind>/<state>``: an activity is brought to each state and every command that
  could move it is tried from there, each in its own run; the IUT must refuse exactly what
  the reference refuses and never make a move the machine forbids;
- ``create/...`` and ``input/...``: requests the spec rejects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import Kind, State

__all__ = [
    "CASES",
    "Case",
    "Step",
    "adv",
    "approve",
    "block",
    "cancel",
    "case_names",
    "cl",
    "con",
    "crash",
    "ex",
    "fin",
    "get_case",
    "prog",
    "query",
    "res",
    "sv",
]

Step = dict[str, Any]

CLIENT_TYPE = "ExecuteScriptRequest"
SERVER_TYPE = "GenerateUsgReportActivity"
PROGRESS_TYPE = "SyncPocketRequest"


@dataclass(frozen=True)
class Case:
    name: str
    #: One line: what a conformant IUT does here (printed beside a failure).
    title: str
    runs: tuple[tuple[Step, ...], ...]


# -- step builders (short, because the catalogue is read more often than written) -----------
def cl(aid: str, state: str = "Queued", computer: str = "c1", **kw: Any) -> Step:
    return {
        "cmd": "create",
        "activity": aid,
        "kind": "client",
        "type": CLIENT_TYPE,
        "state": state,
        "computer": computer,
        **kw,
    }


def sv(aid: str, state: str = "Queued", type: str = SERVER_TYPE, **kw: Any) -> Step:
    return {"cmd": "create", "activity": aid, "kind": "server", "type": type, "state": state, **kw}


def ex(computer: str = "c1") -> Step:
    return {"cmd": "exchange", "computer": computer}


def res(aid: str, status: str = "succeeded", computer: str = "c1") -> Step:
    return {"cmd": "result", "computer": computer, "activity": aid, "status": status}


def con(handler: str = "h1") -> Step:
    return {"cmd": "consume", "handler": handler}


def fin(aid: str, status: str = "succeeded", handler: str = "h1") -> Step:
    return {"cmd": "finish", "handler": handler, "activity": aid, "status": status}


def crash(handler: str = "h1") -> Step:
    return {"cmd": "crash", "handler": handler}


def approve(aid: str) -> Step:
    return {"cmd": "approve", "activity": aid}


def block(aid: str) -> Step:
    return {"cmd": "block", "activity": aid}


def cancel(aid: str) -> Step:
    return {"cmd": "cancel", "activity": aid}


def prog(aid: str, value: float) -> Step:
    return {"cmd": "progress", "activity": aid, "value": value}


def adv(seconds: float) -> Step:
    return {"cmd": "advance", "seconds": seconds}


def query(aid: str | None = None) -> Step:
    return {"cmd": "query"} if aid is None else {"cmd": "query", "activity": aid}


#: More deliverable activities than any page or batch limit an implementation might use.
BULK = 150


def _one(name: str, title: str, *steps: Step) -> Case:
    return Case(name, title, (tuple(steps),))


# -- life cycles -----------------------------------------------------------------------------
# fmt: off
_CLIENT = [
    _one(
        "client/queued-succeeded",
        "Queued -> In Progress at the exchange, -> Succeeded when the result arrives",
        cl("a1"), ex(), res("a1"), ex(), query("a1"),
    ),
    _one(
        "client/queued-failed",
        "a failed operation-result moves In Progress -> Failed",
        cl("a1"), ex(), res("a1", "failed"), ex(),
    ),
    _one(
        "client/result-needs-exchange",
        "a queued result changes nothing until the computer's next exchange carries it",
        cl("a1"), ex(), res("a1"), query("a1"), ex(),
    ),
    _one(
        "client/other-computer-not-delivered",
        "an exchange delivers only the exchanging computer's activities",
        cl("a1", computer="c1"), cl("a2", computer="c2"), ex("c2"), ex("c1"),
    ),
    _one("client/queued-canceled", "cancel moves Queued -> Canceled", cl("a1"), cancel("a1"), ex()),
    _one(
        "client/queued-blocked-approved",
        "block moves Queued -> Blocked (not delivered), approve moves it back to Queued",
        cl("a1"), block("a1"), ex(), approve("a1"), ex(),
    ),
    _one(
        "client/scheduled-not-before",
        "a Scheduled client activity stays Scheduled until an exchange at or after deliver_after",
        cl("a1", "Scheduled", deliver_after=100), ex(), adv(99), ex(), adv(1), query("a1"), ex(),
    ),
    _one(
        "client/scheduled-canceled",
        "cancel moves Scheduled -> Canceled; it is never delivered",
        cl("a1", "Scheduled", deliver_after=10), cancel("a1"), adv(20), ex(),
    ),
    _one(
        "client/waiting-released-queued",
        "a dependency's success on another computer releases Waiting -> Queued",
        cl("d", computer="c2"), cl("a1", "Waiting", depends_on=["d"]), ex("c1"), ex("c2"),
        res("d", computer="c2"), ex("c2"), ex("c1"),
    ),
    _one(
        "client/waiting-direct-delivery",
        "released during its own computer's exchange, Waiting goes straight to In Progress",
        cl("d"), cl("a1", "Waiting", depends_on=["d"]), ex(), res("d"), ex(), res("a1"), ex(),
    ),
    _one(
        "client/waiting-all-dependencies",
        "Waiting is released only when every dependency has succeeded",
        cl("d1"), cl("d2"), cl("a1", "Waiting", computer="c2", depends_on=["d1", "d2"]),
        ex(), res("d1"), ex(), ex("c2"), res("d2"), ex(), ex("c2"),
    ),
    _one(
        "client/waiting-dependency-failed",
        "a failed dependency cancels the Waiting activity",
        cl("d"), cl("a1", "Waiting", computer="c2", depends_on=["d"]), ex(), res("d", "failed"),
        ex(), ex("c2"),
    ),
    _one(
        "client/waiting-dependency-canceled",
        "a canceled dependency cancels the Waiting activity, and its own dependents in turn",
        cl("d"), cl("a1", "Waiting", depends_on=["d"]), cl("a2", "Waiting", depends_on=["a1"]),
        cancel("d"), ex(),
    ),
    _one(
        "client/waiting-canceled",
        "cancel moves Waiting -> Canceled",
        cl("d"), cl("a1", "Waiting", depends_on=["d"]), cancel("a1"), ex(), res("d"), ex(),
    ),
    _one(
        "client/waiting-threshold",
        "a Waiting activity is released when the named activity's progress reaches the threshold",
        sv("p", type=PROGRESS_TYPE), con(),
        cl("a1", "Waiting", progress_of="p", threshold=0.5),
        prog("p", 0.25), ex(), prog("p", 0.5), ex(),
    ),
    _one(
        "client/blocked-approved",
        "a Blocked activity is not delivered before approval; approve moves it to Queued",
        cl("a1", "Blocked"), ex(), adv(60), ex(), approve("a1"), ex(),
    ),
    _one(
        "client/blocked-approved-waiting",
        "approving with an unmet dependency moves Blocked -> Waiting, released on success",
        cl("d"), cl("a1", "Blocked", computer="c2", depends_on=["d"]), approve("a1"), ex("c2"),
        ex(), res("d"), ex(), ex("c2"),
    ),
    _one(
        "client/blocked-approved-dependency-met",
        "approving when every dependency already succeeded moves Blocked -> Queued",
        cl("d"), ex(), res("d"), ex(), cl("a1", "Blocked", depends_on=["d"]), approve("a1"), ex(),
    ),
    _one(
        "client/blocked-approved-dependency-failed",
        "approving after a dependency failed moves Blocked -> Waiting, then the release rule "
        "cancels it",
        cl("d"), ex(), res("d", "failed"), ex(), cl("a1", "Blocked", depends_on=["d"]),
        approve("a1"), ex(),
    ),
    _one("client/blocked-canceled", "cancel moves Blocked -> Canceled", cl("a1", "Blocked"),
         cancel("a1"), approve("a1")),
    _one(
        "client/cancel-during-execution-succeeded",
        "canceled while In Progress the client keeps running; its success is taken under "
        "result-wins and ignored under cancel-sticky",
        cl("a1"), ex(), cancel("a1"), res("a1"), ex(), query("a1"),
    ),
    _one(
        "client/cancel-during-execution-failed",
        "as above with a failed result",
        cl("a1"), ex(), cancel("a1"), res("a1", "failed"), ex(), query("a1"),
    ),
    _one(
        "client/late-result-only-once",
        "after a canceled activity took its late result, a repeated result changes nothing",
        cl("a1"), ex(), cancel("a1"), res("a1"), ex(), res("a1", "failed"), ex(), cancel("a1"),
    ),
    _one(
        "client/canceled-before-delivery-ignores-result",
        "a result for an activity canceled before it ran is never accepted",
        cl("a1"), cl("a2"), ex(), cancel("a2"), res("a1"), ex(),
    ),
    _one(
        "client/waiting-direct",
        "release direct: released outside its computer's exchange, Waiting stays Waiting "
        "until that exchange delivers it, Waiting -> In Progress",
        cl("d", computer="c2"), cl("a1", "Waiting", depends_on=["d"], release="direct"),
        ex("c2"), res("d", computer="c2"), ex("c2"), query("a1"), ex("c1"), res("a1"), ex(),
    ),
    _one(
        "client/scheduled-direct",
        "release direct changes nothing for a client Scheduled activity (always direct)",
        cl("a1", "Scheduled", deliver_after=10, release="direct"), ex(), adv(10), query("a1"),
        ex(),
    ),
    _one(
        "client/operation-id-uniqueness",
        "every delivery carries an operation-id never used before, across computers and "
        "after results",
        cl("a1"), cl("a2", computer="c2"), ex(), ex("c2"), res("a1"), ex(), cl("a3"), ex(),
        res("a2", computer="c2"), ex("c2"), cl("a4", computer="c2"), cl("a5"), ex("c2"), ex(),
        res("a3"), res("a5"), ex(), cl("a6"), ex(),
    ),
    _one(
        "client/delivery-order",
        "an exchange delivers a computer's activities in creation order",
        cl("a1"), cl("a2", computer="c2"), cl("a3"), cl("a4", "Scheduled", deliver_after=0),
        cl("a5"), ex(),
    ),
    _one(
        "client/bulk-delivery",
        f"one exchange delivers every deliverable activity, {BULK} of them (no page limit)",
        *(cl(f"a{i}") for i in range(1, BULK + 1)), ex(), ex(),
    ),
    _one(
        "client/scheduled-fractional",
        "deliver_after is a real number of seconds: not delivered 0.25 s before it, then at it",
        cl("a1", "Scheduled", deliver_after=30.5), adv(30.25), ex(), adv(0.25), ex(),
    ),
    _one(
        "client/result-from-wrong-computer",
        "an operation-result sent by a computer the operation was not delivered to is refused",
        cl("a1"), ex(), res("a1", computer="c2"), ex("c2"), query("a1"),
    ),
    _one(
        "client/result-twice",
        "a second result for the same operation-id changes nothing",
        cl("a1"), ex(), res("a1"), ex(), res("a1", "failed"), ex(),
    ),
    _one(
        "client/unknown-operation-id",
        "a result for an operation-id never delivered is not accepted",
        cl("a1"), {"cmd": "result", "computer": "c1", "operation_id": 987654, "status": "failed"},
        ex(),
    ),
]

_SERVER = [
    _one(
        "server/queued-succeeded",
        "a job-handler consumes Queued -> In Progress and finishes -> Succeeded",
        sv("a1"), con(), fin("a1"), query("a1"),
    ),
    _one("server/queued-failed", "finish failed moves In Progress -> Failed", sv("a1"), con(),
         fin("a1", "failed")),
    _one(
        "server/fifo",
        "the queue hands activities out in the order they were published",
        sv("a1"), sv("a2"), sv("a3"), con("h1"), con("h2"), fin("a1"), con("h1"), con("h3"),
    ),
    _one("server/queued-canceled", "cancel moves Queued -> Canceled; it is never consumed",
         sv("a1"), cancel("a1"), con()),
    _one(
        "server/queued-blocked-approved",
        "block moves Queued -> Blocked and out of the queue; approve re-publishes it",
        sv("a1"), block("a1"), con(), approve("a1"), con(),
    ),
    _one(
        "server/republished-stale-copy",
        "a message published before a block stays stale after approve re-publishes the "
        "activity: handed out once, even to a second free handler",
        sv("a1"), block("a1"), approve("a1"), con("h1"), con("h2"), fin("a1"), con("h2"),
    ),
    _one(
        "server/scheduled-due-queued",
        "a Scheduled server activity moves to Queued when the clock reaches deliver_after",
        sv("a1", "Scheduled", deliver_after=50), con(), adv(49), con(), adv(1), con(),
    ),
    _one("server/scheduled-canceled", "cancel moves Scheduled -> Canceled",
         sv("a1", "Scheduled", deliver_after=50), cancel("a1"), adv(100), con()),
    _one(
        "server/scheduled-created-due",
        "a Scheduled activity created already due is published at once",
        adv(100), sv("a1", "Scheduled", deliver_after=10), con(),
    ),
    _one(
        "server/waiting-released",
        "a dependency's success releases Waiting -> Queued",
        sv("d"), sv("a1", "Waiting", depends_on=["d"]), con(), con("h2"), fin("d"), con("h2"),
    ),
    _one(
        "server/waiting-dependency-failed",
        "a failed dependency cancels the Waiting activity",
        sv("d"), sv("a1", "Waiting", depends_on=["d"]), con(), fin("d", "failed"), con(),
    ),
    _one(
        "server/waiting-mixed-kinds",
        "a server activity can wait for a client activity",
        cl("d"), sv("a1", "Waiting", depends_on=["d"]), ex(), con(), res("d"), ex(), con(),
    ),
    _one("server/waiting-canceled", "cancel moves Waiting -> Canceled",
         sv("d"), sv("a1", "Waiting", depends_on=["d"]), cancel("a1"), con(), fin("d"), con()),
    _one(
        "server/waiting-threshold",
        "released when the named activity's progress reaches the threshold (not before)",
        sv("p", type=PROGRESS_TYPE), sv("a1", "Waiting", progress_of="p", threshold=0.75),
        con(), prog("p", 0.5), con("h2"), prog("p", 0.75), con("h2"),
    ),
    _one(
        "server/waiting-threshold-two-watchers",
        "two activities wait for the same activity's progress: each is released when it "
        "reaches its own threshold, the lower one first though created second",
        sv("p", type=PROGRESS_TYPE), sv("a1", "Waiting", progress_of="p", threshold=1.0),
        sv("a2", "Waiting", progress_of="p", threshold=0.5), con(), prog("p", 0.25),
        con("h2"), prog("p", 0.5), con("h2"), prog("p", 1.0), con("h3"),
    ),
    _one(
        "server/blocked-approved",
        "approve moves Blocked -> Queued and publishes it",
        sv("a1", "Blocked"), con(), approve("a1"), con(),
    ),
    _one(
        "server/blocked-approved-waiting",
        "approving with an unmet dependency moves Blocked -> Waiting",
        sv("d"), sv("a1", "Blocked", depends_on=["d"]), approve("a1"), con(), con("h2"),
        fin("d"), con("h2"),
    ),
    _one("server/blocked-canceled", "cancel moves Blocked -> Canceled",
         sv("a1", "Blocked"), cancel("a1"), approve("a1"), con()),
    _one(
        "server/cancel-during-execution",
        "canceled while In Progress, the handler's later finish never moves it: server "
        "Canceled is final",
        sv("a1"), con(), cancel("a1"), fin("a1"), query("a1"), con(),
    ),
    _one(
        "server/cancel-during-execution-failed",
        "as above with a failed finish",
        sv("a1"), con(), cancel("a1"), fin("a1", "failed"), query("a1"),
    ),
    _one(
        "server/redelivery-after-crash",
        "a crashed handler's unacknowledged activity is redelivered once, without a second "
        "transition, and finished by the new handler",
        sv("a1"), sv("a2"), con("h1"), crash("h1"), con("h2"), con("h3"), con("h4"),
        fin("a1", handler="h2"), fin("a2", handler="h3"), con("h5"),
    ),
    _one(
        "server/crash-after-finish",
        "a handler that crashes after finishing has nothing to redeliver",
        sv("a1"), con(), fin("a1"), crash("h1"), con("h2"),
    ),
    _one(
        "server/crash-after-cancel",
        "an activity canceled while running is not redelivered when its handler crashes",
        sv("a1"), con(), cancel("a1"), crash("h1"), con("h2"),
    ),
    _one(
        "server/scheduled-direct",
        "release direct: a due Scheduled activity is published but stays Scheduled until a "
        "handler consumes it, Scheduled -> In Progress; no consume before deliver_after",
        sv("a1", "Scheduled", deliver_after=50, release="direct"), con(), adv(49), con(),
        query("a1"), adv(1), query("a1"), con(), fin("a1"),
    ),
    _one(
        "server/scheduled-direct-created-due",
        "release direct, created already due: published at once, consumed Scheduled -> "
        "In Progress",
        adv(100), sv("a1", "Scheduled", deliver_after=10, release="direct"), query("a1"),
        con(), fin("a1", "failed"),
    ),
    _one(
        "server/scheduled-direct-fifo",
        "direct and queued activities share one FIFO queue in publication order",
        sv("a1", "Scheduled", deliver_after=10, release="direct"), sv("a2"), adv(10),
        sv("a3", "Scheduled", deliver_after=5, release="direct"), con("h1"), con("h2"),
        con("h3"),
    ),
    _one(
        "server/scheduled-direct-canceled",
        "a published Scheduled activity canceled before a handler takes it is never consumed",
        sv("a1", "Scheduled", deliver_after=10, release="direct"), adv(10), cancel("a1"), con(),
    ),
    _one(
        "server/scheduled-direct-redelivery",
        "consumed Scheduled -> In Progress, then its handler crashes: redelivered without a move",
        sv("a1", "Scheduled", deliver_after=0, release="direct"), con("h1"), crash("h1"),
        con("h2"), fin("a1", handler="h2"), con("h1"),
    ),
    _one(
        "server/waiting-direct",
        "release direct: a released Waiting activity is published but stays Waiting until a "
        "handler consumes it, Waiting -> In Progress",
        sv("d"), sv("a1", "Waiting", depends_on=["d"], release="direct"), con(), con("h2"),
        fin("d"), query("a1"), con("h2"), fin("a1", handler="h2"),
    ),
    _one(
        "server/waiting-direct-threshold",
        "release direct with a threshold: published when progress reaches it, consumed Waiting "
        "-> In Progress",
        sv("p", type=PROGRESS_TYPE), sv("a1", "Waiting", progress_of="p", threshold=0.5,
                                         release="direct"),
        con(), prog("p", 0.25), con("h2"), prog("p", 0.5), query("a1"), con("h2"),
    ),
    _one(
        "server/waiting-direct-dependency-failed",
        "release direct does not change cancellation: a failed dependency cancels it",
        sv("d"), sv("a1", "Waiting", depends_on=["d"], release="direct"), con(),
        fin("d", "failed"), con(),
    ),
    _one(
        "server/waiting-direct-approved",
        "approving with an unmet dependency moves Blocked -> Waiting; with release direct it "
        "is then consumed Waiting -> In Progress",
        sv("d"), sv("a1", "Blocked", depends_on=["d"], release="direct"), approve("a1"), con(),
        fin("d"), query("a1"), con("h2"),
    ),
    _one(
        "server/waiting-direct-canceled",
        "a released (published) Waiting activity canceled before consumption is never consumed",
        sv("d"), sv("a1", "Waiting", depends_on=["d"], release="direct"), con(), fin("d"),
        cancel("a1"), con(),
    ),
    _one(
        "server/prefetch",
        "a handler holds at most one unacknowledged message",
        sv("a1"), sv("a2"), con(), con(), con("h2"),
    ),
    _one(
        "server/prefetch-after-finish",
        "finish acknowledges the message: the handler may consume again",
        sv("a1"), sv("a2"), con("h1"), fin("a1"), con("h1"), fin("a2"), con("h1"),
    ),
    _one(
        "server/redelivery-order",
        "a crashed handler's message goes back to the head of the queue, before later ones",
        sv("a1"), con("h1"), sv("a2"), sv("a3"), crash("h1"), con("h2"), fin("a1", handler="h2"),
        con("h2"),
    ),
    _one(
        "server/approved-published-once",
        "an approved activity is published once: a second handler finds nothing",
        sv("a1", "Blocked"), approve("a1"), con("h1"), con("h2"), fin("a1"), con("h2"),
    ),
    _one(
        "server/finish-by-other-handler",
        "only the handler holding an activity can finish it",
        sv("a1"), con("h1"), fin("a1", handler="h2"), fin("a1", handler="h1"),
    ),
]

_INPUT = [
    _one("create/duplicate-id", "an activity id is unique", cl("a1"), cl("a1", "Blocked")),
    _one("create/unknown-type", "an unknown activity type is refused",
         {**cl("a1"), "type": "FormatDiskRequest"}),
    _one("create/kind-mismatch", "the kind must match the type's kind",
         {**cl("a1"), "type": SERVER_TYPE}, {**sv("a2"), "type": CLIENT_TYPE}),
    *(
        _one(f"create/not-a-start-state/{s.value.lower().replace(' ', '-')}",
             f"an activity cannot be created {s.value}", cl("a1", s.value), sv("a2", s.value))
        for s in (State.IN_PROGRESS, State.SUCCEEDED, State.FAILED, State.CANCELED)
    ),
    _one("create/client-needs-computer", "a client activity needs a computer",
         {k: v for k, v in cl("a1").items() if k != "computer"}),
    _one("create/scheduled-needs-deliver-after", "Scheduled needs deliver_after",
         cl("a1", "Scheduled"), sv("a2", "Scheduled")),
    _one("create/waiting-needs-dependency", "Waiting needs depends_on or progress_of",
         cl("a1", "Waiting"), sv("a2", "Waiting")),
    _one("create/unknown-dependency", "a dependency must exist",
         cl("a1", "Waiting", depends_on=["nope"]), sv("a2", "Waiting", progress_of="nope",
                                                      threshold=0.5)),
    _one("create/threshold-range", "a threshold lies in [0, 1]",
         sv("p"), sv("a1", "Waiting", progress_of="p", threshold=1.5)),
    _one("create/unknown-release", "release is queue or direct",
         sv("a1", "Scheduled", deliver_after=1, release="sideways"),
         cl("a2", "Waiting", depends_on=["a1"], release="later"), query()),
    _one("input/advance-backwards", "the clock never goes back", adv(10), adv(-5), adv(0)),
    _one("input/progress-range", "a progress value lies in [0, 1] and only a running "
         "activity reports one", sv("a1"), prog("a1", 0.5), con(), prog("a1", 1.5),
         prog("a1", 1.0)),
    _one("input/unknown-activity", "commands naming an unknown activity are refused",
         approve("x"), cancel("x"), block("x"), query("x"), prog("x", 0.5)),
]
# fmt: on


# -- forbidden-transition probes ---------------------------------------------------------------
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


_FORBIDDEN = [_forbidden(k, s) for k in Kind for s in State]


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


_FORBIDDEN += [_canceled_running(k) for k in Kind]


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


_FORBIDDEN += [
    _direct(k, s, ready)
    for k in Kind
    for s in (State.SCHEDULED, State.WAITING)
    for ready in (False, True)
    if not (k is Kind.CLIENT and s is State.SCHEDULED)  # client Scheduled is always direct
]

#: Every case, by name, in catalogue order.
CASES: dict[str, Case] = {c.name: c for c in [*_CLIENT, *_SERVER, *_FORBIDDEN, *_INPUT]}
if len(CASES) != len(_CLIENT) + len(_SERVER) + len(_FORBIDDEN) + len(_INPUT):
    raise RuntimeError("duplicate case names in the catalogue")  # pragma: no cover


def case_names() -> list[str]:
    return list(CASES)


def get_case(name: str) -> Case:
    try:
        return CASES[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(CASES), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no case named {name!r}{hint}") from None
