"""``server/...``: each allowed server transition through the life cycle that causes it, plus
the FIFO queue, prefetch, approvals, ``release: direct`` and redelivery after a
job-handler crash.
"""

from __future__ import annotations

from .steps import (
    PROGRESS_TYPE,
    adv,
    approve,
    block,
    cancel,
    cl,
    con,
    crash,
    ex,
    fin,
    one,
    prog,
    query,
    res,
    sv,
)

__all__ = ["SERVER"]

# fmt: off
SERVER = [
    one(
        "server/queued-succeeded",
        "a job-handler consumes Queued -> In Progress and finishes -> Succeeded",
        sv("a1"), con(), fin("a1"), query("a1"),
    ),
    one("server/queued-failed", "finish failed moves In Progress -> Failed", sv("a1"), con(),
         fin("a1", "failed")),
    one(
        "server/fifo",
        "the queue hands activities out in the order they were published",
        sv("a1"), sv("a2"), sv("a3"), con("h1"), con("h2"), fin("a1"), con("h1"), con("h3"),
    ),
    one("server/queued-canceled", "cancel moves Queued -> Canceled; it is never consumed",
         sv("a1"), cancel("a1"), con()),
    one(
        "server/queued-blocked-approved",
        "block moves Queued -> Blocked and out of the queue; approve re-publishes it",
        sv("a1"), block("a1"), con(), approve("a1"), con(),
    ),
    one(
        "server/republished-stale-copy",
        "a message published before a block stays stale after approve re-publishes the "
        "activity: handed out once, even to a second free handler",
        sv("a1"), block("a1"), approve("a1"), con("h1"), con("h2"), fin("a1"), con("h2"),
    ),
    one(
        "server/scheduled-due-queued",
        "a Scheduled server activity moves to Queued when the clock reaches deliver_after",
        sv("a1", "Scheduled", deliver_after=50), con(), adv(49), con(), adv(1), con(),
    ),
    one("server/scheduled-canceled", "cancel moves Scheduled -> Canceled",
         sv("a1", "Scheduled", deliver_after=50), cancel("a1"), adv(100), con()),
    one(
        "server/scheduled-created-due",
        "a Scheduled activity created already due is published at once",
        adv(100), sv("a1", "Scheduled", deliver_after=10), con(),
    ),
    one(
        "server/waiting-released",
        "a dependency's success releases Waiting -> Queued",
        sv("d"), sv("a1", "Waiting", depends_on=["d"]), con(), con("h2"), fin("d"), con("h2"),
    ),
    one(
        "server/waiting-dependency-failed",
        "a failed dependency cancels the Waiting activity",
        sv("d"), sv("a1", "Waiting", depends_on=["d"]), con(), fin("d", "failed"), con(),
    ),
    one(
        "server/waiting-mixed-kinds",
        "a server activity can wait for a client activity",
        cl("d"), sv("a1", "Waiting", depends_on=["d"]), ex(), con(), res("d"), ex(), con(),
    ),
    one("server/waiting-canceled", "cancel moves Waiting -> Canceled",
         sv("d"), sv("a1", "Waiting", depends_on=["d"]), cancel("a1"), con(), fin("d"), con()),
    one(
        "server/waiting-threshold",
        "released when the named activity's progress reaches the threshold (not before)",
        sv("p", type=PROGRESS_TYPE), sv("a1", "Waiting", progress_of="p", threshold=0.75),
        con(), prog("p", 0.5), con("h2"), prog("p", 0.75), con("h2"),
    ),
    one(
        "server/waiting-threshold-two-watchers",
        "two activities wait for the same activity's progress: each is released when it "
        "reaches its own threshold, the lower one first though created second",
        sv("p", type=PROGRESS_TYPE), sv("a1", "Waiting", progress_of="p", threshold=1.0),
        sv("a2", "Waiting", progress_of="p", threshold=0.5), con(), prog("p", 0.25),
        con("h2"), prog("p", 0.5), con("h2"), prog("p", 1.0), con("h3"),
    ),
    one(
        "server/blocked-approved",
        "approve moves Blocked -> Queued and publishes it",
        sv("a1", "Blocked"), con(), approve("a1"), con(),
    ),
    one(
        "server/blocked-approved-waiting",
        "approving with an unmet dependency moves Blocked -> Waiting",
        sv("d"), sv("a1", "Blocked", depends_on=["d"]), approve("a1"), con(), con("h2"),
        fin("d"), con("h2"),
    ),
    one("server/blocked-canceled", "cancel moves Blocked -> Canceled",
         sv("a1", "Blocked"), cancel("a1"), approve("a1"), con()),
    one(
        "server/cancel-during-execution",
        "canceled while In Progress, the handler's later finish never moves it: server "
        "Canceled is final",
        sv("a1"), con(), cancel("a1"), fin("a1"), query("a1"), con(),
    ),
    one(
        "server/cancel-during-execution-failed",
        "as above with a failed finish",
        sv("a1"), con(), cancel("a1"), fin("a1", "failed"), query("a1"),
    ),
    one(
        "server/redelivery-after-crash",
        "a crashed handler's unacknowledged activity is redelivered once, without a second "
        "transition, and finished by the new handler",
        sv("a1"), sv("a2"), con("h1"), crash("h1"), con("h2"), con("h3"), con("h4"),
        fin("a1", handler="h2"), fin("a2", handler="h3"), con("h5"),
    ),
    one(
        "server/crash-after-finish",
        "a handler that crashes after finishing has nothing to redeliver",
        sv("a1"), con(), fin("a1"), crash("h1"), con("h2"),
    ),
    one(
        "server/crash-after-cancel",
        "an activity canceled while running is not redelivered when its handler crashes",
        sv("a1"), con(), cancel("a1"), crash("h1"), con("h2"),
    ),
    one(
        "server/scheduled-direct",
        "release direct: a due Scheduled activity is published but stays Scheduled until a "
        "handler consumes it, Scheduled -> In Progress; no consume before deliver_after",
        sv("a1", "Scheduled", deliver_after=50, release="direct"), con(), adv(49), con(),
        query("a1"), adv(1), query("a1"), con(), fin("a1"),
    ),
    one(
        "server/scheduled-direct-created-due",
        "release direct, created already due: published at once, consumed Scheduled -> "
        "In Progress",
        adv(100), sv("a1", "Scheduled", deliver_after=10, release="direct"), query("a1"),
        con(), fin("a1", "failed"),
    ),
    one(
        "server/scheduled-direct-fifo",
        "direct and queued activities share one FIFO queue in publication order",
        sv("a1", "Scheduled", deliver_after=10, release="direct"), sv("a2"), adv(10),
        sv("a3", "Scheduled", deliver_after=5, release="direct"), con("h1"), con("h2"),
        con("h3"),
    ),
    one(
        "server/scheduled-direct-canceled",
        "a published Scheduled activity canceled before a handler takes it is never consumed",
        sv("a1", "Scheduled", deliver_after=10, release="direct"), adv(10), cancel("a1"), con(),
    ),
    one(
        "server/scheduled-direct-redelivery",
        "consumed Scheduled -> In Progress, then its handler crashes: redelivered without a move",
        sv("a1", "Scheduled", deliver_after=0, release="direct"), con("h1"), crash("h1"),
        con("h2"), fin("a1", handler="h2"), con("h1"),
    ),
    one(
        "server/waiting-direct",
        "release direct: a released Waiting activity is published but stays Waiting until a "
        "handler consumes it, Waiting -> In Progress",
        sv("d"), sv("a1", "Waiting", depends_on=["d"], release="direct"), con(), con("h2"),
        fin("d"), query("a1"), con("h2"), fin("a1", handler="h2"),
    ),
    one(
        "server/waiting-direct-threshold",
        "release direct with a threshold: published when progress reaches it, consumed Waiting "
        "-> In Progress",
        sv("p", type=PROGRESS_TYPE), sv("a1", "Waiting", progress_of="p", threshold=0.5,
                                         release="direct"),
        con(), prog("p", 0.25), con("h2"), prog("p", 0.5), query("a1"), con("h2"),
    ),
    one(
        "server/waiting-direct-dependency-failed",
        "release direct does not change cancellation: a failed dependency cancels it",
        sv("d"), sv("a1", "Waiting", depends_on=["d"], release="direct"), con(),
        fin("d", "failed"), con(),
    ),
    one(
        "server/waiting-direct-approved",
        "approving with an unmet dependency moves Blocked -> Waiting; with release direct it "
        "is then consumed Waiting -> In Progress",
        sv("d"), sv("a1", "Blocked", depends_on=["d"], release="direct"), approve("a1"), con(),
        fin("d"), query("a1"), con("h2"),
    ),
    one(
        "server/waiting-direct-canceled",
        "a released (published) Waiting activity canceled before consumption is never consumed",
        sv("d"), sv("a1", "Waiting", depends_on=["d"], release="direct"), con(), fin("d"),
        cancel("a1"), con(),
    ),
    one(
        "server/prefetch",
        "a handler holds at most one unacknowledged message",
        sv("a1"), sv("a2"), con(), con(), con("h2"),
    ),
    one(
        "server/prefetch-after-finish",
        "finish acknowledges the message: the handler may consume again",
        sv("a1"), sv("a2"), con("h1"), fin("a1"), con("h1"), fin("a2"), con("h1"),
    ),
    one(
        "server/redelivery-order",
        "a crashed handler's message goes back to the head of the queue, before later ones",
        sv("a1"), con("h1"), sv("a2"), sv("a3"), crash("h1"), con("h2"), fin("a1", handler="h2"),
        con("h2"),
    ),
    one(
        "server/approved-published-once",
        "an approved activity is published once: a second handler finds nothing",
        sv("a1", "Blocked"), approve("a1"), con("h1"), con("h2"), fin("a1"), con("h2"),
    ),
    one(
        "server/finish-by-other-handler",
        "only the handler holding an activity can finish it",
        sv("a1"), con("h1"), fin("a1", handler="h2"), fin("a1", handler="h1"),
    ),
    one(
        "server/waiting-threshold-and-dependency",
        "waiting for a dependency and a progress threshold: the threshold reached while the "
        "dependency is unmet releases nothing; progress falls back, the dependency succeeds, "
        "and only progress back at the threshold releases it",
        sv("p", type=PROGRESS_TYPE), sv("d"),
        sv("a1", "Waiting", depends_on=["d"], progress_of="p", threshold=0.5), con("h1"),
        con("h2"), prog("p", 0.5), prog("p", 0.25), fin("d", handler="h2"), con("h3"),
        prog("p", 0.75), con("h3"),
    ),
    one(
        "server/waiting-released-together",
        "two activities waiting for the same dependency are released by its success in "
        "creation order",
        sv("d"), sv("a1", "Waiting", depends_on=["d"]), sv("a2", "Waiting", depends_on=["d"]),
        con(), fin("d"), con("h2"), con("h3"),
    ),
]

# fmt: on
