"""Figures drawn by worker processes (``reports.render.FigurePool``) are the ones drawn here."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import Future
from pathlib import Path

import pytest
from test_reports_html import make_run

from activitykit.reports import load_run, render, write_report
from activitykit.reports.render import (
    DRAW_ORDER,
    EARLY_FIGURES,
    FIGURE_NAMES,
    FigurePool,
    early_view,
    render_png,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return load_run(make_run(tmp_path_factory.mktemp("runs") / "r1"))


def test_the_pool_draws_every_figure_byte_for_byte_as_this_process(run, start_method) -> None:
    # The workers get a copy of the run without its records (early_view, figure_tables): a
    # figure that read anything not copied would come out different (or fail) here.
    with FigurePool() as pool:
        drawn = {name: pool.submit(name, run) for name in FIGURE_NAMES}
        for name, future in drawn.items():
            assert future.result(timeout=120) == render_png(name, run), name


def test_the_early_figures_read_nothing_their_view_leaves_out(run) -> None:
    # early_view has no records and no tables but the measures: a figure reading more would
    # compute it from the empty records and come out different.
    view = early_view(run)
    for name in EARLY_FIGURES:
        assert render_png(name, view) == render_png(name, run), name


def test_titles_sit_where_matplotlib_would_place_them(run, monkeypatch) -> None:
    # _canvas.PLACE_TITLES off keeps each title at the top of its axes rather than have
    # matplotlib measure every tick label at each draw to place it: the same pixels.
    from activitykit.reports import _canvas

    fixed = {name: render_png(name, run) for name in FIGURE_NAMES}
    monkeypatch.setattr(_canvas, "PLACE_TITLES", True)
    for name in FIGURE_NAMES:
        assert render_png(name, run) == fixed[name], name


def test_the_pool_is_given_every_figure_once_the_longest_first() -> None:
    assert sorted(DRAW_ORDER) == sorted(FIGURE_NAMES)
    assert DRAW_ORDER[0] == "latency"
    # the figures whose view is ready first are asked first: they are drawn meanwhile
    assert set(DRAW_ORDER[: len(EARLY_FIGURES)]) == EARLY_FIGURES


def test_the_warm_up_builds_what_the_first_log_axis_would() -> None:
    """The forked children inherit the warmed-up worker: the mathtext parser (the log axis'
    tick labels) must be built by then, not by the child that first draws a log axis."""
    code = (
        "import matplotlib; matplotlib.use('Agg')\n"
        "from matplotlib.mathtext import MathTextParser\n"
        "from activitykit.reports.render import _warm_up\n"
        "_warm_up()\n"
        "print(MathTextParser._parser is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_a_report_with_the_pool_is_the_report_without(run, tmp_path) -> None:
    alone = write_report(run, tmp_path / "a" / "report.html", check=False)
    with FigurePool() as pool:
        pooled = write_report(run, tmp_path / "b" / "report.html", check=False, figures=pool)
    assert pooled.read_bytes() == alone.read_bytes()
    a, b = alone.with_suffix(""), pooled.with_suffix("")
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for p in a.iterdir():
        assert (b / p.name).read_bytes() == p.read_bytes(), p.name


def test_a_failing_worker_costs_the_figure_nothing(run, tmp_path) -> None:
    pool = FigurePool(workers=1)
    try:
        for proc in pool._procs:
            proc.kill()
            proc.wait()
        with pytest.raises(RuntimeError, match="figure worker failed"):
            pool.submit("throughput", run).result(timeout=60)
        out = write_report(run, tmp_path / "report.html", check=False, figures=pool)
    finally:
        pool.close()
    assert (out.with_suffix("") / "throughput.png").read_bytes() == render_png("throughput", run)


def test_the_dependency_graph_is_drawn_the_same_whatever_the_string_hashing(tmp_path) -> None:
    # networkx orders a layer of multipartite_layout as a set; the figure sorts it.
    make_run(tmp_path / "r")
    code = (
        "import hashlib, sys; from activitykit.reports import load_run; "
        "from activitykit.reports.render import render_png; "
        "print(hashlib.sha256(render_png('graph', load_run(sys.argv[1]))).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "r")],
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3", "4")
    }
    assert len(digests) == 1


def test_a_later_pool_starts_only_for_a_caller_still_busy_after_its_delay(
    run, start_method
) -> None:
    """Spawned workers import everything: they start only once the run has lasted ``delay``.
    Forked ones have this process's imports: they start at once, whatever the delay."""
    import time

    from activitykit.reports.render import LaterPool

    with LaterPool(delay=60) as quick:  # the report comes before the delay
        pool = quick.take()
        if start_method == "spawned":
            assert pool is None  # no workers
        else:
            assert pool is not None
            assert pool.submit("exchange", run).result(timeout=120) == render_png("exchange", run)
    with LaterPool(delay=0.01) as slow:
        time.sleep(0.5)
        pool = slow.take()
        assert pool is not None
        assert pool.submit("exchange", run).result(timeout=120) == render_png("exchange", run)
    assert all(proc.poll() is not None for proc in pool._procs)  # closed with the pool


class _StuckPool:
    """A pool whose figures never come (a worker alive but stuck), or that cannot take any."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse

    def submit(self, name, run):
        if self.refuse:
            raise OSError(28, "No space left on device")
        return _NeverFuture(self)  # never resolved


class _NeverFuture(Future):
    """Records how long each wait for it was allowed to be."""

    def __init__(self, pool: _StuckPool) -> None:
        super().__init__()
        self.pool = pool

    def result(self, timeout=None):
        self.pool.waits = [*getattr(self.pool, "waits", []), timeout]
        return super().result(timeout)


def test_a_stuck_worker_costs_the_report_a_bounded_wait_and_no_figure(
    run, tmp_path, monkeypatch
) -> None:
    from activitykit.reports import _page

    monkeypatch.setattr(_page, "FIGURE_WAIT", 0.05)
    stuck = _StuckPool()
    out = write_report(run, tmp_path / "report.html", check=False, figures=stuck)
    for name in FIGURE_NAMES:
        assert (out.with_suffix("") / f"{name}.png").read_bytes() == render_png(name, run)
    # one wait for them all, not one per figure
    assert len(stuck.waits) == len(FIGURE_NAMES) and sum(stuck.waits) <= 0.05


def test_a_pool_that_cannot_take_the_run_leaves_every_figure_to_this_process(run, tmp_path) -> None:
    alone = write_report(run, tmp_path / "a" / "report.html", check=False)
    out = write_report(run, tmp_path / "b" / "report.html", check=False, figures=_StuckPool(True))
    assert out.read_bytes() == alone.read_bytes()


def test_the_pool_forks_its_workers_and_leaves_none_running(run, start_method) -> None:
    # one process imports and forks the second worker; closing the pool ends both
    pool = FigurePool(workers=2)
    try:
        drawn = [pool.submit(name, run) for name in ("exchange", "queue", "throughput")]
        assert [f.result(timeout=120) for f in drawn] == [
            render_png(n, run) for n in ("exchange", "queue", "throughput")
        ]
        (proc,) = pool._procs
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 1
    finally:
        pool.close()
    assert proc.poll() is not None
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_workers_that_cannot_start_leave_nothing_open(monkeypatch, start_method) -> None:
    from activitykit.reports import render

    def refused(*args, **kwargs):
        raise OSError(11, "Resource temporarily unavailable")

    fds = len(os.listdir("/proc/self/fd"))
    if start_method == "spawned":
        monkeypatch.setattr(render.subprocess, "Popen", refused)
    else:
        monkeypatch.setattr(os, "fork", refused)
    with pytest.raises(OSError):
        FigurePool(workers=3)
    assert len(os.listdir("/proc/self/fd")) == fds  # every pipe closed
    # started by a LaterPool's timer instead, the failure means no pool, not a traceback
    import threading

    uncaught: list[object] = []
    monkeypatch.setattr(threading, "excepthook", uncaught.append)
    later = render.LaterPool(delay=0.0)
    try:
        if later._timer is not None:
            later._timer.join(timeout=30)
        assert later.take() is None
    finally:
        later.close()
    assert uncaught == []


def test_a_worker_whose_parent_stopped_listening_leaves_quietly() -> None:
    """An answer that cannot be written (the report's process is gone) ends the worker
    without a traceback on the user's terminal."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "activitykit.reports.render", str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdout.close()  # nobody reads the answers any more
    proc.stdin.write(b"/nonexistent-view.pickle\tthroughput\n")
    proc.stdin.close()
    assert proc.wait(timeout=120) == 0
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    assert b"Traceback" not in err, err.decode()


def test_children_forked_with_the_run_draw_the_report_this_process_would(run, tmp_path) -> None:
    from activitykit.reports.render import ForkedPool

    alone = write_report(run, tmp_path / "a" / "report.html", check=False)
    with ForkedPool() as pool:
        forked = write_report(run, tmp_path / "b" / "report.html", check=False, figures=pool)
        children = list(pool._pids)
    assert len(children) == 2
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)  # waited for
    assert forked.read_bytes() == alone.read_bytes()
    for p in alone.with_suffix("").iterdir():
        assert (forked.with_suffix("") / p.name).read_bytes() == p.read_bytes(), p.name


def test_a_call_runs_in_the_worker_and_an_unanswered_one_does_not_hold_up_close() -> None:
    import time

    with FigurePool(workers=1) as pool:
        assert pool.call(os.getpid).result(timeout=120) == pool._procs[0].pid
        assert pool.ready()
        # what the function raised comes back as itself: a caller tells it from the
        # pool's own failure (WorkerFailed), and need not do the job again to see it
        with pytest.raises(ZeroDivisionError):
            pool.call(divmod, 1, 0).result(timeout=60)
        # memory the worker ran out of is the pool's failure: the caller does the job itself
        with pytest.raises(render.WorkerFailed, match="MemoryError"):
            pool.call(bytearray, 2**62).result(timeout=60)
        pool.call(time.sleep, 60)  # given up on (Ctrl-C, say): close ends the worker
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 10
    assert all(proc.poll() is not None for proc in pool._procs)


def test_a_calls_file_is_gone_once_the_worker_has_read_it(tmp_path, monkeypatch) -> None:
    """The records handed to the worker are not kept on disk while it works (a million
    activities' worth), nor left behind if this process is killed meanwhile."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with FigurePool(workers=1) as pool:
        assert pool.call(os.listdir, str(tmp_path)).result(timeout=120) == []
    assert os.listdir(tmp_path) == []


def test_stopping_a_pool_returns_once_its_workers_have_ended() -> None:
    """The caller then does their work itself: no worker may still be writing."""
    import time

    with FigurePool(workers=1) as pool:
        pool.call(time.sleep, 60)
        pool.stop()
        assert all(proc.poll() is not None for proc in pool._procs)
        with pytest.raises(RuntimeError, match="stopped"):
            pool.call(os.getpid)


def test_a_worker_that_never_starts_leaves_its_jobs_to_the_others(run, monkeypatch) -> None:
    """Its jobs are not failed while another worker can take them."""
    serve = render._serve_run

    def first_child_dies(run, jobs, answers):  # type: ignore[no-untyped-def]
        if not pool._pids:  # (in the first child, forked before its pid was noted)
            os._exit(0)
        serve(run, jobs, answers)

    monkeypatch.setattr(render, "_serve_run", first_child_dies)
    with render.ForkedPool(workers=2) as pool:
        names = [n for n in DRAW_ORDER if n not in EARLY_FIGURES] + sorted(EARLY_FIGURES)
        futures = {name: pool.submit(name, run) for name in names}
        drawn = {name: f.result(timeout=120) for name, f in futures.items()}
    assert drawn == {name: render_png(name, run) for name in names}


def test_jobs_fail_once_no_worker_is_left() -> None:
    """No job waits for ever on a pool whose workers are all gone."""
    pool = FigurePool(workers=1)
    try:
        assert pool.call(os.getpid).result(timeout=120)
        for proc in pool._procs:
            proc.kill()
            proc.wait()
        for _ in range(3):
            with pytest.raises(render.WorkerFailed, match="figure worker failed"):
                pool.call(os.getpid).result(timeout=60)
    finally:
        pool.close()
