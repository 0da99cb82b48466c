"""``client/...``: each allowed client transition through the life cycle that causes it, plus
scheduling, dependencies, thresholds, cancellation during execution, delivery order and
operation-id uniqueness.
"""

from __future__ import annotations

from .steps import (
    BULK,
    PROGRESS_TYPE,
    adv,
    approve,
    block,
    cancel,
    cl,
    con,
    ex,
    one,
    prog,
    query,
    res,
    sv,
)

__all__ = ["CLIENT"]

# fmt: off
CLIENT = [
    one(
        "client/queued-succeeded",
        "Queued -> In Progress at the exchange, -> Succeeded when the result arrives",
        cl("a1"), ex(), res("a1"), ex(), query("a1"),
    ),
    one(
        "client/queued-failed",
        "a failed operation-result moves In Progress -> Failed",
        cl("a1"), ex(), res("a1", "failed"), ex(),
    ),
    one(
        "client/result-needs-exchange",
        "a queued result changes nothing until the computer's next exchange carries it",
        cl("a1"), ex(), res("a1"), query("a1"), ex(),
    ),
    one(
        "client/other-computer-not-delivered",
        "an exchange delivers only the exchanging computer's activities",
        cl("a1", computer="c1"), cl("a2", computer="c2"), ex("c2"), ex("c1"),
    ),
    one("client/queued-canceled", "cancel moves Queued -> Canceled", cl("a1"), cancel("a1"), ex()),
    one(
        "client/queued-blocked-approved",
        "block moves Queued -> Blocked (not delivered), approve moves it back to Queued",
        cl("a1"), block("a1"), ex(), approve("a1"), ex(),
    ),
    one(
        "client/scheduled-not-before",
        "a Scheduled client activity stays Scheduled until an exchange at or after deliver_after",
        cl("a1", "Scheduled", deliver_after=100), ex(), adv(99), ex(), adv(1), query("a1"), ex(),
    ),
    one(
        "client/scheduled-canceled",
        "cancel moves Scheduled -> Canceled; it is never delivered",
        cl("a1", "Scheduled", deliver_after=10), cancel("a1"), adv(20), ex(),
    ),
    one(
        "client/waiting-released-queued",
        "a dependency's success on another computer releases Waiting -> Queued",
        cl("d", computer="c2"), cl("a1", "Waiting", depends_on=["d"]), ex("c1"), ex("c2"),
        res("d", computer="c2"), ex("c2"), ex("c1"),
    ),
    one(
        "client/waiting-direct-delivery",
        "released during its own computer's exchange, Waiting goes straight to In Progress",
        cl("d"), cl("a1", "Waiting", depends_on=["d"]), ex(), res("d"), ex(), res("a1"), ex(),
    ),
    one(
        "client/waiting-all-dependencies",
        "Waiting is released only when every dependency has succeeded",
        cl("d1"), cl("d2"), cl("a1", "Waiting", computer="c2", depends_on=["d1", "d2"]),
        ex(), res("d1"), ex(), ex("c2"), res("d2"), ex(), ex("c2"),
    ),
    one(
        "client/waiting-dependency-failed",
        "a failed dependency cancels the Waiting activity",
        cl("d"), cl("a1", "Waiting", computer="c2", depends_on=["d"]), ex(), res("d", "failed"),
        ex(), ex("c2"),
    ),
    one(
        "client/waiting-dependency-canceled",
        "a canceled dependency cancels the Waiting activity, and its own dependents in turn",
        cl("d"), cl("a1", "Waiting", depends_on=["d"]), cl("a2", "Waiting", depends_on=["a1"]),
        cancel("d"), ex(),
    ),
    one(
        "client/waiting-canceled",
        "cancel moves Waiting -> Canceled",
        cl("d"), cl("a1", "Waiting", depends_on=["d"]), cancel("a1"), ex(), res("d"), ex(),
    ),
    one(
        "client/waiting-threshold",
        "a Waiting activity is released when the named activity's progress reaches the threshold",
        sv("p", type=PROGRESS_TYPE), con(),
        cl("a1", "Waiting", progress_of="p", threshold=0.5),
        prog("p", 0.25), ex(), prog("p", 0.5), ex(),
    ),
    one(
        "client/blocked-approved",
        "a Blocked activity is not delivered before approval; approve moves it to Queued",
        cl("a1", "Blocked"), ex(), adv(60), ex(), approve("a1"), ex(),
    ),
    one(
        "client/blocked-approved-waiting",
        "approving with an unmet dependency moves Blocked -> Waiting, released on success",
        cl("d"), cl("a1", "Blocked", computer="c2", depends_on=["d"]), approve("a1"), ex("c2"),
        ex(), res("d"), ex(), ex("c2"),
    ),
    one(
        "client/blocked-approved-dependency-met",
        "approving when every dependency already succeeded moves Blocked -> Queued",
        cl("d"), ex(), res("d"), ex(), cl("a1", "Blocked", depends_on=["d"]), approve("a1"), ex(),
    ),
    one(
        "client/blocked-approved-dependency-failed",
        "approving after a dependency failed moves Blocked -> Waiting, then the release rule "
        "cancels it",
        cl("d"), ex(), res("d", "failed"), ex(), cl("a1", "Blocked", depends_on=["d"]),
        approve("a1"), ex(),
    ),
    one("client/blocked-canceled", "cancel moves Blocked -> Canceled", cl("a1", "Blocked"),
         cancel("a1"), approve("a1")),
    one(
        "client/cancel-during-execution-succeeded",
        "canceled while In Progress the client keeps running; its success is taken under "
        "result-wins and ignored under cancel-sticky",
        cl("a1"), ex(), cancel("a1"), res("a1"), ex(), query("a1"),
    ),
    one(
        "client/cancel-during-execution-failed",
        "as above with a failed result",
        cl("a1"), ex(), cancel("a1"), res("a1", "failed"), ex(), query("a1"),
    ),
    one(
        "client/late-result-only-once",
        "after a canceled activity took its late result, a repeated result changes nothing",
        cl("a1"), ex(), cancel("a1"), res("a1"), ex(), res("a1", "failed"), ex(), cancel("a1"),
    ),
    one(
        "client/canceled-before-delivery-ignores-result",
        "a result for an activity canceled before it ran is never accepted",
        cl("a1"), cl("a2"), ex(), cancel("a2"), res("a1"), ex(),
    ),
    one(
        "client/waiting-direct",
        "release direct: released outside its computer's exchange, Waiting stays Waiting "
        "until that exchange delivers it, Waiting -> In Progress",
        cl("d", computer="c2"), cl("a1", "Waiting", depends_on=["d"], release="direct"),
        ex("c2"), res("d", computer="c2"), ex("c2"), query("a1"), ex("c1"), res("a1"), ex(),
    ),
    one(
        "client/scheduled-direct",
        "release direct changes nothing for a client Scheduled activity (always direct)",
        cl("a1", "Scheduled", deliver_after=10, release="direct"), ex(), adv(10), query("a1"),
        ex(),
    ),
    one(
        "client/operation-id-uniqueness",
        "every delivery carries an operation-id never used before, across computers and "
        "after results",
        cl("a1"), cl("a2", computer="c2"), ex(), ex("c2"), res("a1"), ex(), cl("a3"), ex(),
        res("a2", computer="c2"), ex("c2"), cl("a4", computer="c2"), cl("a5"), ex("c2"), ex(),
        res("a3"), res("a5"), ex(), cl("a6"), ex(),
    ),
    one(
        "client/delivery-order",
        "an exchange delivers a computer's activities in creation order",
        cl("a1"), cl("a2", computer="c2"), cl("a3"), cl("a4", "Scheduled", deliver_after=0),
        cl("a5"), ex(),
    ),
    one(
        "client/bulk-delivery",
        f"one exchange delivers every deliverable activity, {BULK} of them (no page limit)",
        *(cl(f"a{i}") for i in range(1, BULK + 1)), ex(), ex(),
    ),
    one(
        "client/scheduled-fractional",
        "deliver_after is a real number of seconds: not delivered 0.25 s before it, then at it",
        cl("a1", "Scheduled", deliver_after=30.5), adv(30.25), ex(), adv(0.25), ex(),
    ),
    one(
        "client/result-from-wrong-computer",
        "an operation-result sent by a computer the operation was not delivered to is refused",
        cl("a1"), ex(), res("a1", computer="c2"), ex("c2"), query("a1"),
    ),
    one(
        "client/result-twice",
        "a second result for the same operation-id changes nothing",
        cl("a1"), ex(), res("a1"), ex(), res("a1", "failed"), ex(),
    ),
    one(
        "client/unknown-operation-id",
        "a result for an operation-id never delivered is not accepted",
        cl("a1"), {"cmd": "result", "computer": "c1", "operation_id": 987654, "status": "failed"},
        ex(),
    ),
    one(
        "client/dependent-of-settled-dependency",
        "a dependency that already succeeded, and released its first dependent then, releases "
        "a second one at that one's create",
        cl("d"), cl("a1", "Waiting", computer="c2", depends_on=["d"]), ex(), res("d"), ex(),
        cl("a2", "Waiting", computer="c2", depends_on=["d"]), ex("c2"),
    ),
    one(
        "client/released-at-exchange-delivers-nothing-else",
        "an exchange that delivers a Waiting activity released by its own result delivers "
        "nothing else that is not deliverable: not a Blocked one, a Scheduled one not yet due "
        "or one still Waiting",
        cl("d"), cl("b", "Blocked"), cl("s", "Scheduled", deliver_after=100),
        cl("w", "Waiting", depends_on=["b"]), cl("a1", "Waiting", depends_on=["d"]), ex(),
        res("d"), ex(), query(),
    ),
]

# fmt: on
