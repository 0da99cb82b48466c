"""Fidelity against the real Landscape Client (issue 14, point 3), without the client.

The calibration run under ``tests/data/calibration/`` (6 real clients, exchange 20 s, urgent
exchange 10 s, ping 5 s, 131 scripts) is compared with the simulator run at the same
settings, the recording's own effective scenario, over ``SEEDS`` seeds pooled. The criteria
are those of ``reports.calibration``: a two-sample KS test with p > 0.01 on each latency
phase, and the simulator's exchanges and pings per computer within 5% of the real client's.

The one criterion the simulator misses is ``xfail(strict=True)`` (it fails the suite the
day it passes): the real clients' duplicate ping loops start or not on a few milliseconds of
timing jitter, which the simulator's fixed round trips cannot have (docs/fidelity.md, 7).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from activitykit.reports import calibration as cal

DATA = Path(__file__).parent / "data" / "calibration"
#: Simulated runs pooled against the one real run: the real side's 131 activities limit the
#: test's power; more simulated values only make the simulator's side exact.
SEEDS = range(13, 19)

PING_JITTER = pytest.mark.xfail(
    strict=True,
    reason=(
        "whether a real client starts its second ping loop depends on ms of jitter between a "
        "ping and an exchange (5 of 6 computers did); the simulator's round trips are fixed: "
        "at 0 (the default) no loop starts, at the measured ones every computer gets one"
    ),
)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> dict:
    live = cal.live_side(DATA)
    sim = cal.sim_side(DATA / "scenario.effective.yaml", list(SEEDS), tmp_path_factory.mktemp("s"))
    return cal.compare(live, sim)


def test_the_recording_is_the_calibration_the_issue_asks_for() -> None:
    live = cal.live_side(DATA)
    assert live.computers >= 5
    assert len(live.latencies["to_start"]) >= 100
    assert len(live.latencies["run"]) >= 100


def test_delivery_latency_matches_the_real_client(comparison: dict) -> None:
    d = comparison["latency"]["to_start"]
    assert d["ks"]["pvalue"] > cal.KS_P_MIN, d


def test_result_latency_matches_the_real_client(comparison: dict) -> None:
    d = comparison["latency"]["run"]
    assert d["ks"]["pvalue"] > cal.KS_P_MIN, d


def test_exchanges_per_computer_match_the_real_client(comparison: dict) -> None:
    d = comparison["counts"]["exchanges"]
    assert abs(d["relative_difference"]) <= cal.COUNT_TOLERANCE, d


@PING_JITTER
def test_pings_per_computer_match_the_real_client(comparison: dict) -> None:
    d = comparison["counts"]["pings"]
    assert abs(d["relative_difference"]) <= cal.COUNT_TOLERANCE, d
