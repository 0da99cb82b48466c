"""A well-formed synthetic trace built with numpy, for benchmarks and report tests.

The simulator is the real source of traces; this generator exists so the reporting layer
can be exercised at sizes (1M activities) and shapes (dependencies, bulk groups, handler
crashes, unfinished work) on demand, in seconds, without running a simulation. Every
activity follows a legal path of docs/spec.md with the causal records the trace format asks for:

- client: created Queued -> (exchange + deliver) In Progress -> (exchange + result)
  Succeeded or Failed;
- server: created Queued + enqueue -> consume In Progress -> Succeeded/Failed + ack;
- one activity in ten is created Waiting on the one before it (``depends_on``) and is
  released to Queued when that one ends (it is Canceled instead if its dependency failed);
- the first ``groups * group_size`` activities are children of ``group`` parents whose
  ``progress`` is reported as children end; the first child of each group after the first
  waits on the previous group's progress with a threshold of one half;
- records after ``duration`` are cut off, so the tail is unfinished, as in a real run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..trace.schema import FIELDS

__all__ = ["synthetic_trace"]

_CLIENT_TYPES = ("ExecuteScriptRequest", "ChangePackagesRequest", "RestartRequest")
_SERVER_TYPES = ("GenerateUsgReportActivity", "ArchiveRequest")


def synthetic_trace(
    n: int,
    *,
    seed: int = 0,
    duration: float = 3600.0,
    handlers: int = 4,
    group_size: int = 100,
    groups: int = 5,
) -> pd.DataFrame:
    """Return a records DataFrame (``FIELDS`` columns, time order) for ``n`` activities."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"a{i}" for i in range(n)], dtype=object)
    created = np.sort(rng.uniform(0, duration * 0.9, n))
    server = rng.random(n) < 0.3
    kind = np.where(server, "server", "client").astype(object)
    typ = np.where(
        server,
        np.array(_SERVER_TYPES, dtype=object)[rng.integers(0, len(_SERVER_TYPES), n)],
        np.array(_CLIENT_TYPES, dtype=object)[rng.integers(0, len(_CLIENT_TYPES), n)],
    )
    computer = np.where(server, None, np.char.add("c", (np.arange(n) % 997).astype(str)))
    computer = computer.astype(object)
    failed = rng.random(n) < 0.05

    parent = np.full(n, None, dtype=object)
    n_groups = min(groups, n // max(group_size, 1))
    members = np.arange(n_groups * group_size)
    parent[members] = np.char.add("g", (members // group_size).astype(str)).astype(object)
    # The first child of each group after the first waits on the previous group's progress.
    waiter_ix = np.arange(1, n_groups) * group_size
    is_waiter = np.zeros(n, dtype=bool)
    is_waiter[waiter_ix] = True

    dep = np.zeros(n, dtype=bool)
    dep[5::10] = True  # waits on the activity before it
    dep &= ~is_waiter & ~np.r_[False, is_waiter[:-1]]
    to_start = np.where(server, rng.exponential(10.0, n), rng.exponential(60.0, n))
    run = np.where(server, rng.exponential(30.0, n), rng.exponential(120.0, n))
    start = created + to_start
    final = start + run
    wait_end = np.full(n, np.nan)
    dep_ix = np.flatnonzero(dep)
    wait_end[dep] = np.maximum(final[dep_ix - 1], created[dep])
    start[dep] = wait_end[dep] + to_start[dep]
    final[dep] = start[dep] + run[dep]
    dep_canceled = dep & np.r_[False, failed[:-1]]
    end_state = np.where(failed, "Failed", "Succeeded").astype(object)
    end_state[dep_canceled] = "Canceled"
    ends = np.where(dep_canceled, wait_end, final)
    half = max(group_size // 2, 1)
    for k, w in enumerate(waiter_ix, start=1):  # one step per group: a handful
        prev = np.sort(ends[(k - 1) * group_size : k * group_size])
        wait_end[w] = max(prev[half - 1], created[w])
        start[w] = wait_end[w] + to_start[w]
        final[w] = start[w] + run[w]
        ends[w] = final[w]

    cols: dict[str, list[np.ndarray]] = {name: [] for name in FIELDS}
    seq: list[np.ndarray] = []  # tie-break so same-t records keep cause-before-effect order

    def add(t: np.ndarray, order: int, **fields: object) -> None:
        m = len(t)
        cols["t"].append(np.asarray(t, dtype=float))
        seq.append(np.full(m, order))
        for name in FIELDS:
            if name == "t":
                continue
            v = fields.get(name)
            cols[name].append(
                np.asarray(v, dtype=object) if isinstance(v, np.ndarray) else np.full(m, v, object)
            )

    start_state = np.where(dep | is_waiter, "Waiting", "Queued").astype(object)
    depends = np.full(n, None, dtype=object)
    for i, d in zip(dep_ix, ids[dep_ix - 1], strict=True):  # lists cannot be broadcast
        depends[i] = [d]
    prog_of = np.full(n, None, dtype=object)
    prog_of[waiter_ix] = np.char.add("g", (waiter_ix // group_size - 1).astype(str))
    threshold = np.full(n, np.nan)
    threshold[waiter_ix] = half / group_size
    add(
        created,
        0,
        event="created",
        activity=ids,
        kind=kind,
        type=typ,
        computer=computer,
        state=start_state,
        depends_on=depends,
        parent=parent,
        progress_of=prog_of,
        threshold=threshold,
    )
    if n_groups:
        add(
            created[np.arange(n_groups) * group_size],
            -1,
            event="group",
            activity=np.char.add("g", np.arange(n_groups).astype(str)).astype(object),
            type="BulkOperation",
            children=np.full(n_groups, group_size, dtype=object),
        )
    cancel_t = wait_end[dep_canceled]
    add(cancel_t, 13, event="cancel", activity=ids[dep_canceled])
    add(cancel_t, 14, event="transition", activity=ids[dep_canceled],
        **{"from": "Waiting", "to": "Canceled"})  # fmt: skip
    live_dep = (dep | is_waiter) & ~dep_canceled
    add(wait_end[live_dep], 15, event="transition", activity=ids[live_dep],
        **{"from": "Waiting", "to": "Queued"})  # fmt: skip
    live = ~dep_canceled
    cl = live & ~server
    sv = live & server
    add(created[sv], 4, event="enqueue", activity=ids[sv])
    opid = np.arange(n, dtype=np.int64) + 1
    add(start[cl], 5, event="exchange", computer=computer[cl], urgent=False)
    add(start[cl], 6, event="deliver", activity=ids[cl], computer=computer[cl],
        operation_id=opid[cl].astype(object))  # fmt: skip
    handler = np.char.add("h", (np.arange(n) % handlers).astype(str)).astype(object)
    add(start[sv], 6, event="consume", activity=ids[sv], handler=handler[sv], attempt=1)
    add(start[live], 7, event="transition", activity=ids[live],
        **{"from": "Queued", "to": "In Progress"})  # fmt: skip
    status = np.where(failed, "failed", "succeeded").astype(object)
    add(final[cl], 8, event="exchange", computer=computer[cl], urgent=True)
    add(final[cl], 9, event="result", activity=ids[cl], computer=computer[cl],
        operation_id=opid[cl].astype(object), status=status[cl])  # fmt: skip
    add(final[live], 10, event="transition", activity=ids[live],
        **{"from": "In Progress", "to": end_state[live]})  # fmt: skip
    add(final[sv], 11, event="ack", activity=ids[sv])
    if n_groups:
        # group progress: share of children final, reported when each child ends
        m_ends = ends[members]
        grp = members // group_size
        order = np.lexsort((m_ends, grp))
        rank = np.empty(len(members), dtype=np.int64)
        rank[order] = np.arange(len(members)) % group_size + 1
        add(m_ends, 12, event="progress",
            activity=np.char.add("g", grp.astype(str)).astype(object),
            value=(rank / group_size).astype(object))  # fmt: skip

    t = np.concatenate(cols["t"])
    order = np.lexsort((np.concatenate(seq), t))
    keep = order[t[order] <= duration]
    data = {name: np.concatenate(cols[name])[keep] for name in FIELDS}
    frame = pd.DataFrame(data)
    frame["t"] = frame["t"].astype(float)
    for name in ("operation_id", "attempt", "children"):
        frame[name] = pd.array(frame[name].to_numpy(), dtype="Int64")
    for name in ("value", "deliver_after", "threshold"):
        frame[name] = frame[name].astype(float)
    frame["urgent"] = frame["urgent"].astype("boolean")
    return frame
