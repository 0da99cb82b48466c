"""``activitykit run`` and ``runner.run_scenario``: the run directory, summary, exit codes."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from activitykit.cli import main
from activitykit.cli.run import summary_table
from activitykit.errors import InputError
from activitykit.reports.summary import key_figures_of
from activitykit.runner import default_out_dir, run_scenario
from activitykit.scenario import load_scenario, loads_scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
IDLE = ROOT / "scenarios" / "idle-fleet.yaml"
#: A quick baseline: half an hour, no report.
QUICK = ["duration=1800", "output.report=false"]
SET_QUICK = [arg for s in QUICK for arg in ("--set", s)]

SMALL = """
name: small
seed: 4
duration: 1200
fleet:
  groups:
    - name: g
      computers: 30
      handlers:
        ExecuteScriptRequest: {duration: {dist: exponential, mean: 20}, failure_probability: 0.1}
workload:
  arrivals:
    - {name: s, type: ExecuteScriptRequest, rate: 0.05}
    - {name: r, type: GenerateUsgReportActivity, rate: 0.01}
output:
  report: false
"""


def small(tmp_path: Path, text: str = SMALL) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_run_writes_the_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(BASELINE), "--out", str(out), *SET_QUICK]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "scenario.effective.yaml",
        "summary.json",
        "trace.parquet",
    ]
    captured = capsys.readouterr()
    printed = captured.out
    assert "scenario 'baseline'  seed 1" in printed and "violations 0" in printed
    assert captured.err == ""  # stderr is not a terminal here: no progress bar
    assert f"wrote {out}/" in printed
    # The effective scenario reproduces the run's settings, overrides included.
    effective = load_scenario(out / "scenario.effective.yaml")
    assert effective == load_scenario(BASELINE, QUICK)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conformant"] is True and summary["violations"]["count"] == 0
    assert summary["scenario"] == "baseline" and summary["seed"] == 1
    assert summary["end_t"] == 1800.0
    acts = summary["activities"]
    assert acts["total"] == sum(acts["by_state"].values()) > 50
    assert set(acts["by_kind"]) == {"client", "server"}
    assert "ExecuteScriptRequest" in acts["by_type"]
    for scope in ("all", "client", "server"):
        for phase in ("to_start", "run", "total"):
            stats = summary["latency"][scope][phase]
            assert set(stats) == {
                *("count", "open", "mean", "p50", "p90", "p95", "p99", "max"),
                "lower_bounds",
            }
            if stats["count"]:
                assert stats["p50"] <= stats["p90"] <= stats["p99"]
                # max is of the finished ones; a lower bound may lie beyond it
                if "p99" not in stats["lower_bounds"]:
                    assert stats["p99"] <= stats["max"]
    assert summary["latency"]["excludes_created_before"] == 900.0
    assert summary["throughput"]["all"]["finished_per_hour"] > 0
    assert summary["records"]["total"] == sum(summary["records"]["by_event"].values())
    assert summary["events_processed"] > 0 and summary["wall_seconds"] > 0
    assert summary["counters"]["exchanges"] > 0
    assert "key_figures" not in summary  # the key figures are a view of it, not a second copy
    assert key_figures_of(summary)["all.total.p50"] == summary["latency"]["all"]["total"]["p50"]
    assert summary["unfinished"]["count"] == acts["total"] - sum(
        n for s, n in acts["by_state"].items() if s in ("Succeeded", "Failed", "Canceled")
    )


def test_summary_matches_the_trace(tmp_path: Path) -> None:
    import pandas as pd

    result = run_scenario(load_scenario(small(tmp_path)), tmp_path / "r")
    frame = pd.read_parquet(result.trace_path)
    created = frame[frame["event"] == "created"]
    assert result.summary["activities"]["total"] == len(created)
    assert result.summary["records"]["total"] == len(frame) == result.sim.records
    by_kind = created["kind"].value_counts().to_dict()
    assert {
        k: sum(v.values()) for k, v in result.summary["activities"]["by_kind"].items()
    } == by_kind


def test_in_memory_run_gives_the_same_summary(tmp_path: Path) -> None:
    scenario = load_scenario(small(tmp_path))
    in_memory = run_scenario(scenario, None).summary
    for fmt in ("parquet", "jsonl"):  # each format is read back its own way
        on_disk = run_scenario(scenario, tmp_path / fmt, trace_format=fmt).summary
        for key in ("activities", "latency", "throughput", "queue_wait", "job_handlers"):
            assert on_disk[key] == in_memory[key], (fmt, key)
        for key in ("latency_by_group", "unfinished", "stuck", "records"):
            assert on_disk[key] == in_memory[key], (fmt, key)
        mem = key_figures_of(in_memory)
        figures = [(k, v, mem[k]) for k, v in key_figures_of(on_disk).items()]
        assert all(a == b or (math.isnan(a) and math.isnan(b)) for _, a, b in figures), fmt


def test_a_run_with_its_report_has_the_summary_of_one_without(tmp_path: Path) -> None:
    # With a report, the summary takes the report's measures (made for its first figures)
    # instead of computing them again: they must be the ones it would have computed, over
    # the same window (a warm-up, the run's end) and job-handlers.
    timing = ("wall_seconds", "wall_seconds_total")
    sets = ["warmup=300", "server.job_handlers=2"]
    summaries = {}
    for report in ("false", "true"):
        sc = load_scenario(small(tmp_path), [*sets, f"output.report={report}"])
        out = run_scenario(sc, tmp_path / report)
        assert (out.report_path is not None) == (report == "true")
        text = json.loads((tmp_path / report / "summary.json").read_text())
        summaries[report] = {k: v for k, v in text.items() if k not in timing}
    assert summaries["true"] == summaries["false"]
    assert summaries["true"]["throughput"]["window"][0] == 300


def test_same_seed_same_bytes_other_seed_other_trace(tmp_path: Path) -> None:
    scenario = load_scenario(small(tmp_path))
    for fmt in ("parquet", "jsonl"):
        a = run_scenario(scenario, tmp_path / f"a-{fmt}", trace_format=fmt).trace_path
        b = run_scenario(scenario, tmp_path / f"b-{fmt}", trace_format=fmt).trace_path
        c = run_scenario(scenario, tmp_path / f"c-{fmt}", trace_format=fmt, seed=5).trace_path
        assert a is not None and b is not None and c is not None
        assert a.name == f"trace.{fmt}"
        assert a.read_bytes() == b.read_bytes()
        assert a.read_bytes() != c.read_bytes()


def test_cli_determinism_and_seed_in_default_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(path), "--quiet", "--seed", "9", "--trace-format", "jsonl"]) == 0
    first = (tmp_path / "runs" / "small-9" / "trace.jsonl").read_bytes()
    assert main(["run", str(path), "--quiet", "--seed", "9", "--trace-format", "jsonl"]) == 0
    assert (tmp_path / "runs" / "small-9" / "trace.jsonl").read_bytes() == first
    assert default_out_dir(path, 9) == Path("runs/small-9")
    assert (
        yaml.safe_load((tmp_path / "runs/small-9/scenario.effective.yaml").read_text())["seed"] == 9
    )


def test_rerun_replaces_a_trace_of_the_other_format(tmp_path: Path) -> None:
    path, out = small(tmp_path), tmp_path / "r"
    assert main(["run", str(path), "--out", str(out), "-q"]) == 0
    assert (out / "trace.parquet").exists()
    assert main(["run", str(path), "--out", str(out), "-q", "--trace-format", "jsonl"]) == 0
    assert (out / "trace.jsonl").exists() and not (out / "trace.parquet").exists()
    assert json.loads((out / "summary.json").read_text())["files"]["trace"] == "trace.jsonl"


def test_quiet_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(small(tmp_path)), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.slow  # the HTML report draws its figures: ~10 s on a shared core
def test_report_is_written_when_asked(tmp_path: Path) -> None:
    scenario = load_scenario(small(tmp_path), ["output.report=true"])
    result = run_scenario(scenario, tmp_path / "r")
    assert result.report_path == tmp_path / "r" / "report.html"
    assert result.report_path.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype")


def test_a_report_draws_only_what_the_run_has(tmp_path: Path) -> None:
    """No dependency and no bulk operation: the graph and bulk sections say so in words
    instead of drawing unconnected nodes and empty axes. One client type and one server
    type: the latency figure draws one row (types, labelled with their kind), not the same
    curves twice."""
    from activitykit.reports import figures as F
    from activitykit.reports import load_run

    scenario = load_scenario(small(tmp_path), ["output.report=true"])
    result = run_scenario(scenario, tmp_path / "r")
    assert result.report_path is not None
    text = result.report_path.read_text(encoding="utf-8")
    alts = re.findall(r'<img alt="([^"]+)"', text)
    assert sorted(alts) == sorted(F.FIGURES.keys() - {"graph", "bulk_progress"})
    assert "the graph has no edges" in text and "No bulk operation" in text
    assets = tmp_path / "r" / "report"
    for gone in ("graph.png", "graph.graphml", "graph.dot", "bulk_progress.png"):
        assert not (assets / gone).exists()
    assert (assets / "bulk_thresholds.csv").is_file()  # (empty, with its header)
    fig = F.latency_figure(load_run(tmp_path / "r"))
    assert len(fig.axes) == 3
    assert all(ax.get_title().endswith(" by type") for ax in fig.axes)
    labels = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert any(label.startswith("ExecuteScriptRequest (client) ") for label in labels)
    assert any(label.startswith("GenerateUsgReportActivity (server) ") for label in labels)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "fleet.groups.0.computers=abc"], "--set fleet.groups.0.computers=abc: "),
        (["--set", "nope=1"], "unknown key 'nope'"),
    ],
)
def test_bad_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["run", str(small(tmp_path)), "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_a_negative_seed_is_refused_by_argparse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", str(small(tmp_path)), "--out", str(tmp_path / "r"), "--seed", "-1"])
    assert exc.value.code == 2
    assert "argument --seed: -1: a seed is 0 to" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_out_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["run", str(small(tmp_path)), "--out", str(tmp_path / "file")]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


def test_bad_file_and_missing_file_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = small(tmp_path, SMALL.replace("rate: 0.05", "rate: -1"))
    assert main(["run", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "small.yaml:13: workload.arrivals[0].rate: Input should be greater than 0" in (
        capsys.readouterr().err
    )
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_violations_exit_1_and_keep_the_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A simulator that breaks a rule: the run stops, is summarised, and exits 1."""
    import activitykit.sim as sim
    from activitykit.sim.result import SimulationInvariantError

    def broken(scenario, *, writer=None, check=True, progress=None):
        record = {"t": 5.0, "event": "created", "activity": "a1", "kind": "server"}
        writer.write({**record, "type": "ArchiveRequest", "state": "Queued"})
        bad = {
            "t": 6.0,
            "event": "transition",
            "activity": "a1",
            "from": "Queued",
            "to": "Succeeded",
        }
        writer.write(bad)
        raise SimulationInvariantError("T3 Queued -> Succeeded is not allowed", bad)

    monkeypatch.setattr(sim, "simulate", broken)
    out = tmp_path / "r"
    assert main(["run", str(small(tmp_path)), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "violations 1" in captured.out
    assert "1 violation(s)" in captured.err and "activitykit check" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conformant"] is False
    assert "Queued -> Succeeded" in summary["violations"]["first"][0]
    assert summary["activities"]["by_state"] == {"Succeeded": 1}


def test_run_scenario_refuses_bad_overrides() -> None:
    scenario = loads_scenario(SMALL)
    with pytest.raises(InputError, match="seed: Input should be greater than or equal to 0"):
        run_scenario(scenario, None, seed=-3)
    with pytest.raises(InputError, match="trace_format"):
        run_scenario(scenario, None, trace_format="csv")


def test_idle_fleet_latency_is_what_the_client_rules_imply(tmp_path: Path) -> None:
    """Created -> In Progress is at most one ping + one urgent exchange; the 10 s script then
    needs an urgent exchange (60 s) to report back."""
    # (no handler overhead: the script takes exactly its 10 s, the bound below is exact)
    scenario = load_scenario(
        IDLE,
        [
            "fleet.groups.0.computers=300",
            "fleet.groups.0.client.handler_overhead=0",
            "output.report=false",
        ],
    )
    summary = run_scenario(scenario, None).summary
    assert summary["activities"]["by_state"] == {"Succeeded": 200}
    to_start, run = summary["latency"]["client"]["to_start"], summary["latency"]["client"]["run"]
    assert to_start["count"] == 200
    assert to_start["max"] <= 30 + 60 + 1e-6
    assert 60 < to_start["mean"] < 90
    # ... plus the client's handling of the messages ahead of it in its exchange (17 ms each)
    assert run["max"] <= 10 + 60 + 0.1 and run["mean"] > 10


def test_client_restarts_leave_stuck_activities() -> None:
    scenario = load_scenario(
        ROOT / "scenarios" / "client-restarts.yaml",
        ["fleet.groups.0.computers=200", "duration=14400", "output.report=false"],
    )
    summary = run_scenario(scenario, None).summary
    assert summary["counters"]["lost_results"] > 0
    assert summary["stuck"]["count"] > 0
    oldest = summary["stuck"]["oldest"]
    assert all(o["age"] >= 3600 for o in oldest)
    assert [o["age"] for o in oldest] == sorted((o["age"] for o in oldest), reverse=True)


def test_summary_table_lists_states_and_phases(tmp_path: Path) -> None:
    summary = run_scenario(load_scenario(small(tmp_path)), None).summary
    table = summary_table(summary)
    assert "Succeeded" in table and "to_start" in table and "throughput" in table
    assert "server" in table and "client" in table


def test_progress_bar_follows_simulated_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import activitykit.runner as runner

    seen: list[tuple[float, float]] = []
    bars: list = []
    make = runner._progress_bar

    def spy(scenario):
        bar, on_progress = make(scenario)
        bars.append(bar)

        def record(t: float, end: float) -> None:
            seen.append((t, end))
            on_progress(t, end)

        return bar, record

    monkeypatch.setattr(runner, "_progress_bar", spy)
    run_scenario(load_scenario(small(tmp_path)), None, progress=True)
    assert "small (simulated)" in capsys.readouterr().err
    assert seen and seen[-1][1] == 1200.0
    assert [t for t, _ in seen] == sorted(t for t, _ in seen)
    assert bars[0].n == round(seen[-1][0]) and bars[0].total == 1200
    # run_until: drained moves the end past the duration; the bar follows.
    bar, on_progress = make(load_scenario(small(tmp_path)))
    on_progress(1500.0, 1800.0)
    assert (bar.n, bar.total) == (1500, 1800)
    bar.close()


def test_latency_by_group_answers_the_ping_interval_question() -> None:
    scenario = load_scenario(
        ROOT / "scenarios" / "ping-interval-tradeoff.yaml",
        [*(f"fleet.groups.{i}.computers=100" for i in range(3)), "duration=3600"],
    )
    summary = run_scenario(scenario, None).summary
    groups = summary["latency_by_group"]
    assert list(groups) == ["ping-10s", "ping-30s", "ping-120s"]
    assert (
        sum(g["to_start"]["count"] for g in groups.values())
        == (summary["latency"]["client"]["to_start"]["count"])
    )
    means = [g["to_start"]["mean"] for g in groups.values()]
    assert means == sorted(means)  # a longer ping interval, a later delivery
    # At most one ping interval plus the urgent exchange delay (60 s) before delivery.
    for g, ping in zip(groups.values(), (10, 30, 120), strict=True):
        assert g["to_start"]["max"] <= ping + 60 + 1e-6
    assert "g:ping-10s" in summary_table(summary)


def test_created_records_carry_the_fleet_group_and_reports_use_it(tmp_path: Path) -> None:
    two = SMALL.replace(
        "    - name: g\n      computers: 30\n",
        "    - name: g\n      computers: 30\n    - name: h\n      computers: 10\n",
    )
    scenario = load_scenario(small(tmp_path, two))
    assert [g.name for g in scenario.fleet.groups] == ["g", "h"]
    result = run_scenario(scenario, tmp_path / "r", trace_format="jsonl")
    assert result.trace_path is not None
    records = [json.loads(line) for line in result.trace_path.read_text().splitlines()]
    created = [r for r in records if r["event"] == "created" and r["kind"] == "client"]
    assert created and all(r["group"] == ("g" if int(r["computer"][1:]) <= 30 else "h")
                           for r in created)  # fmt: skip
    # The per-group breakdown reads the field, not the computer ids: renamed computers
    # keep their groups.
    from activitykit.reports.summary import summarise

    renamed = [{**r, "computer": "pc-" + r["computer"]} if "computer" in r else r for r in records]
    by_event: dict[str, int] = {}
    for r in records:
        by_event[r["event"]] = by_event.get(r["event"], 0) + 1
    from activitykit.trace import as_frame

    again = summarise(
        result.scenario, result.sim, as_frame(renamed), dict(sorted(by_event.items()))
    )
    assert again["latency_by_group"] == result.summary["latency_by_group"]
    assert sum(g["total"]["count"] for g in again["latency_by_group"].values()) > 0


def test_a_failing_simulation_is_a_result_not_an_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import activitykit.sim as sim

    def crashing(scenario, *, writer=None, check=True, progress=None):
        record = {"t": 5.0, "event": "created", "activity": "a1", "kind": "server"}
        writer.write({**record, "type": "ArchiveRequest", "state": "Queued"})
        raise ZeroDivisionError("a bug in the model")

    monkeypatch.setattr(sim, "simulate", crashing)
    result = run_scenario(load_scenario(small(tmp_path)), tmp_path / "r")
    assert result.failed and isinstance(result.error, ZeroDivisionError)
    assert not result.conformant and result.exit_code == 1
    assert result.summary["activities"]["by_state"] == {"Queued": 1}
    written = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert written["error"].startswith("ZeroDivisionError: a bug in the model")
    assert main(["run", str(small(tmp_path)), "--out", str(tmp_path / "c")]) == 1
    assert "the simulation failed: ZeroDivisionError" in capsys.readouterr().err

    def refusing(scenario, *, writer=None, check=True, progress=None):
        raise InputError("workload.arrivals.0: state Scheduled needs deliver_after")

    monkeypatch.setattr(sim, "simulate", refusing)
    result = run_scenario(load_scenario(small(tmp_path)), None)
    assert isinstance(result.error, InputError) and result.exit_code == 2
    assert main(["run", str(small(tmp_path)), "--out", str(tmp_path / "d")]) == 2
    assert "needs deliver_after" in capsys.readouterr().err


def test_a_short_run_waits_for_its_forked_worker_and_writes_here_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_method: str
) -> None:
    """Forked at the start with this process's imports, the report worker is worth waiting
    for however short the run; a spawned one starts only after a second of simulation, so a
    short run writes its summary and report here."""
    import functools
    import time

    from activitykit import runner
    from activitykit.reports import render

    calls: list[object] = []
    real, imports = runner._summary, render._import
    monkeypatch.setattr(runner, "_summary", lambda *a: calls.append(a) or real(*a))
    # a forked worker still importing when the run ends (this process has imported
    # matplotlib already, and its copy would be ready at once)
    monkeypatch.setattr(render, "_import", lambda: time.sleep(1.0) or imports())
    # however slow the machine, the short run ends before a spawned pool's delay
    monkeypatch.setattr(render, "LaterPool", functools.partial(render.LaterPool, delay=600))
    scenario = load_scenario(small(tmp_path), ["output.report=true"])
    result = run_scenario(scenario, tmp_path / "r")
    assert result.report_path is not None and result.report_path.is_file()
    assert (result.out_dir / "summary.json").is_file()
    # (a forked worker calls its own copy of ``_summary``: this process's list stays empty;
    # one usable CPU gets no worker at all)
    assert (calls == []) == (start_method == "forked" and render.FigurePool.wanted())


def _report_files(run_dir: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in (run_dir / "report").iterdir()}
    files["report.html"] = (run_dir / "report.html").read_bytes()
    return files


def _ready_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run gets a figure pool that has started, however short the simulation."""
    import contextlib
    import time

    from activitykit import runner
    from activitykit.reports.render import FigurePool

    class Started:
        def __init__(self, pool: FigurePool) -> None:
            self.pool = pool

        def take(self) -> FigurePool:
            return self.pool

    @contextlib.contextmanager
    def figure_pool(scenario):  # type: ignore[no-untyped-def]
        with FigurePool() as pool:
            deadline = time.monotonic() + 120
            while not pool.ready() and time.monotonic() < deadline:
                time.sleep(0.05)
            yield Started(pool)

    monkeypatch.setattr(runner, "_figure_pool", figure_pool)


def test_the_figure_worker_writes_the_summary_and_report_this_process_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a started figure pool, the worker summarises the run and writes its report
    (this process never computes the summary): the same files, byte for byte."""
    from activitykit import runner

    scenario = load_scenario(small(tmp_path), ["output.report=true", "duration=3600"])
    here = run_scenario(scenario, tmp_path / "here")  # too short for a pool: all here
    assert here.report_path is not None
    _ready_pool(monkeypatch)
    calls: list[object] = []
    real = runner._summary
    monkeypatch.setattr(runner, "_summary", lambda *a: calls.append(a) or real(*a))
    there = run_scenario(scenario, tmp_path / "there")
    assert calls == []  # summarised in the worker
    assert there.report_path == tmp_path / "there" / "report.html"
    assert there.trace_path is not None and here.trace_path is not None
    assert there.trace_path.read_bytes() == here.trace_path.read_bytes()
    timing = ("wall_seconds", "wall_seconds_total")
    a, b = (json.loads((r / "summary.json").read_text()) for r in (here.out_dir, there.out_dir))
    assert {k: v for k, v in a.items() if k not in timing} == {
        k: v for k, v in b.items() if k not in timing
    }
    assert there.summary["activities"] == here.summary["activities"]
    assert there.summary["wall_seconds_total"] >= there.summary["wall_seconds"]
    ours, theirs = _report_files(here.out_dir), _report_files(there.out_dir)
    assert sorted(ours) == sorted(theirs)
    for name, body in ours.items():
        if name == "report.html":  # the page's title names the run directory
            body = body.replace(b"activitykit report: here", b"activitykit report: there")
        assert theirs[name] == body, name


def test_a_failing_figure_worker_leaves_the_run_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from activitykit.reports import render

    scenario = load_scenario(small(tmp_path), ["output.report=true"])
    here = run_scenario(scenario, tmp_path / "here")
    _ready_pool(monkeypatch)

    def broken(self, fn, *args):  # type: ignore[no-untyped-def]
        from concurrent.futures import Future

        failed: Future[object] = Future()
        failed.set_exception(render.WorkerFailed("figure worker failed: gone"))
        return failed

    monkeypatch.setattr(render.FigurePool, "call", broken)
    there = run_scenario(scenario, tmp_path / "there")
    assert "the report worker failed" in capsys.readouterr().err
    assert there.conformant and there.report_path is not None
    assert there.summary["activities"] == here.summary["activities"]
    assert (there.out_dir / "report" / "latency.png").read_bytes() == (
        here.out_dir / "report" / "latency.png"
    ).read_bytes()


from activitykit import runner as _runner  # noqa: E402 - the class below derives from it


class _FullDisk(_runner._Written):
    """A run whose summary cannot be written (no room), in whichever process writes it;
    module-level, so that the figure worker can unpickle it."""

    def write(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        import os

        # (in this process only: the worker's answer tells it did the job)
        if os.environ.get("ACTIVITYKIT_TEST_PARENT") == str(os.getpid()):
            _WRITTEN_HERE.append(args)
        raise OSError(28, "No space left on device", str(self.stage / "summary.json"))


_WRITTEN_HERE: list[object] = []


def test_an_error_the_worker_meets_writing_the_run_is_the_runs_not_retried_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk in the worker is the run's error, as it would have been here: it is not
    written a second time (slowly, to fail the same way) nor blamed on the worker."""
    import os

    from activitykit import runner

    scenario = load_scenario(small(tmp_path), ["output.report=true"])
    _ready_pool(monkeypatch)
    monkeypatch.setenv("ACTIVITYKIT_TEST_PARENT", str(os.getpid()))
    monkeypatch.setattr(runner, "_Written", _FullDisk)
    _WRITTEN_HERE.clear()
    with pytest.raises(OSError, match="No space left") as raised:
        run_scenario(scenario, tmp_path / "there")
    assert raised.value.errno == 28
    assert _WRITTEN_HERE == []
    assert "report worker failed" not in capsys.readouterr().err
    assert not (tmp_path / "there").exists()


_NO_PANDAS_HERE = """
import contextlib, sys, time
from pathlib import Path
from activitykit import runner
from activitykit.reports.render import FigurePool
from activitykit.scenario import load_scenario

class Started:
    def __init__(self, pool): self.pool = pool
    def take(self): return self.pool

@contextlib.contextmanager
def figure_pool(scenario):  # a pool that has started, however short the simulation
    with FigurePool() as pool:
        deadline = time.monotonic() + 120
        while not pool.ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield Started(pool)

runner._figure_pool = figure_pool
scenario = load_scenario(Path(sys.argv[1]), ["output.report=true"])
result = runner.run_scenario(scenario, Path(sys.argv[2]))
assert result.report_path is not None and result.conformant
print(sorted(m for m in sys.modules if m.split(".")[0] in ("pandas", "matplotlib")))
"""


def test_with_a_started_worker_the_runs_process_never_imports_pandas(tmp_path: Path) -> None:
    """The worker summarises and reports a Parquet run; this process, which simulated it,
    is spared importing pandas and matplotlib (about 1 s of CPU on the command's path)."""
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(_NO_PANDAS_HERE, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script), str(small(tmp_path)), str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout
    assert (tmp_path / "run" / "report.html").is_file()


def test_a_json_lines_run_with_its_report_reads_its_trace_back_whole(tmp_path) -> None:
    """The report of a JSON Lines run reads every field of the trace back (``read_back``
    with ``everything``): found broken by a hostile-input rerun (a TypeError, no run)."""
    from activitykit.cli import main

    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(
        "name: tiny\nseed: 1\nduration: 600\n"
        "fleet: {groups: [{name: g, computers: 20}]}\n"
        "server: {job_handlers: 1}\n"
        "workload: {arrivals: [{name: s, type: ExecuteScriptRequest, rate: 0.05},"
        " {name: u, type: GenerateUsgReportActivity, rate: 0.01}]}\n"
        "output: {trace_format: jsonl, report: true}\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert (out / "report.html").stat().st_size > 0 and (out / "trace.jsonl").exists()
