"""The headline (question, verdict, key figures with units) and the counted load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from activitykit.cli.run import summary_table
from activitykit.errors import InputError
from activitykit.reports.headline import format_figure
from activitykit.reports.metrics import HEADLINE_FIGURES
from activitykit.runner import run_scenario
from activitykit.scenario import load_scenario, loads_scenario

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))

SMALL = """
name: small
seed: 4
duration: 1800
question: Do two job-handlers start the reports within a minute?
headline:
  figures: [server.total.p90, load.pings_per_minute, server.message_system_requests_per_s]
  objectives:
    - {figure: server.to_start.p90, at_most: 60}
fleet:
  groups:
    - {name: a, computers: 40, ping_interval: 10}
    - {name: b, computers: 20, ping_interval: 60, exchange_interval: 300}
server: {job_handlers: 2}
workload:
  arrivals:
    - {name: s, type: ExecuteScriptRequest, rate: 0.05}
    - {name: r, type: GenerateUsgReportActivity, rate: 0.05}
output: {report: true}
"""


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_every_bundled_scenario_asks_its_question(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.question.endswith("?")
    assert 3 <= len(sc.headline.figures) <= 5
    assert {o.figure for o in sc.headline.objectives} <= set(HEADLINE_FIGURES)


def test_an_unknown_headline_figure_names_its_field() -> None:
    text = SMALL.replace("load.pings_per_minute", "load.ping_per_minute")
    with pytest.raises(InputError, match=r"headline\.figures\[1\].*'load\.pings_per_minute'"):
        loads_scenario(text)


def test_an_objective_has_exactly_one_limit() -> None:
    text = SMALL.replace("at_most: 60}", "at_most: 60, at_least: 1}")
    with pytest.raises(InputError, match="exactly one of at_most and at_least"):
        loads_scenario(text)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("headline") / "run"
    return run_scenario(loads_scenario(SMALL), out)


def test_load_comes_from_the_counters(small_run) -> None:
    s = small_run.summary
    c, load, end = s["counters"], s["load"], s["end_t"]
    assert load["exchanges"]["total"] == c["exchanges_urgent"] + c["exchanges_regular"] > 0
    assert load["pings_per_minute"] == pytest.approx(c["pings"] * 60 / end)
    assert load["server"]["pings_per_s"] == pytest.approx(c["pings"] / end)
    assert load["server"]["message_system_requests_per_s"] == pytest.approx(
        load["exchanges"]["total"] / end
    )
    # far more exchanges than the trace holds: idle ones are counted, not traced
    assert load["exchanges"]["total"] > s["records"]["by_event"].get("exchange", 0)
    groups = load["by_group"]
    assert load["by_group_counted"] and load["by_group_note"] == ""
    for g in ("a", "b"):  # counted per group by the simulator, and they add up
        assert groups[g]["exchanges_per_minute"] == pytest.approx(c[f"exchanges.{g}"] * 60 / end)
        assert groups[g]["pings_per_minute"] == pytest.approx(c[f"pings.{g}"] * 60 / end)
    assert c["exchanges.a"] + c["exchanges.b"] == load["exchanges"]["total"]
    assert c["pings.a"] + c["pings.b"] == c["pings"]
    assert groups["a"]["nominal_pings_per_minute"] == pytest.approx(40 * 6)
    assert groups["b"]["nominal_regular_exchanges_per_minute"] == pytest.approx(20 / 5)


def test_headline_in_summary_terminal_and_report(small_run) -> None:
    head = small_run.summary["headline"]
    assert head["question"] == "Do two job-handlers start the reports within a minute?"
    names = [f["name"] for f in head["figures"]]
    assert names[0] == "server.to_start.p90"  # the objective's figure first
    assert names[1:] == [
        "server.total.p90",
        "load.pings_per_minute",
        "server.message_system_requests_per_s",
    ]
    units = {f["name"]: f["unit"] for f in head["figures"]}
    assert units["server.total.p90"] == "s" and units["load.pings_per_minute"] == "/min"
    objective = head["figures"][0]
    assert objective["objective"] == "<= 60 s"
    assert objective["met"] == (objective["value"] <= 60)
    assert head["verdict"].startswith("All 1 objective(s) met" if objective["met"] else "Object")

    text = summary_table(small_run.summary)
    assert text.startswith("Do two job-handlers")
    assert re.search(r"load\.pings_per_minute\s+[\d,]+ /min", text)

    page = small_run.report_path.read_text(encoding="utf-8")
    top = page.index('id="headline"')
    assert top < page.index('id="key-figures"')
    assert page.index(head["verdict"]) < page.index('id="key-figures"')
    assert "message-system requests" in page  # the counted load, not only traced exchanges
    assert "nominal" in page


def test_an_objective_on_an_open_tail_is_not_met(tmp_path: Path) -> None:
    # One job-handler for 0.5 reports/s of 10 s each: most never start.
    text = SMALL.replace("job_handlers: 2", "job_handlers: 1").replace(
        "rate: 0.05}\noutput", "rate: 0.5}\noutput"
    )
    run = run_scenario(loads_scenario(text), tmp_path / "run")
    head = run.summary["headline"]
    assert head["figures"][0]["met"] is False
    assert head["met"] is False
    assert "not met" in head["verdict"]
    assert "still open" in head["verdict"]


@pytest.mark.parametrize(
    ("value", "unit", "lower", "text"),
    [
        (1234.5, "s", False, "1,234 s"),
        (7200.0, "s", True, ">= 7,200 s (2.0 h)"),
        (0.456, "%", False, "45.6%"),
        (4250.0, "/min", False, "4,250 /min"),
        (3.0, "", False, "3"),
        (None, "s", False, "n/a"),
    ],
)
def test_format_figure(value, unit, lower, text) -> None:
    assert format_figure(value, unit, lower_bound=lower) == text
