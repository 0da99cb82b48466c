"""Figures, report.html, compare mode and the 'activitykit report' command."""

from __future__ import annotations

import base64
import json
import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from activitykit.cli import main
from activitykit.errors import InputError
from activitykit.reports import KEY_FIGURE_NAMES, SECTIONS, load_run, write_compare, write_report
from activitykit.reports import figures as F
from activitykit.reports.synthetic import synthetic_trace
from activitykit.trace import ARROW_SCHEMA, write_trace

PNG = b"\x89PNG\r\n\x1a\n"


def make_run(path, n: int = 120, seed: int = 0, warmup: float = 60.0):
    path.mkdir(parents=True, exist_ok=True)
    frame = synthetic_trace(n, seed=seed, duration=1800, group_size=20, groups=3)
    table = pa.Table.from_pandas(frame, schema=ARROW_SCHEMA, preserve_index=False)
    pq.write_table(table, path / "trace.parquet")
    scenario = {
        "name": "synthetic",
        "duration": 1800.0,
        "warmup": warmup,
        "server": {"job_handlers": 4},
        "model": {"profile": "result-wins"},
        "output": {"stuck_after": 600.0},
    }
    (path / "scenario.effective.yaml").write_text(yaml.safe_dump(scenario))
    (path / "summary.json").write_text(json.dumps({"seed": seed}))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "r1")


def test_load_run_reads_the_run_directory(run_dir):
    run = load_run(run_dir)
    assert run.summary == {"seed": 0}
    assert run.scenario["name"] == "synthetic"
    assert (run.warmup, run.handlers, run.stuck_after, run.end) == (60.0, 4, 600.0, 1800.0)
    assert len(run.activities) == 120
    assert set(run.activities.columns) >= {
        "id",
        "kind",
        "type",
        "computer",
        "t_in_progress",
        "state",
        "to_start",
        "run",
        "total",
    }
    assert run.graph.number_of_nodes() == 123  # 120 activities + 3 groups
    assert list(run.key_figures) == list(KEY_FIGURE_NAMES)
    assert run.key_figures["all.created"] == 120


@pytest.fixture(scope="module")
def run(run_dir):
    return load_run(run_dir)


@pytest.mark.parametrize("name", list(F.FIGURES))
def test_every_figure_renders(run, name):
    fig = F.FIGURES[name](run)
    png = F.figure_png(fig)
    assert png.startswith(PNG) and len(png) > 5000


ONE_RECORD = {
    "t": 0,
    "event": "created",
    "activity": "a",
    "kind": "server",
    "type": "GenerateUsgReportActivity",
    "state": "Queued",
}


@pytest.mark.parametrize("records", [[], [ONE_RECORD]], ids=["empty", "one-record"])
@pytest.mark.parametrize("name", list(F.FIGURES))
def test_every_figure_renders_an_empty_run(tmp_path, name, records):
    path = tmp_path / "t.jsonl"
    write_trace(records, path)
    png = F.figure_png(F.FIGURES[name](load_run(path)))
    assert png.startswith(PNG)


def test_big_graph_is_summarised(tmp_path):
    run = load_run(make_run(tmp_path / "big", n=400))
    fig = F.graph_figure(run)
    assert "summarised by type" in fig.axes[0].get_title()


def test_latency_figure_splits_by_kind_and_by_type_when_they_differ(run_dir):
    fig = F.latency_figure(load_run(run_dir))  # several types of each kind
    assert len(fig.axes) == 6
    assert [ax.get_title().rsplit(" by ", 1)[1] for ax in fig.axes] == ["kind"] * 3 + ["type"] * 3


def test_report_html_has_every_section_and_inline_figures(run_dir):
    out = write_report(run_dir)
    assert out == run_dir / "report.html"
    text = out.read_text()
    for section in SECTIONS:
        assert f">{section}</h2>" in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == len(F.FIGURES)
    assert all(base64.b64decode(i).startswith(PNG) for i in images)
    assert "http://" not in text and "https://" not in text  # viewable offline
    assets = run_dir / "report"
    for name in F.FIGURES:
        assert (assets / f"{name}.png").read_bytes().startswith(PNG)
    key = pd.read_csv(assets / "key_figures.csv")
    assert key["name"].tolist() == list(KEY_FIGURE_NAMES)
    for name in (
        "latency_by_kind",
        "latency_by_type",
        "occupancy",
        "queue",
        "exchange",
        "unfinished",
        "critical_path",
        "throughput_by_kind",
        "activities",
    ):
        assert (assets / f"{name}.csv").is_file(), name
    assert (assets / "graph.graphml").is_file() and (assets / "graph.dot").is_file()
    assert "synthetic" in (assets / "scenario.effective.yaml").read_text()
    assert "conformant" in text  # the synthetic trace obeys every rule


@pytest.mark.slow
def test_report_of_a_bare_trace_file(tmp_path):
    path = tmp_path / "mytrace.jsonl"
    write_trace(synthetic_trace(30, duration=600, groups=0).to_dict("records"), path)
    out = write_report(path, check=False)
    assert out == tmp_path / "mytrace.report.html"
    assert "No scenario" in out.read_text()
    assert (tmp_path / "mytrace.report" / "latency.png").is_file()


def test_compare_overlays_runs_and_tabulates_key_figures(tmp_path, run_dir):
    other = make_run(tmp_path / "r2", n=80, seed=1)
    out = write_compare([run_dir, other], tmp_path / "cmp.html")
    text = out.read_text()
    assert "Latency" in text and "Key figures" in text and "data:image/png;base64" in text
    table = pd.read_csv(tmp_path / "cmp" / "key_figures.csv", index_col="name")
    assert list(table.columns) == ["r1", "r2"]
    assert table.loc["all.created"].tolist() == [120, 80]
    assert (tmp_path / "cmp" / "latency_ecdf.png").read_bytes().startswith(PNG)


@pytest.mark.slow
def test_cli_report(tmp_path, run_dir):
    out = tmp_path / "x.html"
    assert main(["report", str(run_dir), "-o", str(out), "--no-check"]) == 0
    assert out.is_file() and (tmp_path / "x" / "graph.png").is_file()
    assert "Not checked" in out.read_text()


def test_cli_compare(tmp_path, run_dir):
    out = str(tmp_path / "c.html")
    assert main(["report", "--compare", str(run_dir), str(run_dir), "-o", out]) == 0
    table = pd.read_csv(tmp_path / "c" / "key_figures.csv")
    assert list(table.columns) == ["name", "r1", "r1#2"]


def test_bad_run_dirs_are_input_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no trace in this run directory"):
        load_run(empty)
    assert main(["report", str(empty)]) == 2
    assert "no trace in this run directory" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", "--compare", str(empty)]) == 2
    broken = make_run(tmp_path / "broken", n=20)
    (broken / "summary.json").write_text("{not json")
    assert main(["report", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "summary.json" in err and "not valid JSON" in err
    (broken / "summary.json").unlink()
    (broken / "scenario.effective.yaml").write_text("- a list\n")
    with pytest.raises(InputError, match="YAML mapping"):
        load_run(broken)


def test_report_shows_a_live_runs_findings(tmp_path):
    """The findings of summary.json (``live.findings``) are in report.html, as they are."""
    import shutil
    from pathlib import Path

    data = Path(__file__).parent / "data" / "calibration"
    run = tmp_path / "live"
    run.mkdir()
    for name in ("trace.jsonl.gz", "summary.json", "scenario.effective.yaml"):
        shutil.copy(data / name, run / name)
    page = write_report(run).read_text()
    section = page[page.index('id="findings"') : page.index('id="effective-scenario"')]
    findings = json.loads((run / "summary.json").read_text())["live"]["findings"]
    assert findings["items"]
    for item in findings["items"]:
        assert item in section
    assert f"<td>{findings['duplicate_pings']['count']}</td>" in section
    assert (run / "report" / "duplicate_pings.csv").is_file()
    # the load the emulated server counted; it cannot tell urgent from regular exchanges
    load = page[page.index('id="exchange-load"') : page.index('id="dependency-graph"')]
    assert "counted by the emulated server" in load and "<td>urgent exchanges</td>" not in load
    assert "<td>103</td>" in load and "<td>493</td>" in load


def test_report_of_a_simulated_run_says_it_has_no_findings(run_dir):
    page = write_report(run_dir).read_text()
    section = page[page.index('id="findings"') : page.index('id="effective-scenario"')]
    assert "Not a live run" in section


def test_activities_csv_holds_the_activity_table(tmp_path):
    # written by pyarrow (pandas' to_csv was a second of a 50,000-activity report); list
    # fields are JSON lists, as in a CSV trace
    run_dir = make_run(tmp_path / "r")
    write_report(run_dir)
    want = load_run(run_dir).activities
    got = pd.read_csv(run_dir / "report" / "activities.csv")
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    assert got["id"].tolist() == want["id"].tolist()
    pd.testing.assert_series_equal(got["total"], want["total"], check_names=False)
    assert got["finished"].tolist() == want["finished"].tolist()
    deps = [json.loads(d) if isinstance(d, str) else None for d in got["depends_on"]]
    expected = [None if d is None or d != d else list(d) for d in want["depends_on"]]
    assert deps == expected
    assert any(d for d in deps), "the synthetic run has dependencies"
