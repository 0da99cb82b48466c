"""The direct SimPy baseline (benchmarks/) does honest work: its traces obey the theory too.

The baseline is the yardstick of the speed benchmark; if it cut corners the ratio would mean
nothing. These tests hold it to the same client-rule derivation and Little's law as the
simulator (docs/fidelity.md), and check that it refuses an illegal move.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from activitykit.analysis import (
    delivery_cdf,
    delivery_mean,
    isolated,
    latencies,
    littles_law,
    result_latency,
)

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "baseline_direct_simpy.py"


@pytest.fixture(scope="module")
def baseline():
    spec = importlib.util.spec_from_file_location("baseline_direct_simpy", _PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def sparse_run(baseline, tmp_path_factory):
    path = tmp_path_factory.mktemp("baseline") / "trace.jsonl"
    res = baseline.run_baseline(
        computers=600, hours=2.0, seed=3, trace_path=str(path), client_rate=0.03
    )
    with open(path, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    return res, records


def test_counts_are_consistent(sparse_run) -> None:
    res, records = sparse_run
    assert res["records"] == len(records)
    assert res["activities_created"] == res["client_created"] + res["server_created"]
    assert res["transitions"] == sum(r["event"] == "transition" for r in records)
    assert res["events"] > 600 * 2 * 120  # every computer pinged every 30 s


def test_idle_client_latencies_follow_the_client_rules(sparse_run) -> None:
    _, records = sparse_run
    iso = isolated(latencies(records), 2000.0)
    # Selected on creation time (1000 s before the end), so every one of them has finished.
    iso = iso[iso["created"] < 2 * 3600.0 - 1000.0]
    assert iso["ended"].notna().all()
    assert len(iso) > 120  # enough for the tests below to have power
    assert stats.kstest(iso["wait"], delivery_cdf).pvalue > 0.01
    se = iso["wait"].std(ddof=1) / np.sqrt(len(iso))
    assert abs(iso["wait"].mean() - delivery_mean()) < 3 * se
    # In Progress -> final is the message's handling, the handler's exp(20 s) and the 60 s
    # urgent exchange.
    run = iso["run"] - result_latency(0.0)
    assert stats.kstest(run, stats.expon(scale=20.0).cdf).pvalue > 0.01


def test_littles_law_holds_on_the_baseline_trace(sparse_run) -> None:
    _, records = sparse_run
    for kind in ("client", "server"):
        chk = littles_law(records, kind=kind, start=600.0)
        assert chk.relative_error < 0.05, chk


def test_a_refused_move_fails_loudly(baseline) -> None:
    env = baseline.simpy.Environment()
    server = baseline._Server(env, lambda rec: None)
    act = baseline._Activity("a1", baseline.Kind.CLIENT, None)
    act.state = baseline.OK
    with pytest.raises(baseline.RefusedMoveError, match="Succeeded"):
        server.move(act, baseline.IP, "test")


def test_unknown_setting_is_named(baseline) -> None:
    with pytest.raises(TypeError, match="client_rat"):
        baseline.run_baseline(computers=1, hours=0.01, client_rat=1.0)
