"""The server's activity semantics, written once, for every clock.

``ActivityStore`` is the one implementation of what Landscape's server does with activities.
The simulator (SimPy time), the conformance reference system (a clock moved by ``advance``)
and the live harness (wall-clock time under asyncio, real Landscape Clients, real RabbitMQ)
all drive this same object. It never reads a clock and never blocks: every call takes the
current time ``t`` (seconds on the driver's clock), and a future wake-up is requested from the
driver.

Driver duties (constructor arguments, keyword-only)::

    store = ActivityStore(
        profile,                        # "result-wins" (default) | "cancel-sticky"
        emit=sink,                      # sink(record): every TRACE record, in causal order
        at=scheduler,                   # scheduler(t, callback): call callback(t) at time t
        on_deliverable=wake,            # wake(computer, t): it has something to deliver now
        on_publish=publish,             # publish(activity, t): put a message on the broker
        on_dependency_failure="cancel", # or "keep-waiting"
        strict=True,                    # raise IllegalMove on a move the machine forbids
    )

- ``emit`` gets plain dicts with keys in ``activitykit.trace.FIELDS`` order (``created``,
  ``transition`` with ``cause``, ``deliver``, ``result``, ``consume``, ``enqueue``,
  ``approve``, ``cancel``, ``progress``, ``group``). Exchanges, acks and faults belong to the
  driver's fleet and broker, which write those records themselves.
- ``at`` is asked only for times after ``t`` (a Scheduled activity's due time). In SimPy:
  ``env.timeout(t - env.now)``; under asyncio: ``loop.call_at``; in the reference: the next
  ``advance`` that reaches it.
- ``on_deliverable(computer, t)`` fires when a client activity of ``computer`` becomes
  deliverable outside an exchange of that computer (created Queued, due, released, approved).
  The simulator wakes that computer's ping schedule; a live server answers its next ping with
  ``messages: true``.
- ``on_publish(activity, t)`` fires when a server activity must be published (it already wrote
  the ``enqueue`` record). The broker carries the message ``(activity, activity.gen)``; which
  handler gets it, and when, is the broker's business.

Calls (all take ``t`` first; ``a`` is an ``Activity``, ``store.get(id)`` finds one; a call the
semantics forbid raises ``Refused`` with the reason and changes nothing):

- ``create(t, id, kind, type, state, computer=, cname=, group=, deliver_after=, due=,
  depends_on=, progress_of=, threshold=, parent=, release=, extra=) -> Activity``: in a start
  state. ``due`` (default ``deliver_after``) is when a Scheduled one comes due: a server one
  then moves to Queued and is published, a client one becomes deliverable (the next exchange
  moves it Scheduled -> In Progress). ``release="direct"``: a due or released activity keeps
  its state until it is delivered or consumed. ``extra`` is the driver's own data.
- ``create_group(t, id, type, children) -> Group``: a bulk operation's parent; children name it
  in ``parent``; its progress is the share of them in a final state.
- ``approve(t, a)`` (Blocked -> Queued, or -> Waiting while a dependency is unmet),
  ``block(t, a)`` (Queued -> Blocked), ``cancel(t, a)`` (any state the machine allows;
  ``may_cancel(a)`` asks first), ``progress(t, a, value)`` (a running activity's progress).
- ``exchange(t, computer, results) -> (delivered, answers)``: the operation-results
  ``(operation_id, status)`` the computer sends, in order, then every deliverable activity of
  it in creation order, each -> In Progress with a fresh operation-id (``a.op``). A client
  activity released by a result of this very exchange is delivered directly
  (Waiting -> In Progress). ``has_deliverable(t, computer, seen=None)`` says whether an
  exchange would deliver something (``seen``: as a ping service's view of time ``seen``).
- ``consume(t, a, gen, handler, redelivered=False) -> bool``: the broker handed the message
  to ``handler``; False when it is stale (canceled, blocked, republished): ack and drop it.
  ``consumable(a, gen)`` asks without consuming (what a crashed handler's broker requeues).
- ``finish(t, a, status) -> bool``: the handler's result; True if it settled the activity.

Semantics decided here, once: the release rule (after every call the Waiting activities whose
dependencies or progress changed are judged, in creation order: a dependency Failed/Canceled
cancels, all Succeeded plus progress at the threshold releases), settling under both
profiles (``result-wins``: a client activity moved In Progress -> Canceled takes one late
result; ``cancel-sticky`` and server activities: Canceled is final), operation-ids unique per
store, and legality asked of ``activitykit.model``.

The methods ``_publishes_when_due``, ``_deliverable``, ``_dependency_verdict``, ``_settle``,
``_new_operation_id`` and ``_may_cancel`` are the seams the conformance mutants
(``examples/iut/mutants/``) override, one realistic bug each.
"""

from .activity import ENDED, OPEN, START, Activity, Group, Refused
from .store import RELEASE_MODES, ActivityStore, IllegalMove

__all__ = [
    "ENDED",
    "OPEN",
    "RELEASE_MODES",
    "START",
    "Activity",
    "ActivityStore",
    "Group",
    "IllegalMove",
    "Refused",
]
