"""What every simulator component shares: exact-time scheduling on SimPy, the record sink,
the counters.

Exact times. SimPy keeps ``now + delay``, and ``now + (t - now)`` is not always ``t`` in
floating point. An event meant for the absolute time ``t`` (a due time, the exchange a computed
schedule says comes next) is scheduled with ``exact_delay(now, t)``: the delay nudged by an ulp
or two until ``now + delay == t``, or, where no such float exists (``now`` has bits finer than
``t``'s last one), the smallest delay landing after ``t``. The model never acts *before* a time
it computed (a due activity is due when its event runs; a walk of planned times never stalls),
and ``env.now`` is the one clock every component and every record reads. The same float
operations run in the same order on every run, so the trace is the same byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from math import inf, nextafter
from typing import Any

import orjson
import simpy

from .result import SimulationInvariantError

__all__ = ["COUNTERS", "Record", "at", "exact_delay", "make_emit"]

Record = dict[str, Any]

#: Every named count of a run (``SimResult.counters``), in report order.
COUNTERS = (
    "created",
    "groups",
    "exchanges",
    "exchanges_urgent",
    "exchanges_regular",
    "exchanges_traced",
    "exchanges_idle",
    "pings",
    "pings_simulated",
    "pings_found",
    "deliveries",
    "results",
    "late_results",
    "redeliveries",
    "consumes",
    "acks",
    "dropped_messages",
    "lost_exchanges",
    "busy_rejections",
    "restarts",
    "reboots",
    "shutdowns",
    "offline_periods",
    "lost_results",
    "handler_crashes",
    "approvals",
    "cancels",
    "background_messages",
    "resynchronizations",
    "store_blackholes",
    "store_dropped",
    "set_intervals",
    "ping_loops_started",
)


def exact_delay(now: float, t: float) -> float:
    """The delay ``d`` with ``now + d == t`` in floating point, else the smallest one with
    ``now + d > t`` (0 when ``t`` is not in the future)."""
    if t <= now:
        return 0.0
    d = t - now
    for _ in range(8):  # one or two steps suffice; bounded all the same
        s = now + d
        if s < t:
            d = nextafter(d, inf)
        elif s > t:
            lower = nextafter(d, 0.0)
            if now + lower < t:
                break
            d = lower
        else:
            break
    return d


def at(env: simpy.Environment, t: float, callback: Callable[[simpy.Event], None]) -> None:
    """Call ``callback(event)`` at the absolute time ``t`` (now, if ``t`` is past; see the
    module docstring for the float care). Callbacks read the time from ``env.now``."""
    now = env.now
    if t > now:
        d = t - now
        if now + d != t:
            d = exact_delay(now, t)
        env.timeout(d).callbacks.append(callback)
    else:
        env.timeout(0.0).callbacks.append(callback)


def make_emit(
    write: Callable[[Record], None] | None,
    feed: Callable[[Record], list] | None,
    tick: Callable[[], object],
    *,
    write_line: Callable[[bytes], None] | None = None,
    feed_line: Callable[[bytes], list] | None = None,
) -> Callable[[Record], None]:
    """``emit(record)``: count (``tick()``, e.g. an ``itertools.count``'s ``__next__``: a C
    call), write, check. Specialised once: it runs for every record.

    ``write_line`` and ``feed_line`` (a line-encoding writer and the checker process): both
    take the record as one JSON line, so it is encoded once, here, for both. ``feed_line``
    with neither writer: the checker process hands its batches of lines to the writer
    (``CheckerProcess.tee``), or there is none.
    """
    if feed_line is not None and write_line is None and write is None:
        from ..trace.lines import LINE_OPTIONS, unwritable

        dumps = orjson.dumps

        def emit(rec: Record) -> None:
            tick()
            try:
                line = dumps(rec, option=LINE_OPTIONS)
            except TypeError as exc:
                raise unwritable(rec, exc) from None
            bad = feed_line(line)
            if bad:
                raise SimulationInvariantError(bad[0], bad[0].record)

    elif write_line is not None and feed_line is not None:
        # the branch above plus the write: kept as its own function rather than a test
        # inside one, as every variant here is, because it runs once per record
        from ..trace.lines import LINE_OPTIONS, unwritable

        dumps = orjson.dumps

        def emit(rec: Record) -> None:
            tick()
            try:
                line = dumps(rec, option=LINE_OPTIONS)
            except TypeError as exc:
                raise unwritable(rec, exc) from None
            write_line(line)
            bad = feed_line(line)
            if bad:
                raise SimulationInvariantError(bad[0], bad[0].record)

    elif write is not None and feed is not None:

        def emit(rec: Record) -> None:
            tick()
            write(rec)
            bad = feed(rec)
            if bad:  # (its record: a checker process reports a little behind)
                raise SimulationInvariantError(bad[0], bad[0].record)

    elif feed is not None:

        def emit(rec: Record) -> None:
            tick()
            bad = feed(rec)
            if bad:
                raise SimulationInvariantError(bad[0], bad[0].record)

    elif write is not None:

        def emit(rec: Record) -> None:
            tick()
            write(rec)

    else:

        def emit(rec: Record) -> None:
            tick()

    return emit
