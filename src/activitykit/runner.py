"""One run of one scenario: simulate, write the run directory, summarise.

The phases follow desmod's: build (validate the scenario, with the seed and trace format of
this run folded in) -> simulate (``activitykit.sim.simulate`` writes the trace as it goes) ->
collect (``summary.json``, the report). The run directory holds everything needed to
reproduce and judge the run::

    runs/<scenario>-<seed>/
        scenario.effective.yaml   the scenario with every default filled in (written first)
        trace.parquet | .jsonl    every record of the run (TRACE.md)
        summary.json              counts, latencies, throughput, violations, key figures
        report.html               when output.report is true

``run_scenario`` is the Python API the CLI, the sweeps and the notebooks share.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .errors import InputError
from .model import State
from .scenario import Scenario, dump_effective, scenario_from_data

if TYPE_CHECKING:  # the simulator is imported when a run starts
    from .sim.result import SimResult

__all__ = [
    "METRIC_COLUMNS",
    "METRIC_EVENTS",
    "SUMMARY_PERCENTILES",
    "TRACE_FILES",
    "RunResult",
    "build_summary",
    "default_out_dir",
    "run_scenario",
    "summary_table",
]

#: Trace file name per trace format.
TRACE_FILES: Mapping[str, str] = {"parquet": "trace.parquet", "jsonl": "trace.jsonl"}
#: Record kinds the summary reads back; exchanges, deliveries and results (most of a trace)
#: are counted but not loaded.
METRIC_EVENTS: tuple[str, ...] = ("created", "transition", "enqueue", "consume", "ack", "fault")
#: The columns of those records that activity_table and key_figures read (the rest of a
#: million-activity trace would only cost memory).
METRIC_COLUMNS: tuple[str, ...] = (
    "t",
    "event",
    "activity",
    "computer",
    "kind",
    "type",
    "state",
    "from",
    "to",
    "deliver_after",
    "depends_on",
    "progress_of",
    "threshold",
    "parent",
    "handler",
    "fault",
)
#: Latency percentiles in summary.json (the key figures keep their own, fixed set).
SUMMARY_PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)
_PHASES = {
    "to_start": "created -> first In Progress",
    "run": "first In Progress -> final state",
    "total": "created -> final state",
}
#: Files of a previous run in the same directory that this run would leave inconsistent.
_STALE = ("summary.json", "report.html", *TRACE_FILES.values())


@dataclass(frozen=True)
class RunResult:
    """What a run produced. ``out_dir`` is None for an in-memory run (no files written)."""

    out_dir: Path | None
    summary: dict[str, Any]
    sim: SimResult
    scenario: Scenario
    trace_path: Path | None = None
    report_path: Path | None = None

    @property
    def conformant(self) -> bool:
        """True when the online checker found no violation."""
        return not self.summary["violations"]["count"]

    @property
    def exit_code(self) -> int:
        """0 conformant, 1 violations (the CLI's convention)."""
        return 0 if self.conformant else 1


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
    on stderr. Bad settings raise ``InputError``; violations found by the online checker do
    not raise: they are in ``summary["violations"]`` and ``RunResult.exit_code`` is 1.
    """
    from .sim import simulate
    from .sim.result import SimulationInvariantError
    from .trace import TableTraceWriter, open_writer

    scenario = _effective(scenario, seed, trace_format)
    started = time.perf_counter()
    trace_path: Path | None = None
    # In memory, the records the summary reads become Arrow columns as they come (not a list
    # of dicts), the rest is only counted: a sweep's workers each hold a run's trace, and
    # compact columns keep them off each other's caches.
    memory = (
        TableTraceWriter(events=METRIC_EVENTS, columns=METRIC_COLUMNS) if out_dir is None else None
    )
    writer: Any = memory
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in _STALE:
            (out_dir / name).unlink(missing_ok=True)
        (out_dir / "scenario.effective.yaml").write_text(dump_effective(scenario), "utf-8")
        trace_path = out_dir / TRACE_FILES[scenario.output.trace_format]
        writer = open_writer(trace_path, scenario.output.trace_format)
    bar, on_progress = _progress_bar(scenario) if progress else (None, None)
    broken: SimulationInvariantError | None = None
    try:
        result = simulate(scenario, writer=writer, check=True, progress=on_progress)
    except SimulationInvariantError as exc:  # the online checker objected: keep the evidence
        broken = exc
    finally:
        writer.close()
        if bar is not None:
            bar.close()
    if memory is None:
        frame, by_event = _read_trace(trace_path)
    else:
        frame = memory.table().to_pandas(strings_to_categorical=True)
        by_event = dict(sorted(memory.counts.items()))
    if broken is not None:
        result = _broken_result(scenario, broken, frame, by_event, time.perf_counter() - started)
    summary = build_summary(scenario, result, frame, by_event)
    summary["wall_seconds_total"] = time.perf_counter() - started
    report_path = None
    if out_dir is not None:
        summary["files"] = {
            "scenario": "scenario.effective.yaml",
            "trace": trace_path.name if trace_path else None,
            "summary": "summary.json",
        }
        _write_json(out_dir / "summary.json", summary)
        if scenario.output.report:
            report_path = _write_report(out_dir)
    return RunResult(out_dir, summary, result, scenario, trace_path, report_path)


def _broken_result(
    scenario: Scenario,
    exc: Exception,
    frame: pd.DataFrame,
    by_event: Mapping[str, int],
    wall: float,
) -> SimResult:
    """A SimResult for a run the online checker stopped: the trace up to the violation."""
    from .sim.result import SimResult

    return SimResult(
        end_t=float(frame["t"].max()) if len(frame) else 0.0,
        records=int(sum(by_event.values())),
        events=0,
        wall_seconds=wall,
        violations=[str(exc)],
        counters={},
        unfinished=(),
        seed=scenario.seed,
    )


# --- build ----------------------------------------------------------------------------------
def _effective(scenario: Scenario, seed: int | None, trace_format: str | None) -> Scenario:
    data = scenario.model_dump(mode="json")
    if seed is not None:
        data["seed"] = seed
    if trace_format is not None:
        data["output"]["trace_format"] = trace_format
    return scenario_from_data(data, source=f"scenario {scenario.name!r}")


def _progress_bar(scenario: Scenario) -> tuple[Any, Callable[[float, float], None]]:
    from tqdm import tqdm

    total = scenario.duration
    bar = tqdm(
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


# --- collect --------------------------------------------------------------------------------
def _read_trace(path: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """The records the summary needs, and the count of every record kind."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        names = set(pq.read_schema(path).names)
        return _frame_of_table(
            pq.read_table(path, columns=[c for c in METRIC_COLUMNS if c in names])
        )
    from .trace import read_frame

    return _frame_of(read_frame(path, "jsonl").drop(columns="line"))


def _frame_of_table(table: pa.Table) -> tuple[pd.DataFrame, dict[str, int]]:
    """Like ``_frame_of`` for an Arrow table: filter and convert only what the summary reads."""
    import pyarrow.compute as pc

    counts = pc.value_counts(table["event"]).to_pylist()
    by_event = {c["values"]: int(c["counts"]) for c in counts}
    keep = pc.is_in(table["event"], value_set=pa.array(METRIC_EVENTS))
    table = table.filter(keep).select([c for c in METRIC_COLUMNS if c in table.column_names])
    return table.to_pandas(strings_to_categorical=True), dict(sorted(by_event.items()))


def _frame_of(records: Any) -> tuple[pd.DataFrame, dict[str, int]]:
    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(records)
    if frame.empty or "event" not in frame.columns:
        return frame, {}
    by_event = {str(k): int(v) for k, v in frame["event"].value_counts().sort_index().items()}
    return frame.loc[frame["event"].isin(METRIC_EVENTS)].reset_index(drop=True), by_event


def _stats(values: np.ndarray) -> dict[str, float | int | None]:
    values = values[~np.isnan(values)]
    out: dict[str, float | int | None] = {"count": len(values)}
    if len(values) == 0:
        out |= {"mean": None, **{f"p{p}": None for p in SUMMARY_PERCENTILES}, "max": None}
        return out
    out["mean"] = float(values.mean())
    for p, v in zip(SUMMARY_PERCENTILES, np.percentile(values, SUMMARY_PERCENTILES), strict=True):
        out[f"p{p}"] = float(v)
    out["max"] = float(values.max())
    return out


def _counts(frame: pd.DataFrame, by: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    if frame.empty:
        return out
    table = frame.groupby([by, "state"], dropna=False).size()
    for (key, state), n in table.items():
        out.setdefault(str(key), {})[str(state)] = int(n)
    return dict(sorted(out.items()))


def build_summary(
    scenario: Scenario,
    result: SimResult,
    frame: pd.DataFrame,
    records_by_event: Mapping[str, int],
) -> dict[str, Any]:
    """summary.json as a dict; ``frame`` holds the trace's records (at least ``METRIC_EVENTS``).

    Latencies and throughput leave out activities created during the warm-up; counts of
    activities and of unfinished or stuck ones cover the whole run. Key figures stay floats
    (NaN where undefined, as the sweeps expect); summary.json writes NaN as null.
    """
    from .reports.metrics import activity_table, key_figures

    end = float(result.end_t)
    warmup = scenario.warmup
    acts = activity_table(frame)
    created_t = acts["created_t"].to_numpy(dtype=float)
    kinds = acts["kind"].to_numpy(dtype=object)
    scopes = {
        "all": np.ones(len(acts), bool),
        "client": kinds == "client",
        "server": kinds == "server",
    }
    measured = created_t >= warmup
    latency: dict[str, Any] = {"excludes_created_before": warmup, "phases": _PHASES}
    for scope, mask in scopes.items():
        latency[scope] = {
            phase: _stats(acts[phase].to_numpy(dtype=float)[mask & measured]) for phase in _PHASES
        }
    by_group = _latency_by_group(scenario, acts, measured)
    span = end - warmup
    final_t = acts["final_t"].to_numpy(dtype=float)
    done = (final_t >= warmup) & (final_t <= end)
    throughput: dict[str, Any] = {"window": [warmup, end]}
    for scope, mask in scopes.items():
        throughput[scope] = {
            "finished": int((mask & done).sum()),
            "finished_per_hour": (int((mask & done).sum()) * 3600.0 / span) if span > 0 else None,
        }

    unfinished = acts.loc[~acts["finished"].to_numpy(dtype=bool)]
    t_run = unfinished["t_in_progress"].to_numpy(dtype=float)
    in_progress = (unfinished["state"] == "In Progress").to_numpy()
    age_running = end - t_run
    stuck_mask = in_progress & (age_running >= scenario.output.stuck_after)
    stuck = unfinished.loc[stuck_mask].assign(age=age_running[stuck_mask])
    stuck = stuck.sort_values("age", ascending=False, kind="stable")
    ages = end - unfinished["created_t"].to_numpy(dtype=float)

    violations = [str(v) for v in (result.violations or ())]
    figures = key_figures(
        frame,
        warmup=warmup,
        end=end,
        handlers=scenario.server.job_handlers,
        activities=acts,
    )
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "profile": scenario.model.profile,
        "end_t": end,
        "conformant": not violations,
        "activities": {
            "total": len(acts),
            "by_state": {
                str(k): int(v) for k, v in acts["state"].value_counts().sort_index().items()
            },
            "by_kind": _counts(acts, "kind"),
            "by_type": _counts(acts, "type"),
        },
        "latency": latency,
        "latency_by_group": by_group,
        "throughput": throughput,
        "unfinished": {
            "count": len(unfinished),
            "by_state": {
                str(k): int(v) for k, v in unfinished["state"].value_counts().sort_index().items()
            },
            "oldest_age": float(ages.max()) if len(ages) else None,
        },
        "stuck": {
            "in_progress_for_at_least": scenario.output.stuck_after,
            "count": len(stuck),
            "oldest": [
                {"activity": str(r.id), "type": str(r.type), "computer": r.computer, "age": r.age}
                for r in stuck.head(20).itertuples()
            ],
        },
        "violations": {"count": len(violations), "first": violations[:50]},
        "events_processed": int(result.events),
        "records": {
            "total": int(sum(records_by_event.values())),
            "by_event": dict(records_by_event),
        },
        "wall_seconds": float(result.wall_seconds),
        "counters": dict(result.counters or {}),
        "key_figures": figures,
    }
    return _plain(summary, nan=True)


def _latency_by_group(
    scenario: Scenario, acts: pd.DataFrame, measured: np.ndarray
) -> dict[str, Any]:
    """Client latencies per fleet group (for fleets of several groups), warm-up excluded.

    The simulator numbers computers ``c1``..``cN`` group after group, in the order of
    ``fleet.groups``; activities on computers named otherwise are left out.
    """
    groups = scenario.fleet.groups
    if len(groups) < 2:
        return {}
    stops = np.cumsum([g.computers for g in groups])
    comp = pd.Series(acts["computer"].to_numpy(dtype=object), dtype="string")
    number = pd.to_numeric(comp.str.removeprefix("c"), errors="coerce").to_numpy(dtype=float)
    index = np.searchsorted(stops, number - 1, side="right")  # NaN -> past the last group
    client = (acts["kind"] == "client").to_numpy() & measured
    return {
        g.name: {
            phase: _stats(acts[phase].to_numpy(dtype=float)[client & (index == i)])
            for phase in _PHASES
        }
        for i, g in enumerate(groups)
    }


def _plain(value: Any, *, nan: bool) -> Any:
    """numpy scalars -> Python; NaN/inf kept (``nan``) or -> None (for strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v, nan=nan) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, nan=nan) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value) and not nan:
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _write_json(path: Path, doc: Mapping[str, Any]) -> None:
    text = json.dumps(_plain(doc, nan=False), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def _write_report(out_dir: Path) -> Path | None:
    """report.html via the reports package; a failing report does not lose the run."""
    from .reports import write_report

    try:
        return Path(write_report(out_dir))
    except InputError:
        raise
    except Exception as exc:  # the run's results are on disk; say what failed and go on
        print(
            f"activitykit run: warning: report.html not written ({type(exc).__name__}: {exc}); "
            f"retry with: activitykit report {out_dir}",
            file=sys.stderr,
        )
        return None


# --- the table printed at the end of a run --------------------------------------------------
def _fmt(value: Any, unit: str = "s") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}" if unit else f"{value:,.2f}"
    return f"{value:,}"


def summary_table(summary: Mapping[str, Any]) -> str:
    """A short human summary of ``summary.json`` (what ``activitykit run`` prints)."""
    acts = summary["activities"]
    lines = [
        f"scenario {summary['scenario']!r}  seed {summary['seed']}  "
        f"simulated {_fmt(summary['end_t'])}  wall {_fmt(summary['wall_seconds'])}  "
        f"events {summary['events_processed']:,}  records {summary['records']['total']:,}",
        "",
        f"{'activities':<12}{'total':>9}  " + "  ".join(f"{s:>11}" for s in _STATE_ORDER),
    ]
    for kind, states in [("all", acts["by_state"]), *acts["by_kind"].items()]:
        total = sum(states.values())
        lines.append(
            f"{kind:<12}{total:>9,}  " + "  ".join(f"{states.get(s, 0):>11,}" for s in _STATE_ORDER)
        )
    lines += [
        "",
        f"{'latency':<12}{'phase':<10}{'n':>9}{'p50':>11}{'p90':>11}{'p99':>11}{'max':>11}",
    ]
    for scope in ("client", "server"):
        for phase in _PHASES:
            st = summary["latency"][scope][phase]
            if not st["count"]:
                continue
            lines.append(
                f"{scope:<12}{phase:<10}{st['count']:>9,}"
                + "".join(f"{_fmt(st[k]):>11}" for k in ("p50", "p90", "p99", "max"))
            )
    for group, phases in summary.get("latency_by_group", {}).items():
        st = phases["total"]
        if st["count"]:
            lines.append(
                f"{'g:' + group:<12.12}{'total':<10}{st['count']:>9,}"
                + "".join(f"{_fmt(st[k]):>11}" for k in ("p50", "p90", "p99", "max"))
            )
    thr = summary["throughput"]["all"]["finished_per_hour"]
    lines += [
        "",
        f"throughput {_fmt(thr, '')}/h   unfinished {summary['unfinished']['count']:,}   "
        f"stuck {summary['stuck']['count']:,}   violations {summary['violations']['count']:,}",
    ]
    if summary["violations"]["count"]:
        lines += ["", "first violations:", *(f"  {v}" for v in summary["violations"]["first"][:5])]
    return "\n".join(lines) + "\n"


_STATE_ORDER = tuple(s.value for s in State)
