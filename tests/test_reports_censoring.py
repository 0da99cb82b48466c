"""Percentiles with activities still open at the end: covered and open counts, Kaplan-Meier,
lower bounds where the data cannot bound a percentile from above."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from activitykit.cli.run import summary_table
from activitykit.reports import load_run
from activitykit.reports.metrics import PERCENTILES, bound_text, kaplan_meier, phase_stats
from activitykit.runner import run_scenario
from activitykit.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def test_without_open_phases_the_percentiles_are_numpys() -> None:
    values = np.arange(1.0, 101.0)
    st = phase_stats(values, np.array([np.nan, np.nan]))
    assert st["count"] == 100 and st["open"] == 0 and st["lower_bounds"] == []
    for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True):
        assert st[f"p{p}"] == v


def test_a_few_open_phases_give_the_kaplan_meier_estimate() -> None:
    rng = np.random.default_rng(1)
    values = rng.exponential(10.0, 200)
    ages = np.array([3.0, 50.0])  # 2 of 202 open: p99 needs 200 finished, which there are
    st = phase_stats(values, ages)
    assert st["count"] == 200 and st["open"] == 2 and st["lower_bounds"] == []
    cdf = stats.ecdf(stats.CensoredData(uncensored=values, right=ages)).cdf
    p90 = cdf.quantiles[np.flatnonzero(cdf.probabilities >= 0.9)[0]]
    assert st["p90"] == p90
    # between the two bounds: open ones ending now, or never
    assert np.percentile(np.r_[values, ages], 90, method="inverted_cdf") <= st["p90"]
    assert st["p90"] <= np.quantile(np.r_[values, [np.inf, np.inf]], 0.9, method="inverted_cdf")


@pytest.mark.parametrize("seed", range(6))
def test_kaplan_meier_is_scipys_value_for_value(seed: int) -> None:
    # ties between finished and open durations, and many of each, as runs give them
    rng = np.random.default_rng(seed)
    values = np.round(rng.exponential(10.0, 500 + 200 * seed), seed % 3)
    ages = np.round(rng.exponential(10.0, 1 + 40 * seed), seed % 3)
    times, cdf = kaplan_meier(values, ages)
    ref = stats.ecdf(stats.CensoredData(uncensored=values, right=ages)).cdf
    np.testing.assert_array_equal(times, ref.quantiles)
    np.testing.assert_array_equal(cdf, ref.probabilities)


def test_a_percentile_the_data_cannot_bound_is_a_lower_bound() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    ages = np.array([10.0, 20.0])  # 8 of 10 finished: p90 and above are unknown
    st = phase_stats(values, ages)
    assert st["p50"] is not None and "p50" not in st["lower_bounds"]
    assert st["lower_bounds"] == ["p90", "p95", "p99"]
    assert st["p90"] == 10.0  # the 9th of (1..8, 10, 20): every true latency is at least that
    assert bound_text(st, "p90") == ">= 10.0"
    assert st["mean"] == 4.5 and st["max"] == 8.0  # of the finished ones
    only_open = phase_stats(np.empty(0), np.array([5.0, 7.0]))
    assert only_open["count"] == 0 and only_open["mean"] is None
    assert only_open["lower_bounds"] == [f"p{p}" for p in PERCENTILES]


@pytest.fixture(scope="module")
def overloaded(tmp_path_factory: pytest.TempPathFactory):
    # The example, shortened: one job-handler for about 2.9 erlangs of work.
    sc = load_scenario(
        ROOT / "scenarios" / "capacity-job-handlers.yaml",
        ["server.job_handlers=1", "duration=7200", "warmup=600"],
    )
    return run_scenario(sc, tmp_path_factory.mktemp("censor") / "run")


def test_the_summary_counts_what_is_still_open(overloaded) -> None:
    st = overloaded.summary["latency"]["server"]["to_start"]
    queued = overloaded.summary["activities"]["by_state"]["Queued"]
    assert st["open"] > st["count"] > 0
    assert st["open"] <= queued
    assert "p90" in st["lower_bounds"]
    head = overloaded.summary["headline"]["figures"][0]
    assert head["name"] == "server.to_start.p90" and head["lower_bound"]
    assert head["text"].startswith(">= ") and head["met"] is False


def test_terminal_and_report_show_counts_and_bounds(overloaded) -> None:
    text = summary_table(overloaded.summary)
    row = next(line for line in text.splitlines() if line.startswith("server      to_start"))
    st = overloaded.summary["latency"]["server"]["to_start"]
    assert f"{st['open']:,}" in row and ">= " in row
    run = load_run(overloaded.out_dir)
    table = run.latency_table("kind")
    to_start = table[(table["kind"] == "server") & (table["phase"] == "to_start")].iloc[0]
    assert to_start["open"] == st["open"] and to_start["count"] == st["count"]
    assert to_start["p90"].startswith(">= ")
    page = overloaded.report_path.read_text(encoding="utf-8")
    assert "&gt;= " in page and "still-open activities" in page


def test_latency_over_time_shows_every_outcome(overloaded) -> None:
    from activitykit.reports.figures import latency_over_time_figure

    run = load_run(overloaded.out_dir)
    fig = latency_over_time_figure(run)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(lbl.startswith("Succeeded") for lbl in labels)
    assert any(lbl.startswith("open at the end") for lbl in labels)
    assert fig.axes[0].get_xlabel() == "created at (minutes)"
    assert 'alt="latency_over_time"' in overloaded.report_path.read_text(encoding="utf-8")
