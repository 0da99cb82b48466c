"""Report figures drawn by worker processes that were started before they were needed.

The eight figures of a report cost about three seconds of CPU, most of it matplotlib laying
out text, which no setting makes much cheaper; importing matplotlib costs most of another.
``activitykit run`` starts a ``FigurePool`` while it simulates (``LaterPool``: at once when
the worker can be forked with the run's imports, else once the simulation has run for a
second): one worker imports matplotlib and the figure code
meanwhile, on the other core, and forks the others, and once the run is summarised they draw
the figures from a copy of the run's tables (``early_view``, ``figure_tables``) while this
process writes the report's tables and exports. The PNG files are the ones
``figures.figure_png`` draws in this process, byte for byte (tests/test_reports_render.py).

A machine with a single usable CPU gets no pool (``FigurePool.wanted``): the workers would
only take turns with the simulation.

A pool's worker also runs a function it is sent (``FigurePool.call``): ``activitykit run``
sends it the run's records once, and the worker summarises the run and writes its whole
report, with pandas and matplotlib imported long before; its own figures are then drawn by
children it forks with the run in memory (``ForkedPool``), so the records are handed over
once (a file the worker reads and removes at once) and the figures' tables not at all.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._fork import Forked
    from .run import RunData

__all__ = [
    "DRAW_ORDER",
    "EARLY_FIGURES",
    "FIGURE_NAMES",
    "FigurePool",
    "ForkedPool",
    "LaterPool",
    "early_view",
    "figure_tables",
    "render_png",
    "shown_figures",
    "with_tables",
]

#: The report's figures in section order: the file stem of each, ``figures.<stem>_figure``
#: draws it (``figures.FIGURES``).
FIGURE_NAMES: tuple[str, ...] = (
    "throughput",
    "latency",
    "latency_over_time",
    "occupancy",
    "queue",
    "exchange",
    "graph",
    "bulk_progress",
)
#: The same figures in the order a pool is given them: the ``EARLY_FIGURES`` first, as their
#: view is ready first, and the longest to draw first (on
#: bench-fleet, in seconds: latency 1.0, latency_over_time 0.6, graph 0.5, throughput,
#: occupancy and queue 0.3 each, exchange 0.2, bulk_progress 0.05), so that the workers end
#: together instead of one drawing the longest while the other is done. Page order stays
#: ``FIGURE_NAMES``.
DRAW_ORDER: tuple[str, ...] = (
    "latency",
    "latency_over_time",
    "graph",
    "throughput",
    "occupancy",
    "queue",
    "exchange",
    "bulk_progress",
)


def shown_figures(run: RunData) -> tuple[str, ...]:
    """The figures of ``FIGURE_NAMES`` that ``run`` has something to show in, in that order.

    The dependency graph needs an edge (``RunData.has_edges``) and the bulk figure a
    watched parent or a threshold: without, each would be a picture of nothing (unconnected
    nodes, empty axes), and the report's section says so in words instead. Every other
    figure is always drawn: an empty run's figures say what they lack themselves.
    """
    progress, thresholds = run.bulk
    hidden = set()
    if not run.has_edges:
        hidden.add("graph")
    if progress.empty and thresholds.empty:
        hidden.add("bulk_progress")
    return tuple(name for name in FIGURE_NAMES if name not in hidden)


def render_png(name: str, run: RunData) -> bytes:
    """Figure ``name`` of ``figures.FIGURES`` as PNG bytes (what either way of drawing runs)."""
    from .figures import FIGURES, figure_png

    # The figure is dropped, not cleared: the cycle collector frees it, and ``clear`` would
    # first remake every axes' ticks and defaults (a tenth of drawing a figure).
    return figure_png(FIGURES[name](run))


#: The figures that read only the activity table, the measures (the summary's, cached on
#: the run) and the run's settings: their view (``early_view``) is ready as soon as the run
#: is summarised, so a pool draws them while this process computes the other figures'
#: tables (``figure_tables``). They are the longest two, first in ``DRAW_ORDER``.
EARLY_FIGURES: frozenset[str] = frozenset({"latency", "latency_over_time"})


def early_view(run: RunData) -> RunData:
    """``run`` without its records, as the ``EARLY_FIGURES`` read it: the activity table,
    the measures and the settings (the records are most of a run's memory, and a worker
    has no use for them)."""
    from dataclasses import replace

    view = replace(
        run, trace=run.trace.iloc[:0], summary={}, scenario=None, end=run.t_end, _throughput={}
    )
    view.__dict__["measures"] = run.measures
    return view


def figure_tables(run: RunData) -> dict[str, Any]:
    """Every table the other figures read, computed here and cached on ``run`` (the report's
    tables use them too): what ``with_tables`` adds to an ``early_view`` for a worker to
    draw any figure from (the figures read only ``activities``, the run's settings and
    these tables)."""
    from .graph import GRAPH_DRAW_LIMIT

    n = len(run.activities) + len(run.groups)
    drawn = ["occupancy", "queue", "queue_waits", "exchanges", "groups", "bulk",
             "critical_path", "step", "has_edges"]  # fmt: skip
    if run.has_edges:
        # graph_figure draws the graph itself up to GRAPH_DRAW_LIMIT nodes, else its summary
        # by type; the report's graph section reads one of them too: computed once, here
        # (an unconnected graph is neither drawn nor exported: ``shown_figures``).
        drawn.append("graph" if n <= GRAPH_DRAW_LIMIT else "type_summary")
    tables = {name: getattr(run, name) for name in drawn}
    tables["_throughput"] = {by: run.throughput(by) for by in ("kind", "type")}
    return tables


def with_tables(view: RunData, tables: dict[str, Any]) -> RunData:
    """A copy of ``view`` with ``tables`` (of ``figure_tables``) cached on it."""
    from dataclasses import replace

    out = replace(view)
    out.__dict__.update(view.__dict__)
    out.__dict__.update(tables)
    return out


class WorkerFailed(RuntimeError):
    """The pool could not do a job: its worker did not start, ended, was stopped, or
    answered with something other than the job's result. The job itself may be fine, so
    its caller can do it in-process; an exception the job raised is passed on as itself."""


#: Longest wait (s) for a feeder to read the first line already waiting in its worker's pipe
#: (``FigurePool.ready``): it reads it at once, unless the machine is stalled.
READY_WAIT = 5.0

#: How much lower the workers' priority is than their parent's while they import (``os.nice``).
WORKER_NICENESS = 5


class FigurePool:
    """Worker processes that draw report figures (``submit``); ``close`` when done.

    The workers start at once and import what the figures need, so that the first
    ``submit`` finds them ready: one process, which forks the others once it has imported
    (the import is paid once). That process is forked from this one where that is safe
    (``activitykit._fork``), else a plain ``python -m activitykit.reports.render``. Not
    ``multiprocessing``: its spawn would import the caller's main module again, and a script
    without an ``if __name__ == "__main__"`` guard would run twice. A job is one line on
    a worker's job pipe (stdin for a spawned first one; the run's view files, the figure's
    name); the answer is ``ok <n>`` and the PNG's n bytes on its answer pipe (stdout), or
    ``error <n>`` and a message. A worker says ``ready`` once it has imported (``ready``);
    ``call`` jobs are ``call`` and a file holding the function and its arguments, answered
    with the pickled result, or ``raised <n>`` and the pickled exception the function raised.
    """

    def __init__(self, workers: int = 2) -> None:
        from .. import _fork

        # One process imports what the figures need (~2 s of CPU, while the simulation
        # runs on the other core), then forks the other workers: each extra one talks
        # over its own pair of pipes, whose far ends the process is handed (pass_fds).
        extra = [(os.pipe(), os.pipe()) for _ in range(workers - 1)]  # (jobs, answers)
        theirs = [fd for (jobs_r, _), (_, answers_w) in extra for fd in (jobs_r, answers_w)]
        first: tuple[IO[bytes], IO[bytes]]
        try:
            if _fork.can_fork():
                # Forked from this process, it starts with numpy, pyarrow and the kit's
                # scenario code imported: a third of the import (``activitykit._fork``).
                (jobs_r, jobs_w), (answers_r, answers_w) = os.pipe(), os.pipe()
                parent, own = os.getpid(), (jobs_r, answers_w)
                try:
                    proc: subprocess.Popen[bytes] | Forked = _fork.fork(
                        lambda: _worker(parent, theirs, own), keep=(*own, *theirs)
                    )
                except BaseException:
                    os.close(jobs_w)
                    os.close(answers_r)
                    raise
                finally:
                    os.close(jobs_r)
                    os.close(answers_w)
                first = (os.fdopen(jobs_w, "wb"), os.fdopen(answers_r, "rb"))
            else:
                env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
                cmd = [sys.executable, "-m", __name__, str(os.getpid()), *map(str, theirs)]
                popen = subprocess.Popen(
                    cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, pass_fds=theirs
                )
                assert popen.stdin is not None and popen.stdout is not None
                proc, first = popen, (popen.stdin, popen.stdout)
        except BaseException:
            for (_, jobs_w), (answers_r, _) in extra:
                os.close(jobs_w)
                os.close(answers_r)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        self._procs: list[subprocess.Popen[bytes] | Forked] = [proc]
        #: the first worker was forked from this process, with its imports (``_fork``)
        self.forked = not isinstance(proc, subprocess.Popen)
        self._channels: list[tuple[IO[bytes], IO[bytes]]] = [first] + [
            (os.fdopen(jobs_w, "wb"), os.fdopen(answers_r, "rb"))
            for (_, jobs_w), (answers_r, _) in extra
        ]
        self._start_feeding()
        # The threads that feed the workers start with the first job (or ``ready``): until
        # then this process keeps its single thread, and its checker process can be forked
        # too (``activitykit._fork``). A worker's ``ready`` waits in its pipe meanwhile.
        self._unfed = list(self._channels)
        self._views: list[str] = []  # the early view's file, then the tables' file

    def _feed_all(self) -> None:
        while self._unfed:
            self._feed_channel(self._unfed.pop(0))

    def _start_feeding(self) -> None:
        self._unfed: list[tuple[IO[bytes], IO[bytes]]] = []
        self._jobs: queue.SimpleQueue[tuple[str, Future[bytes]] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._asked: list[Future[bytes]] = []
        self._ready = threading.Event()
        self._heard = threading.Condition()  # notified as each feeder reads its first line
        self._heard_lines = 0
        self._stopped = False
        self._run: RunData | None = None
        # Feeders whose worker may still take jobs: one whose worker never started or has
        # ended leaves the jobs to the others, and fails them only when it is the last.
        self._lock = threading.Lock()
        self._serving = 0

    def _feed_channel(self, channel: tuple[IO[bytes], IO[bytes]]) -> None:
        t = threading.Thread(target=self._feed, args=channel, daemon=True, name="figures")
        self._threads.append(t)
        with self._lock:
            self._serving += 1
        t.start()

    @staticmethod
    def wanted() -> bool:
        """True when a second CPU is there for the workers to use."""
        from .._cpus import usable_cpus

        return usable_cpus() >= 2

    def ready(self) -> bool:
        """True once a worker has imported what it needs (a job now starts at once)."""
        said = 0
        if self._unfed:
            # A worker's first line (``ready``, or the end of a pipe whose worker died)
            # waits in its pipe until a feeder reads it: wait for the feeders that have
            # one to take it, which is at once.
            said = len(select.select([answers for _, answers in self._unfed], [], [], 0.0)[0])
        return self._await_ready(said, READY_WAIT)

    def wait_ready(self, timeout: float) -> bool:
        """``ready``, after waiting up to ``timeout`` s for the workers to say it (or for
        every one of them to be lost)."""
        return self._await_ready(len(self._channels), timeout)

    def _await_ready(self, lines: int, timeout: float) -> bool:
        """Feed the workers; wait until one is ready or ``lines`` first lines were read."""
        try:
            self._feed_all()
        except RuntimeError:  # (no thread to be had): the caller does the work itself
            return False
        with self._heard:
            self._heard.wait_for(
                lambda: self._ready.is_set() or self._heard_lines >= lines, timeout
            )
        return self._ready.is_set()

    def _ask(self, line: str) -> Future[bytes]:
        if self._stopped:
            raise WorkerFailed("figure pool stopped")
        self._feed_all()
        done: Future[bytes] = Future()
        self._asked = [f for f in self._asked if not f.done()]
        self._asked.append(done)
        self._jobs.put((line, done))
        return done

    def call(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """``fn(*args)`` run in a worker (both pickled: ``fn`` a module-level function or
        a method of a picklable object); the future holds its result, the exception
        ``fn`` raised, or a ``WorkerFailed``."""
        path = self._dump((fn, args))
        try:
            raw = self._ask(f"call\t{path}\n")
        except BaseException:
            os.unlink(path)
            raise
        out: Future[Any] = Future()

        def answered(f: Future[bytes]) -> None:
            with contextlib.suppress(OSError):  # (the worker removes it once read)
                os.unlink(path)
            try:
                body = f.result()
            except BaseException as exc:
                out.set_exception(exc)
                return
            try:
                value = pickle.loads(body)
            except Exception as exc:  # (an exception class that cannot be rebuilt here)
                out.set_exception(WorkerFailed(f"its answer could not be read: {exc!r}"))
                return
            if isinstance(body, _Raised):
                out.set_exception(value)
            else:
                out.set_result(value)

        raw.add_done_callback(answered)
        return out

    def submit(self, name: str, run: RunData) -> Future[bytes]:
        """Draw figure ``name`` of ``run`` (see ``render_png``) in a worker.

        The run goes to the workers in files each reads once, rather than in every job: its
        ``early_view`` when it is first submitted, its ``figure_tables`` when a figure other
        than the ``EARLY_FIGURES`` first is (so those are being drawn meanwhile)."""
        if self._run is not run:
            self._drop_views()
            self._views.append(self._dump(early_view(run)))
            self._run = run
        if name not in EARLY_FIGURES and len(self._views) == 1:
            self._views.append(self._dump(figure_tables(run)))
        paths = self._views if name not in EARLY_FIGURES else self._views[:1]
        return self._ask("\t".join([*paths, name]) + "\n")

    @staticmethod
    def _dump(obj: object) -> str:
        fd, path = tempfile.mkstemp(prefix="activitykit-figures-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:  # (no room, say): no half-written file left behind
            os.unlink(path)
            raise
        return path

    def _feed(self, jobs: IO[bytes], answers: IO[bytes]) -> None:
        """One worker's jobs, in turn, taken from the shared queue as it becomes free.

        Once its worker is lost (it never started, or ended), the feeder leaves its jobs to
        the other workers; the last feeder left fails them, so that no job waits forever."""
        try:
            started = answers.readline() == b"ready\n"
        except (OSError, ValueError):
            started = False
        if started:
            self._ready.set()
        with self._heard:
            self._heard_lines += 1
            self._heard.notify_all()
        lost = None if started else "it did not start"
        if lost is not None and not self._leave():
            return
        while (job := self._jobs.get()) is not None:
            line, done = job
            if lost is not None:
                with self._lock:
                    serving = self._serving
                if serving:  # a worker started since (a ForkedPool forks them as it goes)
                    self._jobs.put(job)
                    return
                done.set_exception(WorkerFailed(f"figure worker failed: {lost}"))
                continue
            try:
                jobs.write(line.encode())
                jobs.flush()
                head = answers.readline()
                if not head:
                    raise OSError("it ended before answering")
                status, size = head.split()
                body = answers.read(int(size))
                if len(body) != int(size):
                    raise ValueError(f"{len(body)} of {int(size)} bytes")
            except (OSError, ValueError) as exc:  # the worker is gone: this job fails
                lost = str(exc)
                done.set_exception(WorkerFailed(f"figure worker failed: {lost}"))
                if not self._leave():
                    return
                continue
            if status == b"ok":
                done.set_result(body)
            elif status == b"raised":
                done.set_result(_Raised(body))
            else:
                done.set_exception(WorkerFailed(body.decode(errors="replace")))

    def _leave(self) -> bool:
        """A feeder's worker is lost: True when it is the last feeder (it must stay, failing
        the jobs that come, as no worker is left to take them)."""
        with self._lock:
            self._serving -= 1
            return self._serving == 0

    def _drop_views(self) -> None:
        for path in self._views:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._views = []

    def _busy(self) -> bool:
        """True when a worker may still be working: not yet started, or a job unanswered
        (the caller was interrupted, or gave up on it)."""
        return not self._ready.is_set() or any(not f.done() for f in self._asked)

    def stop(self) -> None:
        """End the workers now, whatever they are doing (jobs asked after fail); returns once
        they have ended, so that a caller doing their work itself writes alone."""
        self._stopped = True
        for proc in self._procs:
            proc.kill()  # those it forked see it gone and leave (_watch)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)  # (SIGKILL: at once, unless the kernel is stuck)

    def close(self) -> None:
        if self._busy():  # no one waits for it: what it does would be thrown away
            self.stop()
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join(timeout=30)
        for jobs, _ in self._channels:  # end of work: each worker leaves
            with contextlib.suppress(OSError):
                jobs.close()
        for proc in self._procs:  # it waits for the workers it forked
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()  # those it forked see it gone and leave (_watch)
                proc.wait()
        for _, answers in self._channels:
            with contextlib.suppress(OSError):
                answers.close()
        self._drop_views()
        self._run = None

    def __enter__(self) -> FigurePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ForkedPool(FigurePool):
    """The figures of one run in memory, drawn by children forked with it: for a process
    that has matplotlib imported already (a ``FigurePool`` worker writing a whole report).

    Nothing is copied: the first child is forked at the first ``submit``, with the run as
    it is then (the ``EARLY_FIGURES`` need nothing more), the others once the tables of the
    other figures are computed and cached on the run (``figure_tables``, which the report's
    tables read too). Their jobs are the figures' names, taken from one queue as each child
    becomes free. A figure asked for again is the same job (a caller may ask for the early
    figures before the rest of the run is computed, and its report for them all again).
    """

    def __init__(self, workers: int = 2) -> None:
        self._workers = workers
        self._pids: list[int] = []
        self._channels: list[tuple[IO[bytes], IO[bytes]]] = []
        self._named: dict[str, Future[bytes]] = {}
        self._start_feeding()

    def submit(self, name: str, run: RunData) -> Future[bytes]:
        if self._run is None:
            self._run = run
        elif run is not self._run:
            raise ValueError("a ForkedPool draws the figures of one run")
        if name in self._named:
            return self._named[name]
        if not self._pids:
            self._fork(run)
        if name not in EARLY_FIGURES and len(self._pids) < self._workers:
            figure_tables(run)
            while len(self._pids) < self._workers:
                self._fork(run)
        self._named[name] = self._ask(name + "\n")
        return self._named[name]

    def _fork(self, run: RunData) -> None:
        (jobs_r, jobs_w), (answers_r, answers_w) = os.pipe(), os.pipe()
        parent = os.getpid()  # (not the child's getppid: this process may be gone by then)
        try:
            pid = os.fork()
        except OSError:
            for fd in (jobs_r, jobs_w, answers_r, answers_w):
                os.close(fd)
            raise
        if pid == 0:  # the child: its own pipes only, the run in memory, never returns
            try:
                keep = (jobs_r, answers_w)
                others = [f.fileno() for channel in self._channels for f in channel]
                for fd in (jobs_w, answers_r, *others, *_PIPES):
                    os.close(fd)
                _detach_stdio()
                _watch(parent)
                gc.freeze()  # the run is read, not freed: the collector need not visit it
                _serve_run(run, os.fdopen(keep[0], "rb"), os.fdopen(keep[1], "wb"))
            finally:
                os._exit(0)
        os.close(jobs_r)
        os.close(answers_w)
        self._pids.append(pid)
        channel = (os.fdopen(jobs_w, "wb"), os.fdopen(answers_r, "rb"))
        self._channels.append(channel)
        self._feed_channel(channel)

    def stop(self) -> None:
        self._stopped = True
        for pid in self._pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        if self._busy():
            self.stop()
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join(timeout=30)
        for jobs, _ in self._channels:  # end of work: each child leaves
            with contextlib.suppress(OSError):
                jobs.close()
        deadline = time.monotonic() + 10
        for pid in self._pids:
            while not os.waitpid(pid, os.WNOHANG)[0]:
                if time.monotonic() > deadline:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.01)
        for _, answers in self._channels:
            with contextlib.suppress(OSError):
                answers.close()
        self._pids, self._channels, self._run, self._named = [], [], None, {}

    def _busy(self) -> bool:
        return any(not f.done() for f in self._asked)


class LaterPool:
    """A ``FigurePool`` started only if the caller is still busy ``delay`` seconds from now.

    A short simulation would be over before spawned workers had imported matplotlib, and
    its figures are drawn here faster than by workers still starting; a long one leaves
    them the time. Where the workers are forked (``activitykit._fork``), the pool starts at
    once instead, from this thread: a forked worker has this process's imports, so it is
    ready about when this process would be had it imported matplotlib itself, whatever the
    run's length, and a timer's thread would keep the run's checker process from being
    forked too. ``take`` (when the report starts) returns the pool if it was started, and
    no pool starts after it; ``close`` stops it.
    """

    def __init__(self, delay: float = 1.0, workers: int = 2) -> None:
        from .. import _fork

        self._lock = threading.Lock()
        self._pool: FigurePool | None = None
        self._done = False
        self._timer: threading.Timer | None = None
        if _fork.can_fork():
            self._start(workers)
            return
        self._timer = threading.Timer(delay, self._start, args=(workers,))
        self._timer.daemon = True
        self._timer.start()

    def _start(self, workers: int) -> None:
        with self._lock:
            if not self._done:
                try:
                    self._pool = FigurePool(workers)
                except Exception:  # (no processes to be had): the figures are drawn here
                    self._pool = None

    def take(self) -> FigurePool | None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._done = True
            return self._pool

    def close(self) -> None:
        pool = self.take()
        if pool is not None:
            pool.close()

    def __enter__(self) -> LaterPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- in the worker ---------------------------------------------------------------------------
def _watch(parent: int) -> None:
    """Leave when ``parent`` is no longer this process's parent (it died without closing
    the pool, SIGKILL say) rather than wait for work forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


#: The pipes this worker serves its pool on, when not stdin and stdout (a forked worker).
_PIPES: tuple[int, ...] = ()


def _detach_stdio() -> None:
    """stdin and stdout onto /dev/null: a forked child must not hold its parent's pipes
    (whose reader would otherwise wait for the child too, to see them closed)."""
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)


def _answer(answers: IO[bytes], status: bytes, body: bytes) -> bool:
    """Write one answer; False when the parent is gone (no one to answer, and no traceback
    to print)."""
    try:
        answers.write(b"%s %d\n" % (status, len(body)) + body)
        answers.flush()
    except OSError:
        return False
    return True


def _serve_run(run: RunData, jobs: IO[bytes], answers: IO[bytes]) -> None:
    """A ``ForkedPool`` child: each job is a figure's name, drawn from ``run``."""
    if not _answer_ready(answers):
        return
    for line in jobs:
        name = line.decode().rstrip("\n")
        try:
            status, body = b"ok", render_png(name, run)
        except Exception as exc:  # told to the parent, which draws the figure itself
            status, body = b"error", f"{name}: {type(exc).__name__}: {exc}".encode()
        if not _answer(answers, status, body):
            return


def _answer_ready(answers: IO[bytes]) -> bool:
    try:
        answers.write(b"ready\n")
        answers.flush()
    except OSError:
        return False
    return True


class _Raised(bytes):
    """A ``call``'s answer that is the pickled exception its function raised."""


def _call(path: str) -> tuple[bytes, bytes]:
    """A ``call`` job: the function and arguments pickled in ``path``, run; its status and
    its result pickled, or the exception it raised (``raised``: the caller's, as it would
    have been in-process; doing the job again there would only raise it again)."""
    try:
        with open(path, "rb") as fh:
            fn, args = pickle.load(fh)
    finally:  # (a million activities' records: no copy left for the whole report, or after)
        with contextlib.suppress(OSError):
            os.unlink(path)
    try:
        result = fn(*args)
    except MemoryError:  # this worker's memory, not the job's fault: told as the pool's
        raise
    except Exception as exc:
        try:
            return b"raised", pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # (it holds something unpicklable): told as text instead
            raise exc from None
    return b"ok", pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


def _serve(jobs: IO[bytes], answers: IO[bytes]) -> None:
    loaded: dict[str, Any] = {}  # file -> what it holds, for the run being drawn
    views: dict[tuple[str, ...], RunData] = {}
    if not _answer_ready(answers):
        return
    for line in jobs:
        *files, name = line.decode().rstrip("\n").split("\t")
        if files == ["call"]:
            try:
                status, body = _call(name)
            except Exception as exc:  # told to the parent, which does it itself
                status, body = b"error", f"{type(exc).__name__}: {exc}".encode()
            if not _answer(answers, status, body):
                return
            continue
        try:
            if files[0] not in loaded:  # another run: forget the last one's
                loaded.clear()
                views.clear()
            key = tuple(files)
            if key not in views:
                for path in files:
                    if path not in loaded:
                        with open(path, "rb") as fh:
                            loaded[path] = pickle.load(fh)
                view = loaded[files[0]]
                views[key] = with_tables(view, loaded[files[1]]) if len(files) > 1 else view
            status, body = b"ok", render_png(name, views[key])
        except Exception as exc:  # told to the parent, which draws the figure itself
            status, body = b"error", f"{name}: {type(exc).__name__}: {exc}".encode()
        if not _answer(answers, status, body):
            return


def _warm_up() -> None:
    """Pay, while the simulation still runs and before forking (so that every worker has
    them), what the first figure drawn would: PIL's image plugins loaded by the first PNG,
    the font and its glyphs at each text size the figures use, ``matplotlib.pyplot``,
    which networkx's drawing functions import on every call (0.1-0.3 s in all), and the
    mathtext parser that a log axis's tick labels (``10^2``) need, built on its first use
    (a quarter second: the latency-over-time figure's log axis paid it in a child)."""
    import matplotlib.pyplot  # noqa: F401

    from ._canvas import figure_png, new_figure

    fig = new_figure(size=(4, 3))
    ax = fig.axes[0]
    # every mark inside the log axis' positive range, where it is laid out and drawn
    ax.plot([1, 1000], [1, 1000], label="0123456789")
    ax.set_yscale("log")
    ax.scatter([10], [10], s=6)
    for size in ("x-small", "small", "medium", "large"):
        ax.text(1, 1, "0123456789 abcdefghijklmnopqrstuvwxyz (s)", fontsize=size)
    ax.set_title("0123456789", fontsize="medium")
    ax.legend(fontsize="x-small")
    figure_png(fig)


def _import() -> None:
    """What the figures and a run's report need, imported below the parent's priority.

    While the parent simulates, the import takes only the time the simulation and the
    checker leave. The thread that imports is the one lowered (on Linux a thread's own
    niceness; elsewhere the whole worker's): once the simulation ends, the report that ends
    the command is drawn and written at the parent's priority, which a process cannot raise
    back by itself."""
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    import matplotlib

    matplotlib.use("Agg")
    from . import figures  # noqa: F401 - what the figures need, imported while idle

    with contextlib.suppress(Exception):  # only a head start: the figures say what fails
        _warm_up()
    # What a ``call`` from ``activitykit run`` runs: the summary and the report's tables.
    from .. import runner  # noqa: F401
    from . import html, summary  # noqa: F401


def _worker(parent: int, fds: list[int], own: tuple[int, int] | None = None) -> None:
    """Import, fork one worker per pair of ``fds`` (jobs, answers), serve ``own`` (jobs,
    answers: a forked first worker's) or else stdin/stdout."""
    global _PIPES
    # Ctrl-C is the parent's to handle (it closes the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    importing = threading.Thread(target=_import, name="import")
    importing.start()
    importing.join()
    # Every object so far lives as long as the worker: the collector need not visit them
    # again (a tenth of drawing the figures), and the forked workers share their pages.
    gc.freeze()
    me, forked = os.getpid(), []
    for jobs_fd, answers_fd in zip(fds[::2], fds[1::2], strict=True):
        try:
            pid = os.fork()
        except OSError:  # its jobs fail at once (end of file), and are drawn by the parent
            pid = -1
        if pid == 0:  # the forked worker: its own pipes only (stdin/stdout: /dev/null)
            _detach_stdio()
            for fd in (*fds, *(own or ())):
                if fd not in (jobs_fd, answers_fd):
                    os.close(fd)
            _watch(me)
            try:  # whatever happens, this copy of the first worker never returns into it
                _PIPES = (jobs_fd, answers_fd)  # not for a ForkedPool's children to hold
                _serve(os.fdopen(jobs_fd, "rb"), os.fdopen(answers_fd, "wb"))
            finally:
                os._exit(0)
        if pid > 0:
            forked.append(pid)
    for fd in fds:
        os.close(fd)
    _watch(parent)
    if own is None:
        _serve(sys.stdin.buffer, sys.stdout.buffer)
    else:
        _PIPES = own  # (for a ForkedPool's children to close)
        _serve(os.fdopen(own[0], "rb"), os.fdopen(own[1], "wb"))
    for pid in forked:  # the pool waits for this process only: it waits for its workers
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    # Every answer is flushed and nothing else is open: tearing down matplotlib, pandas
    # and the run's tables would only keep the parent waiting (about a second).
    os._exit(0)


if __name__ == "__main__":
    _worker(int(sys.argv[1]), [int(fd) for fd in sys.argv[2:]])
