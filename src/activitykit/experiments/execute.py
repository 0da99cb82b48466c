"""Running the runs of an experiment: one run as a picklable task, and two executors.

``execute`` runs one scenario with one seed and always returns a row: a run that raises is
recorded with its error text (``status == "failed"``), never lost, so one bad corner of a
grid does not sink a sweep. The serial executor runs tasks in this process, one after the
other; the dask executor spreads them over a ``LocalCluster`` (one single-threaded worker
process per core: the simulator is pure Python, so threads would fight over the GIL) or over
an existing scheduler. Both yield rows as runs finish; results do not depend on which
executor or how many workers ran them, because each run's randomness comes from its seed.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, error_text
from ..scenario.schema import Scenario
from .grid import RunSpec

__all__ = ["RunFn", "Task", "default_run", "execute", "run_dask", "run_serial"]

#: Runs one scenario (its seed already set) and returns its key figures. ``run_dir`` is
#: where to keep the run's files, or None to keep nothing.
RunFn = Callable[[Scenario, Path | None], Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class Task:
    """Everything a worker needs for one run; picklable."""

    spec: RunSpec
    scenario: Scenario
    run_dir: Path | None = None


def default_run(scenario: Scenario, run_dir: Path | None) -> dict[str, float]:
    """Run the simulator through ``activitykit.runner`` and return its key figures.

    Key figures exclude the scenario's warm-up period (``scenario.warmup``). A run the
    online checker found violations in raises: it is recorded as failed, with the first
    violation, rather than contributing figures of a broken trace.
    """
    from ..runner import run_scenario

    if run_dir is not None:
        scenario = scenario.model_copy(
            update={"output": scenario.output.model_copy(update={"report": False})}
        )
    result = run_scenario(scenario, run_dir, seed=scenario.seed, progress=False)
    v = result.summary["violations"]
    if v["count"]:  # figures of a broken run must not enter an interval
        first = v["first"][0] if v["first"] else ""
        raise RuntimeError(f"online checker found {v['count']} violation(s); first: {first}")
    if result.error is not None:
        raise result.error
    return result.key_figures


def execute(task: Task, run_fn: RunFn | None = None) -> dict[str, Any]:
    """Run one task; return its row (figures under ``"figures"``), failed or not."""
    spec = task.spec
    fn = run_fn or default_run
    scenario = task.scenario.model_copy(update={"seed": spec.seed})
    started, cpu_started = time.perf_counter(), time.process_time()
    figures: dict[str, float] = {}
    status, error = "ok", ""
    try:
        if task.run_dir is not None:
            task.run_dir.mkdir(parents=True, exist_ok=True)
        figures = {str(k): float(v) for k, v in fn(scenario, task.run_dir).items()}
    except Exception as exc:  # a failed run is a result, not a crash of the sweep
        status, error = "failed", error_text(exc)
    return _row(
        spec,
        status=status,
        error=error,
        wall_time=time.perf_counter() - started,
        cpu_time=time.process_time() - cpu_started,
        worker=f"{platform.node()}:{os.getpid()}",
        figures=figures,
    )


def _lost(task: Task, exc: BaseException) -> dict[str, Any]:
    """The row of a run whose worker died (or that dask could not run at all)."""
    return _row(
        task.spec,
        status="failed",
        error=f"worker lost: {error_text(exc)}",
        wall_time=float("nan"),
        cpu_time=float("nan"),
        worker="",
        figures={},
    )


def _row(spec: RunSpec, **outcome: Any) -> dict[str, Any]:
    """One run's row: the run's identity from ``spec``, then what became of it."""
    return {
        "run_id": spec.run_id,
        "point": spec.point,
        "replication": spec.replication,
        "seed": spec.seed,
        **outcome,
    }


#: Imported once by the fork server, so that every worker starts with them loaded.
_PRELOAD = (
    "distributed",
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.pandas_compat",
    "activitykit.experiments.execute",
    "activitykit.runner",
    "activitykit.sim",
    "activitykit.check",
    "activitykit.reports.metrics",
)


def _start_fork_server() -> str:
    """Start the fork server now, with our preload list; return the start method to use.

    The server imports ``_PRELOAD`` (about a second) in its own process, on another core,
    while this process goes on importing dask and starting the scheduler: the two overlap
    instead of adding up. A server already running (an earlier sweep in this process) is
    reused as it is. Where there is no fork server (Windows), spawn it is.
    """
    import multiprocessing
    import multiprocessing.forkserver

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    # dask sets its own preload list later (get_mp_context); once the server runs, a new
    # list has no effect, so ours, set first, is the one that counts
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(_PRELOAD))
    multiprocessing.forkserver.ensure_running()
    return "forkserver"


def _local_cluster(workers: int) -> Any:
    """A LocalCluster whose worker processes fork from a preloaded fork server.

    With dask's default (spawn) every worker imports Python, dask, pandas and the simulator
    from scratch: several seconds per sweep, which a sweep of short runs never wins back.
    A fork server imports them once; its forks start with everything loaded, and later
    sweeps in the same process (a notebook) reuse it.
    """
    method = _start_fork_server()  # before importing dask: the two import side by side

    import dask
    from distributed import LocalCluster

    settings = {
        "distributed.worker.multiprocessing-method": method,
        # a run that kills its worker (out of memory, mostly) would do it again: retry once
        # rather than dask's three times, then record it as failed
        "distributed.scheduler.allowed-failures": 1,
        # the statistical profiler samples every worker's stack 100 times a second: about
        # a fifth more CPU per run of pure-Python simulation, for a dashboard nobody sees
        "distributed.worker.profile.enabled": False,
        # every scheduler, nanny and worker wakes its event loop every 20 ms to time it, and
        # samples CPU and memory every 0.5 s: in a sweep on all cores that is CPU taken from
        # the runs (measured: half of this process's 1.2 CPU s over a 15 s sweep)
        "distributed.admin.tick.interval": "1s",
        "distributed.admin.system-monitor.interval": "5s",
        # a worker gets its next run when it finishes one, not while it runs one: runs last
        # seconds, so the round trip costs nothing, and no run waits behind a busy worker
        # while another worker idles at the end of the sweep
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with dask.config.set(settings):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: never fight over 8787
            silence_logs=logging.ERROR,
        )


#: Seconds to reach a scheduler named by address before the sweep is refused. A scheduler
#: on the network answers in milliseconds; dask's own default (30 s, retrying) only delays
#: the message that the address is wrong.
CONNECT_TIMEOUT = 5.0


def _probe(where: str, scheme: str, host: str, port: int) -> None:
    """Refuse at once an address nothing listens on, and within ``CONNECT_TIMEOUT`` one whose
    listener stays silent: a dask scheduler speaks first (its handshake) on plain TCP.
    distributed's own connect would retry either until its timeout, several times over."""
    import socket

    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise InputError(
            f"{where}: cannot connect to {host}:{port} ({reason}); is a dask scheduler "
            "running there (`dask scheduler`)? Leave --scheduler out to run on this machine"
        ) from None
    with sock:
        if scheme != "tcp":  # TLS: the client speaks first
            return
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        except OSError:  # timed out or reset
            first = b""
    if not first:
        raise InputError(
            f"{where}: {host}:{port} accepts connections but sent no dask handshake within "
            f"{CONNECT_TIMEOUT:g} s; is it the scheduler's address (tcp://host:8786)? Leave "
            "--scheduler out to run on this machine"
        )


def _connect(address: str) -> Any:
    """A dask Client of the scheduler at ``address``, or an ``InputError`` within a few
    ``CONNECT_TIMEOUT`` saying why not (a bad address, nothing listening, no answer)."""
    from distributed import Client
    from distributed.comm.addressing import parse_address, parse_host_port

    where = f"--scheduler {address}"
    try:
        scheme, loc = parse_address(address, strict=False)
        host, port = (
            parse_host_port(loc, default_port=8786) if scheme in ("tcp", "tls") else ("", 0)
        )
    except ValueError as exc:
        raise InputError(
            f"{where}: not a scheduler address ({exc}); e.g. tcp://host:8786"
        ) from None
    if host:
        _probe(where, scheme, host, port)
    import dask

    timeout = f"{CONNECT_TIMEOUT}s"
    try:
        # the handshake after the connect has its own timeout (30 s by default)
        with dask.config.set({"distributed.comm.timeouts.connect": timeout}):
            return Client(address, timeout=timeout)
    # whatever listens there did not complete dask's handshake: a timeout, a closed
    # connection, or bytes that are no dask message (a web server's answer read as a frame
    # length makes distributed allocate exabytes: MemoryError)
    except Exception as exc:
        reason = f" ({type(exc).__name__})" if isinstance(exc, OSError | TimeoutError) else ""
        raise InputError(
            f"{where}: something listens there but did not answer as a dask scheduler within "
            f"{CONNECT_TIMEOUT:g} s{reason}; is it the scheduler's address (tcp://host:8786)? "
            "Leave --scheduler out to run on this machine"
        ) from None


def run_serial(tasks: Sequence[Task], run_fn: RunFn | None = None) -> Iterator[dict[str, Any]]:
    """Run the tasks here, one after the other."""
    for task in tasks:
        yield execute(task, run_fn)


def run_dask(
    tasks: Sequence[Task],
    run_fn: RunFn | None = None,
    *,
    workers: int = 2,
    scheduler: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Run the tasks on dask.distributed, yielding rows as they finish.

    ``scheduler`` is the address of a running scheduler (``tcp://host:8786``); without it a
    LocalCluster of ``workers`` single-threaded processes is started and stopped here.
    """
    if not tasks:
        return
    cluster = _local_cluster(workers) if scheduler is None else None  # before any dask import

    from distributed import Client, as_completed

    client = _connect(scheduler) if cluster is None else Client(cluster)
    try:
        by_key = {}
        futures = []
        for task in tasks:
            fut = client.submit(execute, task, run_fn, key=f"run-{task.spec.run_id}", pure=False)
            by_key[fut.key] = task
            futures.append(fut)
        for fut in as_completed(futures):
            task = by_key[fut.key]
            try:
                row = fut.result()
            except Exception as exc:  # KilledWorker, CommClosedError, ...
                row = _lost(task, exc)
            fut.release()
            yield row
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
