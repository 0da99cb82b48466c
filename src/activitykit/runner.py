"""One run of one scenario, in desmod's phases: build -> simulate -> summarise -> write.

- build: the scenario validated again with this run's seed and trace format folded in (bad
  settings raise ``InputError``: nothing has run yet);
- simulate: ``activitykit.sim.simulate`` writes the trace as it goes, to the run directory
  or, in memory, into Arrow columns;
- summarise: ``reports.summary.summarise`` over the trace the writer kept in memory (a
  JSON Lines trace is read back: ``trace.as_frame``);
- write: ``summary.json`` and, when asked, ``report.html`` from the same records, activity
  table and measures (nothing is read back or computed twice).

With a report to write and the report's figure worker started while the simulation ran
(``reports.render.LaterPool``), the last two phases run in that worker, handed the records
once: it has imported pandas and matplotlib on the other core meanwhile, and its children,
forked with the run in memory, draw the figures (``render.ForkedPool``). This process then
never imports pandas, networkx or the report code. Should the worker fail, this process
summarises and writes the run itself.

A run that fails while simulating (the online checker objects, or the simulator raises) is
still a result: its ``RunResult`` carries the error and the summary of the trace up to the
failure, and nothing escapes. What the run directory holds, and how it is replaced whole
and locked, is ``_rundir``'s (``run_directory``, ``finish_run_directory``, re-exported
here for the other producers of run directories).

``run_scenario`` is the Python API the CLI, the sweeps and the notebooks share.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._rundir import TRACE_FILES, finish_run_directory, run_directory
from .errors import InputError, error_text
from .scenario import Scenario, scenario_from_data

if TYPE_CHECKING:  # the simulator and pandas are imported when a run starts
    import pandas as pd
    import pyarrow as pa

    from .reports.render import FigurePool, LaterPool
    from .reports.run import RunData
    from .sim.result import SimResult

__all__ = [
    "TRACE_FILES",
    "RunResult",
    "default_out_dir",
    "finish_run_directory",
    "run_directory",
    "run_scenario",
]


@dataclass(frozen=True)
class RunResult:
    """What a run produced. ``out_dir`` is None for an in-memory run (no files written).

    ``error`` is what stopped a failed run (a violation the online checker found, or an
    exception of the simulator), else None; ``sim`` and ``summary`` then describe the trace
    up to the failure.
    """

    out_dir: Path | None
    summary: dict[str, Any]
    sim: SimResult
    scenario: Scenario
    trace_path: Path | None = None
    report_path: Path | None = None
    error: BaseException | None = None

    @property
    def failed(self) -> bool:
        """True when the simulation did not run to its end."""
        return self.error is not None

    @property
    def conformant(self) -> bool:
        """True when the run finished and the online checker found no violation."""
        return not self.failed and not self.summary["violations"]["count"]

    @property
    def exit_code(self) -> int:
        """The CLI's convention: 0 conformant, 1 violations or a failed run, 2 bad input
        (a scenario setting only the simulation found wrong)."""
        if isinstance(self.error, InputError):
            return 2
        return 0 if self.conformant else 1

    @property
    def key_figures(self) -> dict[str, float]:
        """The run's key figures (``reports.metrics.KEY_FIGURE_NAMES``), from its summary."""
        from .reports.summary import key_figures_of

        return key_figures_of(self.summary)


def default_out_dir(scenario_path: str | Path, seed: int, root: str | Path = "runs") -> Path:
    """``runs/<scenario-file-stem>-<seed>``."""
    return Path(root) / f"{Path(scenario_path).stem}-{seed}"


def run_scenario(
    scenario: Scenario,
    out_dir: Path | None,
    *,
    seed: int | None = None,
    trace_format: str | None = None,
    progress: bool = False,
) -> RunResult:
    """Simulate ``scenario`` and, when ``out_dir`` is given, write the run directory there.

    ``seed`` and ``trace_format`` override the scenario's own (``seed``,
    ``output.trace_format``); the effective scenario saved with the run carries them, so the
    run can be repeated from that file alone. ``progress`` shows a tqdm bar in simulated time
    on stderr. Bad settings raise ``InputError``; a run that fails while simulating does not
    raise: ``RunResult.error`` says why and ``RunResult.exit_code`` is not 0.
    """
    started = time.perf_counter()
    scenario = _build(scenario, seed, trace_format)
    if out_dir is None:
        sim, records, by_event, error = _simulate(scenario, None, progress, started)
        summary, _, _ = _summary(scenario, sim, records, by_event, error, started)
        return RunResult(None, summary, sim, scenario, error=error)
    target = Path(out_dir)
    with run_directory(target, scenario) as stage, _figure_pool(scenario) as pool:
        trace_path = stage / TRACE_FILES[scenario.output.trace_format]
        sim, records, by_event, error = _simulate(scenario, trace_path, progress, started)
        figures = pool.take() if pool is not None else None
        job = _Written(stage, target, trace_path, scenario, sim, records, by_event, error)
        del records  # the job holds them; dropped with it, before the directory is committed
        written = _written_by_worker(figures, job, started) if figures is not None else None
        if written is None:
            written = job.write(started, figures)
        del job
        summary, report, warning = written
        if warning:
            print(warning, file=sys.stderr)
        final = finish_run_directory(
            stage, target, scenario, trace_path, by_event, error_text(error) if error else None
        )
    trace_at = final / trace_path.name
    report_at = final / report.relative_to(stage) if report is not None else None
    return RunResult(final, summary, sim, scenario, trace_at, report_at, error)


def _summary(
    scenario: Scenario,
    sim: SimResult,
    frame: pd.DataFrame | pa.Table,
    by_event: dict[str, int],
    error: Exception | None,
    started: float,
    activities: pd.DataFrame | None = None,
    measured: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """summary.json as a dict, with the activity table and measures it was computed from;
    ``frame``: the records (``_simulate``'s), as a DataFrame or a table yet to become one;
    ``activities`` and ``measured``: their activity table and measures, if already made."""
    from .reports.summary import summarise_run
    from .trace import as_frame

    summary, acts, measured = summarise_run(
        scenario, sim, as_frame(frame), by_event, activities, measured
    )
    if error is not None:
        summary["error"] = error_text(error)
    summary["wall_seconds_total"] = time.perf_counter() - started
    return summary, acts, measured


# --- build ----------------------------------------------------------------------------------
def _build(scenario: Scenario, seed: int | None, trace_format: str | None) -> Scenario:
    data = scenario.model_dump(mode="json")
    if seed is not None:
        data["seed"] = seed
    if trace_format is not None:
        data["output"]["trace_format"] = trace_format
    return scenario_from_data(data, source=f"scenario {scenario.name!r}")


# --- simulate -------------------------------------------------------------------------------
def _simulate(
    scenario: Scenario, trace_path: Path | None, progress: bool, started: float
) -> tuple[SimResult, pd.DataFrame | pa.Table, dict[str, int], Exception | None]:
    """Run the simulator; the trace as the summary (and the report) reads it; the error of
    a failed run.

    The records are never read back from a Parquet trace: its writer keeps the Arrow
    batches it writes (every record when a report is asked for, else what the summary
    reads), so the file is written once and parsed never. They are handed on as that
    Arrow table (``trace.as_frame`` makes the DataFrame where the summary is computed: see
    the module docstring); a JSON Lines trace is read back into a DataFrame.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from .reports.names import SUMMARY_COLUMNS, SUMMARY_EVENTS
    from .sim import simulate
    from .trace import ParquetTraceWriter, TableTraceWriter, event_counts, open_writer

    everything = trace_path is not None and scenario.output.report
    subset = {"keep_events": SUMMARY_EVENTS, "keep_columns": SUMMARY_COLUMNS}
    # In memory, the records the summary reads become Arrow columns as they come (not a list
    # of dicts), the rest is only counted: a sweep's workers each hold a run's trace, and
    # compact columns keep them off each other's caches.
    writer: Any
    if trace_path is None:
        writer = TableTraceWriter(events=SUMMARY_EVENTS, columns=SUMMARY_COLUMNS)
    elif scenario.output.trace_format == "parquet":
        writer = ParquetTraceWriter(trace_path, keep=True, **({} if everything else subset))
    else:
        writer = open_writer(trace_path, scenario.output.trace_format)
    bar, on_progress = _progress_bar(scenario) if progress else (None, None)
    error: Exception | None = None
    result: SimResult | None = None
    try:
        result = simulate(scenario, writer=writer, check=True, progress=on_progress)
    except MemoryError:  # the machine's limit, not the run's result: the CLI says so
        raise
    except Exception as exc:  # a failed run is a result: keep the evidence
        error = exc
    finally:
        writer.close()
        if bar is not None:
            bar.close()
    records: pd.DataFrame | pa.Table
    if isinstance(writer, TableTraceWriter | ParquetTraceWriter):
        records = writer.table()
        by_event = dict(sorted(writer.counts.items())) if writer.counts else event_counts(records)
        if not everything:  # what the summary reads (as_frame's ``events``, on the table)
            keep = pc.is_in(records["event"], value_set=pa.array(SUMMARY_EVENTS))
            records = records.filter(keep)
        end_t = pc.max(records["t"]).as_py() if records.num_rows else 0.0
    else:
        assert trace_path is not None
        records, by_event = read_back(trace_path, scenario.output.trace_format, everything)
        end_t = float(records["t"].max()) if len(records) else 0.0
    if result is None:
        result = _failed_result(scenario, error, end_t, by_event, time.perf_counter() - started)
    return result, records, by_event, error


def read_back(
    trace_path: Path, trace_format: str, everything: bool = False
) -> tuple[pd.DataFrame, dict[str, int]]:
    """A trace on disk as the summary reads it: the summary's columns, every kind counted
    (``everything``: every record and field, as a report reads them).

    Public for the other producers of run directories (``activitykit.live``), so that a live
    run is summarised exactly as a simulated one.
    """
    from .reports.summary import SUMMARY_COLUMNS, SUMMARY_EVENTS
    from .trace import as_frame, count_events, read_table
    from .trace.validate import ALL_FIELDS

    fields = ALL_FIELDS if everything else frozenset(SUMMARY_COLUMNS)
    table = read_table(trace_path, trace_format, fields=fields)
    return as_frame(table, events=None if everything else SUMMARY_EVENTS), count_events(table)


def _failed_result(
    scenario: Scenario,
    exc: Exception | None,
    end_t: float,
    by_event: Mapping[str, int],
    wall: float,
) -> SimResult:
    """A SimResult for a run that stopped early: the trace up to the failure (its last
    record at ``end_t``)."""
    from .sim.result import SimResult, SimulationInvariantError

    return SimResult(
        end_t=float(end_t),
        records=int(sum(by_event.values())),
        events=0,
        wall_seconds=wall,
        violations=[str(exc)] if isinstance(exc, SimulationInvariantError) else [],
        counters={},
        unfinished=(),
        seed=scenario.seed,
    )


def _progress_bar(scenario: Scenario) -> tuple[Any, Callable[[float, float], None]]:
    from tqdm import tqdm

    class Bar(tqdm):  # type: ignore[type-arg]
        # no monitor thread (tqdm starts one with its first bar): this process keeps its
        # single thread, so that the run's checker process can be forked (``_fork``); the
        # bar is updated by the simulation's progress events, never blocked in an iterator
        monitor_interval = 0

    total = scenario.duration
    bar = Bar(
        total=round(total),
        unit="s",
        unit_scale=True,
        desc=f"{scenario.name} (simulated)",
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )

    def on_progress(t: float, end: float) -> None:
        if round(max(t, end)) != bar.total:  # run_until: drained moves the end
            bar.total = round(max(t, end))
        step = round(t) - bar.n
        if step > 0:
            bar.update(step)

    return bar, on_progress


# --- write ----------------------------------------------------------------------------------
def _write_summary(out_dir: Path, summary: dict[str, Any], trace_path: Path | None) -> None:
    """summary.json, with the list of the run's files (``out_dir``: the staged directory)."""
    from .reports.summary import write_summary

    summary["files"] = {
        "scenario": "scenario.effective.yaml",
        "trace": trace_path.name if trace_path else None,
        "summary": "summary.json",
    }
    write_summary(Path(out_dir) / "summary.json", summary)


@dataclass
class _Written:
    """What is left of a run once simulated: its summary and report to compute and write
    into the staged directory ``stage`` (``final``: where the run will be), here or in the
    figure worker (``_written_by_worker``), which is sent this object once."""

    stage: Path
    final: Path
    trace_path: Path
    scenario: Scenario
    sim: SimResult
    records: pd.DataFrame | pa.Table
    by_event: dict[str, int]
    error: Exception | None

    def write(
        self, started: float, figures: FigurePool | None, *, early: bool = False
    ) -> tuple[dict[str, Any], Path | None, str | None]:
        """summary.json and (when asked) report.html; the summary, the report's path and
        the warning to print when the report could not be written (then its path is None).
        ``early``: ask ``figures`` for the ``render.EARLY_FIGURES`` as soon as the activity
        table is made, before the summary (a ``ForkedPool`` then draws them meanwhile)."""
        from .reports.metrics import activity_table
        from .trace import as_frame

        frame = as_frame(self.records)
        del self.records  # the frame holds the records now; the table goes
        acts = activity_table(frame)
        run = self._run(frame, acts) if self.scenario.output.report else None
        if early and figures is not None and run is not None:
            from .reports.render import DRAW_ORDER, EARLY_FIGURES

            for name in DRAW_ORDER:
                if name in EARLY_FIGURES:
                    figures.submit(name, run)
        # the report's measures, made for its early figures already, are the summary's
        measured = run.measures if run is not None else None
        summary, acts, measured = _summary(
            self.scenario, self.sim, frame, self.by_event, self.error, started, acts, measured
        )
        del frame
        _write_summary(self.stage, summary, self.trace_path)
        if run is None:
            return summary, None, None
        from .reports.summary import strict

        run.summary = strict(summary)
        report, warning = _report_or_warning(run, self.final, figures)
        return summary, report, warning

    def _run(self, frame: pd.DataFrame, acts: pd.DataFrame) -> RunData:
        """The report's ``RunData`` before the summary is computed: its window ends where
        the simulation did, as summary.json's ``end_t`` says (the summary is added once
        computed)."""
        from .reports.run import read_scenario, run_data

        return run_data(
            self.stage,
            frame,
            {"end_t": float(self.sim.end_t)},
            read_scenario(self.stage / "scenario.effective.yaml"),
            trace_path=self.trace_path,
            activities=acts,
            # a finished run was checked record by record as it ran (sim.simulate check=True)
            checked=(
                self.sim.checked_with
                if self.error is None and self.sim.checked_with != "none"
                else None
            ),
        )

    def write_forked(self, began: float) -> tuple[dict[str, Any], Path | None, str | None]:
        """``write`` in the figure worker, its figures drawn by children it forks with the
        run in memory; ``began``: when the run started, as ``time.time()`` (the one clock
        both processes share), so summary ``wall_seconds_total`` counts the hand-over too,
        as it does when this process writes."""
        from .reports.render import ForkedPool

        started = time.perf_counter() - (time.time() - began)
        with ForkedPool() as figures:
            return self.write(started, figures, early=True)


#: Seconds to wait for a forked figure worker still importing at the end of a short run
#: (it takes about as long as this process would to import matplotlib; one this late is stuck).
WORKER_START_WAIT = 60.0
#: Seconds to wait for the figure worker's summary and report before writing them here
#: (a million-activity run's take a minute; a worker this late is stuck).
WORKER_WAIT = 900.0


def _written_by_worker(
    pool: FigurePool, job: _Written, started: float
) -> tuple[dict[str, Any], Path | None, str | None] | None:
    """``job.write`` done by the pool's worker, or None when it cannot be (the worker still
    starting, a failed run, a JSON Lines trace, the worker failing): this process then
    does it. A worker that fails or is stuck is stopped first, so that no two processes
    write the run's files. An exception ``job.write`` raised in the worker (a full disk,
    say) is raised here, as it would have been had this process written: doing it again
    would only raise it again, later."""
    import pyarrow as pa

    from .reports.render import WorkerFailed

    # a DataFrame was read back from a JSON Lines trace: pandas is here anyway
    if not (job.error is None and isinstance(job.records, pa.Table)):
        return None
    # A forked worker still importing is waited for: it started with this process's
    # imports, so it is ready before this process could import matplotlib itself. A
    # spawned one imports everything: this process is quicker, and does it.
    if not (pool.ready() or (pool.forked and pool.wait_ready(WORKER_START_WAIT))):
        return None
    try:
        # (no room for the job's file, something in it that does not pickle: the pool's
        # failure, not the job's)
        future = pool.call(job.write_forked, time.time() - (time.perf_counter() - started))
    except Exception as exc:
        return _worker_failed(pool, exc)
    try:
        return future.result(timeout=WORKER_WAIT)  # type: ignore[no-any-return]
    except WorkerFailed as exc:  # any other: the job's own, raised here
        return _worker_failed(pool, exc)
    except TimeoutError as exc:
        if future.done():  # (the job's own TimeoutError, an NFS write say: not the wait's)
            raise
        return _worker_failed(pool, exc)


def _worker_failed(pool: FigurePool, exc: Exception) -> None:
    """None, for ``_written_by_worker``, once the pool is stopped and the user told why."""
    if isinstance(exc, TimeoutError):
        exc = TimeoutError(f"no answer in {WORKER_WAIT:g} s")
    pool.stop()
    print(
        f"activitykit run: note: the report worker failed ({type(exc).__name__}: {exc}); "
        "writing the summary and report here",
        file=sys.stderr,
    )
    return None


@contextlib.contextmanager
def _figure_pool(scenario: Scenario) -> Iterator[LaterPool | None]:
    """Workers for the report's figures, importing matplotlib while the simulation runs
    (``reports.render.LaterPool``: forked at once, or spawned once the run has lasted long
    enough for it); None without a report or a second CPU."""
    if not scenario.output.report:
        yield None
        return
    from .reports.render import FigurePool, LaterPool

    if not FigurePool.wanted():
        yield None
        return
    with LaterPool() as pool:
        yield pool


def write_report_or_warn(
    out_dir: Path | RunData, final: Path, figures: FigurePool | None = None
) -> Path | None:
    """report.html via the reports package; a failing report does not lose the run.
    ``out_dir``: the run directory, or its ``RunData`` already in memory; ``figures``:
    see ``reports.write_report``."""
    report, warning = _report_or_warning(out_dir, final, figures)
    if warning:
        print(warning, file=sys.stderr)
    return report


def _report_or_warning(
    out_dir: Path | RunData, final: Path, figures: FigurePool | None
) -> tuple[Path | None, str | None]:
    """``write_report_or_warn``'s report, and its warning instead of printing it (a worker
    writing the report hands it to the process whose stderr the user reads)."""
    from .reports import write_report

    try:
        return Path(write_report(out_dir, figures=figures)), None
    except InputError:
        raise
    except Exception as exc:  # the run's results are on disk; say what failed and go on
        return None, (
            f"activitykit run: warning: report.html not written ({type(exc).__name__}: {exc}); "
            f"retry with: activitykit report {final}"
        )
