"""The checker process (``activitykit.check.process``) and the simulator's checking modes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from activitykit.check import Checker
from activitykit.check.process import CheckerProcess, CheckerProcessError
from activitykit.errors import InputError
from activitykit.scenario import load_scenario
from activitykit.sim import Simulation, SimulationInvariantError, simulate
from activitykit.trace import MemoryTraceWriter, open_writer

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"


def _records() -> list[dict[str, Any]]:
    w = MemoryTraceWriter()
    simulate(load_scenario(BASELINE), writer=w, check=False)
    return w.records


def _gone(pid: int, within: float = 10.0) -> bool:
    """Has process ``pid`` ended (or become a zombie nobody reaped) within ``within`` s?"""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def _bad_transition(records: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """The records with one transition's ``from`` falsified (a T2 violation)."""
    i = next(
        i for i, r in enumerate(records) if r["event"] == "transition" and r["to"] == "Succeeded"
    )
    out = list(records)
    out[i] = {**records[i], "from": "Queued"}
    return i, out


def test_the_process_reaches_the_in_process_verdict_record_for_record(start_method: str) -> None:
    records = _records()
    i, bad = _bad_transition(records)
    for recs in (records, bad):
        inline = Checker()
        for r in recs:
            inline.feed(r)
        with CheckerProcess(batch=4096) as proc:  # several batches, so the pipe is used
            assert isinstance(proc._proc, subprocess.Popen) == (start_method == "spawned")
            for r in recs:
                proc.feed(r)
            seen = proc.violations
            report = proc.finish(recs[-1]["t"])
        expected = inline.finish(recs[-1]["t"])
        assert [v.key for v in seen] == [v.key for v in expected.violation_list]
        assert [v.key for v in report.violation_list] == [v.key for v in expected.violation_list]
        assert report.summary == expected.summary
        assert proc.peak_rss and proc.peak_rss > 0
    assert report.violation_list[0].line == i + 1
    assert report.violation_list[0].record == bad[i]


def test_a_report_asked_early_is_the_report_and_no_record_may_follow_the_ask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = _records()
    end = records[-1]["t"]
    expected = Checker()
    for r in records:
        expected.feed(r)
    with CheckerProcess(batch=4096) as proc:
        sent: list[bytes] = []
        queue = proc._queue
        monkeypatch.setattr(proc, "_queue", lambda extra=b"": sent.append(extra) or queue(extra))
        for r in records:
            proc.feed(r)
        proc.begin_finish(end)
        proc.begin_finish(end)  # asked once only
        report = proc.finish(end)
    assert [x for x in sent if x] == [f"!end {float(end)!r}\n".encode()]
    assert report.summary == expected.finish(end).summary


@pytest.mark.parametrize("batch", [1 << 20, 256])  # fed after the ask: still buffered, or sent
def test_records_fed_after_the_ask_are_refused_not_left_unjudged(batch: int) -> None:
    records = _records()
    end = records[-1]["t"]
    written: list[bytes] = []
    fed = 0
    with CheckerProcess(batch=batch) as proc:
        proc.tee(written.append)
        proc.feed(records[0])
        proc.begin_finish(end)
        with pytest.raises(CheckerProcessError, match="fed after the checker's report"):
            for r in records[1:]:  # (they would never be judged)
                fed += 1
                proc.feed(r)
            proc.finish(end)
    assert proc._proc.poll() is not None  # the child ended
    # the trace still gets every record that was fed
    assert b"".join(written).count(b"\n") == 1 + fed


def test_after_the_ask_the_report_is_the_one_asked_for() -> None:
    records = _records()
    end = records[-1]["t"]
    with CheckerProcess() as proc:
        for r in records:
            proc.feed(r)
        proc.begin_finish(end)
        with pytest.raises(CheckerProcessError, match="asked for the end"):
            proc.finish(end + 1)
    with CheckerProcess() as proc:
        proc.feed(records[0])
        proc.begin_finish(end)
        with pytest.raises(CheckerProcessError, match="ask it \\(finish\\)"):
            proc.violations  # noqa: B018


def test_feed_reports_a_violation_soon_after_its_record() -> None:
    records = _records()
    i, bad = _bad_transition(records)
    with CheckerProcess(batch=1) as proc:  # a batch per record: the child answers at once
        fed = 0
        for r in bad:
            fed += 1
            if proc.feed(r):
                break
            if fed > i:
                time.sleep(0.01)  # give the child the time it needs to answer
        found = proc.feed(bad[-1])
    assert fed < len(bad)
    assert found[0].rule == "T2" and found[0].record == bad[i]


def test_an_error_in_the_child_is_raised_here() -> None:
    with CheckerProcess() as proc:
        proc.feed({"t": 5.0, "event": "group", "activity": "g1", "type": "x", "children": 0})
        proc.feed({"t": 1.0, "event": "group", "activity": "g2", "type": "x", "children": 0})
        with pytest.raises(InputError, match="non-decreasing t order"):
            proc.finish()


def test_a_child_that_dies_fails_the_producer_with_a_clear_message(start_method: str) -> None:
    proc = CheckerProcess(batch=1)
    os.kill(proc.pid, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(CheckerProcessError, match=r"killed by signal 9 before judging every"):
        for _ in range(100_000):
            proc.feed({"t": 1.0, "event": "enqueue", "activity": "a1"})
        proc.finish()
    assert time.monotonic() - started < 10.0
    assert _gone(proc.pid)


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "spawned"])
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "exit"])
def test_the_child_never_outlives_its_producer(tmp_path: Path, how: str, forked: bool) -> None:
    """Killed, terminated, or leaving without closing: the checker process ends too."""
    code = textwrap.dedent(
        f"""
        import os, signal, subprocess, sys
        from activitykit import _fork
        from activitykit.check.process import CheckerProcess
        _fork.can_fork = lambda: {forked!r}
        proc = CheckerProcess()
        assert isinstance(proc._proc, subprocess.Popen) != {forked!r}
        proc.feed({{"t": 0.0, "event": "enqueue", "activity": "a1"}})
        print(proc.pid, flush=True)
        sys.stdin.readline()
        if {how!r} == "exit":
            sys.exit(0)
        os.kill(os.getpid(), signal.{how if how != "exit" else "SIGKILL"})
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None and parent.stdin is not None
    child = int(parent.stdout.readline())
    assert not _gone(child, within=0.2)  # it runs while its producer does
    parent.stdin.write("\n")
    parent.stdin.flush()
    parent.wait(30)
    assert _gone(child)


# -- the simulator's modes ------------------------------------------------------------------------
def _inject(sim: Simulation, at: float, then: BaseException | None = None) -> None:
    """A component bug: at ``at`` a record that breaks T2 (and then ``then`` raised)."""

    def bug(sim: Simulation) -> Generator[Any, Any, None]:
        yield sim.env.timeout(at)
        a = next(a for a in sim.store.activities.values() if a.state == "Succeeded")
        sim.emit(
            {
                "t": sim.env.now,
                "event": "transition",
                "activity": a.id,
                "from": "Queued",
                "to": "Succeeded",
                "cause": "bug",
            }
        )
        if then is not None:
            raise then

    sim.process(bug)


@pytest.mark.parametrize("fmt", [None, "jsonl", "parquet"])
@pytest.mark.parametrize("then", [None, RuntimeError("a later failure")])
def test_a_violation_stops_the_run_the_same_way_in_both_modes(
    then: Exception | None, fmt: str | None, tmp_path: Path
) -> None:
    """Also with a trace file: a line-encoding writer and the checker process then share
    each record's one encoding."""
    sc = load_scenario(BASELINE)
    errors = {}
    for mode in ("inline", "parallel"):
        writer = None if fmt is None else open_writer(tmp_path / f"{mode}.{fmt}", fmt)
        with pytest.raises(SimulationInvariantError) as info:
            simulate(sc, writer=writer, check=mode, setup=lambda sim: _inject(sim, 3600.0, then))
        if writer is not None:
            writer.close()
        errors[mode] = info.value
    inline, parallel = errors["inline"], errors["parallel"]
    if fmt == "jsonl":  # the parallel run went on a little: its trace holds every record fed
        first, more = ((tmp_path / f"{m}.jsonl").read_bytes() for m in ("inline", "parallel"))
        assert more.startswith(first)
    assert parallel.violation.key == inline.violation.key
    assert parallel.violation.rule == "T2"
    assert parallel.record == inline.record and parallel.record["cause"] == "bug"


def test_the_trace_does_not_depend_on_where_it_is_checked() -> None:
    sc = load_scenario(BASELINE)
    traces = {}
    names = {
        "inline": "activitykit.check.Checker",
        "parallel": "activitykit.check.CheckerProcess",
        False: "none",
    }
    for mode, name in names.items():
        w = MemoryTraceWriter()
        assert simulate(sc, writer=w, check=mode).checked_with == name
        traces[mode] = w.records
    assert traces["inline"] == traces["parallel"] == traces[False]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_trace_files_do_not_depend_on_where_they_are_checked(fmt: str, tmp_path: Path) -> None:
    sc = load_scenario(BASELINE)
    files = {}
    for mode in ("inline", "parallel", False):
        path = tmp_path / f"{mode}.{fmt}"
        with open_writer(path, fmt) as w:
            simulate(sc, writer=w, check=mode)
        files[mode] = path.read_bytes()
    assert files["inline"] == files["parallel"] == files[False]


def test_a_line_writer_and_the_checker_process_share_one_encoding() -> None:
    """``make_emit`` encodes each record once and hands the same bytes to both."""
    from activitykit.sim.kernel import make_emit
    from activitykit.trace.writers import TraceFormatError, encode_line

    written: list[bytes] = []
    fed: list[bytes] = []

    def never(rec: dict) -> list:
        raise AssertionError("the record-taking path ran")

    count: list[int] = []
    emit = make_emit(
        never,
        never,
        lambda: count.append(1),
        write_line=written.append,
        feed_line=lambda line: fed.append(line) or [],
    )
    records = _records()[:50]
    for r in records:
        emit(r)
    assert len(count) == 50
    assert written == fed == [encode_line(r) for r in records]
    assert all(a is b for a, b in zip(written, fed, strict=True))
    with pytest.raises(TraceFormatError, match="cannot be written as JSON"):
        emit({"t": 1.0, "event": "created", "activity": object()})


def test_emit_feeds_lines_only_when_the_checker_process_writes_the_trace() -> None:
    from activitykit.sim.kernel import make_emit
    from activitykit.trace.writers import encode_line

    def never(rec: dict) -> list:
        raise AssertionError("the record-taking path ran")

    fed: list[bytes] = []
    count: list[int] = []
    emit = make_emit(
        None, never, lambda: count.append(1), feed_line=lambda line: fed.append(line) or []
    )
    records = _records()[:20]
    for r in records:
        emit(r)
    assert len(count) == 20
    assert fed == [encode_line(r) for r in records]


@pytest.mark.parametrize("end", ["finish", "close"])
def test_a_tee_gets_every_line_fed_and_no_control_line(end: str) -> None:
    """What the checker process hands to a trace writer: the lines fed, in order, whole,
    also those not yet sent when it closes (a run that stopped)."""
    from activitykit.trace.writers import encode_line

    lines = [encode_line(r) for r in _records()]
    got = bytearray()
    with CheckerProcess(batch=4096) as cp:
        cp.tee(got.extend)
        for line in lines[:700]:
            cp.feed_line(line)
        assert cp.violations == []  # a control line between records
        for line in lines[700:]:
            cp.feed_line(line)
        if end == "finish":
            assert cp.finish().ok
        else:
            cp.close()
    assert bytes(got) == b"".join(lines)


def test_a_failing_tee_hands_each_batch_on_once_and_the_child_still_ends() -> None:
    """A trace write that fails (a full disk) fails the run; it must not write the batch
    again at the next flush or at close, nor leave the checker process running."""
    from activitykit.trace.writers import encode_line

    lines = [encode_line(r) for r in _records()[:40]]
    got: list[bytes] = []

    def full_disk(batch: bytes) -> None:
        got.append(bytes(batch))
        if len(got) <= 2:
            raise OSError(28, "No space left on device")

    cp = CheckerProcess(batch=200)
    cp.tee(full_disk)
    failures = 0
    for line in lines:
        try:
            cp.feed_line(line)
        except OSError:
            failures += 1
    cp.close()
    assert failures == 2
    assert b"".join(got) == b"".join(lines)  # each line handed on once, in order
    assert _gone(cp.pid)


def test_an_interrupted_run_ends_its_checker_process() -> None:
    sims: list[Simulation] = []

    def setup(sim: Simulation) -> None:
        sims.append(sim)

        def interrupt(sim: Simulation) -> Generator[Any, Any, None]:
            yield sim.env.timeout(600.0)
            raise KeyboardInterrupt

        sim.process(interrupt)

    with pytest.raises(KeyboardInterrupt):
        simulate(load_scenario(BASELINE), check="parallel", setup=setup)
    assert _gone(sims[0]._checker.pid)


def test_a_checker_process_that_dies_fails_the_run() -> None:
    def setup(sim: Simulation) -> None:
        def kill(sim: Simulation) -> Generator[Any, Any, None]:
            yield sim.env.timeout(60.0)
            os.kill(sim._checker.pid, signal.SIGKILL)

        sim.process(kill)

    with pytest.raises(CheckerProcessError, match="killed by signal 9"):
        simulate(load_scenario(BASELINE), check="parallel", setup=setup)


def test_auto_goes_parallel_only_for_big_runs_with_a_core_to_spare(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import activitykit.check.process as process
    import activitykit.sim.engine as engine

    sc = load_scenario(BASELINE)
    planned = Simulation(sc, check=False).admin.plan.activities(engine.fleet_layout(sc))
    assert 0 < planned < engine.PARALLEL_FROM  # the bundled baseline is a small run
    monkeypatch.setattr(process, "usable_cpus", lambda: 2)
    assert simulate(sc, check=True).checked_with == "activitykit.check.Checker"
    monkeypatch.setattr(engine, "PARALLEL_FROM", planned)
    assert simulate(sc, check="auto").checked_with == "activitykit.check.CheckerProcess"
    monkeypatch.setattr(process, "usable_cpus", lambda: 1)
    assert simulate(sc, check=True).checked_with == "activitykit.check.Checker"
    monkeypatch.setattr(process, "usable_cpus", lambda: 2)
    import multiprocessing

    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True, raising=False)
    assert simulate(sc, check=True).checked_with == "activitykit.check.Checker"


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="check='fast' is not a checking mode; accepted"):
        Simulation(load_scenario(BASELINE), check="fast")


def test_the_plan_counts_bulk_children_and_chain_steps() -> None:
    from activitykit.sim.rand import Streams
    from activitykit.sim.workload import build_plan, fleet_layout

    for name in ("bulk-upgrade.yaml", "approval-gate.yaml", "baseline.yaml"):
        sc = load_scenario(ROOT / "scenarios" / name)
        layout = fleet_layout(sc)
        plan = build_plan(sc, layout, Streams(sc.seed))
        r = simulate(sc, check=False)
        assert plan.activities(layout) == r.counters["created"], name


def _placement() -> tuple[bool, bool]:
    import multiprocessing

    from activitykit.check.process import can_check_in_parallel

    return multiprocessing.current_process().daemon, can_check_in_parallel()


@pytest.mark.slow
def test_a_sweep_worker_checks_in_process() -> None:
    """A sweep's workers fill the cores: their runs' checkers stay in-process."""
    pytest.importorskip("distributed")
    from distributed import Client

    from activitykit.experiments.execute import _local_cluster

    cluster = _local_cluster(1)
    try:
        with Client(cluster) as client:
            assert client.submit(_placement).result(timeout=120) == (True, False)
    finally:
        cluster.close()
