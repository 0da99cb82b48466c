"""Fidelity: the simulator against yardsticks derived without it (issue 4, item 6).

(a) an idle fleet's client latencies against Landscape Client's rules
    (``activitykit.analysis.client_latency``): created -> In Progress by a one-sample KS test
    and a confidence interval on the mean; In Progress -> final exactly handler + urgent
    interval (fixed handler) and by KS (exponential handler);
(b) job-handlers fed by Poisson arrivals with exponential service against M/M/c (Erlang C):
    mean queue wait (enqueue -> consume) and share of arrivals that wait, in batch-means or
    replication confidence intervals after a warm-up;
(c) Little's law on each run's own trace, for both kinds.

The derivations are in docs/fidelity.md. Every run has a fixed seed, so each test is
deterministic; the thresholds (p > 0.01, 99 % intervals) are the ones a correct simulator
passes for all but about one seed in a hundred, while the modelling mistakes they guard
against (a missing urgent delay, a regular exchange that is not cancelled, a job-handler
that idles while work waits) move the statistics far beyond them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from activitykit.analysis import (
    ClientIntervals,
    batch_means_ci,
    delivery_cdf,
    delivery_mean,
    isolated,
    latencies,
    littles_law,
    mean_ci,
    mmc,
)
from activitykit.scenario.schema import Scenario
from activitykit.sim import simulate
from activitykit.trace import MemoryTraceWriter

#: Interval sets of the idle-fleet runs: Landscape Client's defaults (a regular exchange
#: rarely beats the next ping), and regular exchanges faster than the urgent delay, where the
#: regular exchange delivers 37.5 % of activities and a ping, or a result, must cancel one
#: that would otherwise have come sooner.
INTERVALS = {
    "default": ClientIntervals(),
    "fast-regular": ClientIntervals(exchange=40.0, urgent=60.0, ping=30.0),
}
#: Client activities created closer than this on one computer are not "idle" (s).
ISOLATION = 2000.0
FIXED_HANDLER = 10.0
EXP_HANDLER_MEAN = 20.0


def _run(scenario: dict) -> tuple[Scenario, list[dict], pd.DataFrame]:
    """Simulate with checking on; the scenario, its trace and the per-activity latencies."""
    sc = Scenario.model_validate(scenario)
    writer = MemoryTraceWriter()
    simulate(sc, writer=writer, check=True)
    return sc, writer.records, latencies(writer.records)


def _idle_fleet(seed: int, computers: int, rate: float, until: float, iv: ClientIntervals) -> dict:
    """Two sparse client streams (fixed and exponential handlers) and a server stream."""
    group = {
        "name": "idle",
        "computers": computers,
        "exchange_interval": iv.exchange,
        "urgent_exchange_interval": iv.urgent,
        "ping_interval": iv.ping,
    }
    return {
        "name": "fidelity-idle-fleet",
        "seed": seed,
        "duration": until + 1000.0,
        "fleet": {"groups": [group]},
        "workload": {
            "arrivals": [
                {
                    "name": "fixed",
                    "type": "ExecuteScriptRequest",
                    "rate": rate,
                    "stop": until,
                    "handler": {"duration": FIXED_HANDLER},
                },
                {
                    "name": "exponential",
                    "type": "ResynchronizeRequest",
                    "rate": rate,
                    "stop": until,
                    "handler": {"duration": {"dist": "exponential", "mean": EXP_HANDLER_MEAN}},
                },
                {"name": "reports", "type": "GenerateUsgReportActivity", "rate": 0.05},
            ]
        },
    }


def _mmc_scenario(seed: int, lam: float, mu: float, c: int, duration: float) -> dict:
    return {
        "name": f"fidelity-mm{c}",
        "seed": seed,
        "duration": duration,
        "fleet": {"groups": [{"name": "none", "computers": 1}]},
        "server": {
            "job_handlers": c,
            "prefetch": 1,
            "handlers": {
                "GenerateUsgReportActivity": {"duration": {"dist": "exponential", "mean": 1.0 / mu}}
            },
        },
        "workload": {
            "arrivals": [{"name": "reports", "type": "GenerateUsgReportActivity", "rate": lam}]
        },
    }


# --- (a) the idle fleet ------------------------------------------------------------------------
@pytest.fixture(scope="module", params=sorted(INTERVALS))
def idle_run(request):
    iv = INTERVALS[request.param]
    sc, records, lat = _run(_idle_fleet(seed=7, computers=800, rate=0.01, until=20_000.0, iv=iv))
    return sc, records, lat, iv


@pytest.fixture(scope="module")
def idle_latencies(idle_run):
    _, _, lat, iv = idle_run
    return lat, isolated(lat, ISOLATION), iv


def test_idle_fleet_has_enough_isolated_activities(idle_latencies) -> None:
    lat, iso, _ = idle_latencies
    clients = lat[lat["kind"] == "client"]
    assert len(clients) > 300
    assert len(iso) > 0.85 * len(clients)  # the fleet is idle: few computers see two
    # All of them finish (the run lasts 1000 s past the last creation): none is dropped from
    # the latency samples below, which would bias them.
    assert (iso["end_state"] == "Succeeded").all(), iso[iso["end_state"] != "Succeeded"]


def test_created_to_in_progress_follows_the_client_rules(idle_latencies) -> None:
    _, iso, iv = idle_latencies
    wait = iso["wait"].to_numpy()
    ks = stats.kstest(wait, lambda x: delivery_cdf(x, iv))
    ci = mean_ci(wait, confidence=0.99)
    detail = f"n={wait.size} mean={wait.mean():.2f} theory={delivery_mean(iv):.2f} {ci} {ks}"
    assert ks.pvalue > 0.01, detail
    assert delivery_mean(iv) in ci, detail
    # The support: a regular exchange within the first ping interval, else ping + urgent.
    eps = 1e-6
    regular = wait <= min(iv.ping, iv.exchange) + eps
    pinged = (wait >= iv.urgent - eps) & (wait <= iv.urgent + iv.ping + eps)
    assert (regular | pinged).all(), np.sort(wait[~(regular | pinged)])[:10]


def test_in_progress_to_final_fixed_handler_is_handler_plus_urgent(idle_latencies) -> None:
    _, iso, iv = idle_latencies
    run = iso.loc[iso["type"] == "ExecuteScriptRequest", "run"].to_numpy()
    assert run.size > 100
    # Even when a regular exchange was due sooner: the result's urgent exchange replaces it.
    np.testing.assert_allclose(run, FIXED_HANDLER + iv.urgent, atol=1e-6)


def test_in_progress_to_final_exponential_handler(idle_latencies) -> None:
    _, iso, iv = idle_latencies
    run = iso.loc[iso["type"] == "ResynchronizeRequest", "run"].to_numpy()
    assert run.size > 100
    theory = stats.expon(loc=iv.urgent, scale=EXP_HANDLER_MEAN)
    ks = stats.kstest(run, theory.cdf)
    ci = mean_ci(run, confidence=0.99)
    detail = f"n={run.size} mean={run.mean():.2f} theory={theory.mean():.2f} {ci} {ks}"
    assert ks.pvalue > 0.01, detail
    assert theory.mean() in ci, detail


# --- (b) job-handlers as M/M/c -----------------------------------------------------------------
def _server_waits(lat: pd.DataFrame, warmup: float) -> np.ndarray:
    """Queue waits of server activities enqueued after the warm-up, in arrival order."""
    srv = lat[(lat["kind"] == "server") & (lat["enqueued"] >= warmup)].sort_values("enqueued")
    srv = srv[srv["consumed"].notna()]
    return srv["queue_wait"].to_numpy()


@pytest.fixture(scope="module")
def mm2_run():
    return _run(_mmc_scenario(seed=3, lam=0.3, mu=0.2, c=2, duration=60_000.0))


def test_job_handlers_match_erlang_c_mean_wait(mm2_run) -> None:
    _, _, lat = mm2_run
    theory = mmc(lam=0.3, mu=0.2, c=2)
    waits = _server_waits(lat, warmup=2_000.0)
    ci = batch_means_ci(waits, batches=20, confidence=0.99)
    assert waits.size > 15_000
    assert theory.wq in ci, f"Erlang C Wq={theory.wq:.3f} s, simulated {ci}"


def test_job_handlers_match_erlang_c_probability_of_waiting(mm2_run) -> None:
    _, _, lat = mm2_run
    theory = mmc(lam=0.3, mu=0.2, c=2)
    waited = (_server_waits(lat, warmup=2_000.0) > 1e-9).astype(float)
    ci = batch_means_ci(waited, batches=20, confidence=0.99)
    assert theory.p_wait in ci, f"Erlang C P(wait)={theory.p_wait:.4f}, simulated {ci}"


def test_job_handler_service_is_the_configured_distribution(mm2_run) -> None:
    _, _, lat = mm2_run
    run = lat.loc[lat["kind"] == "server", "run"].dropna().to_numpy()
    assert stats.kstest(run, stats.expon(scale=5.0).cdf).pvalue > 0.01


@pytest.mark.slow
@pytest.mark.parametrize(("c", "rho"), [(2, 0.6), (3, 0.7), (4, 0.8)])
def test_job_handlers_match_erlang_c_over_replications(c: int, rho: float) -> None:
    mu = 0.2
    lam = rho * c * mu
    theory = mmc(lam, mu, c)
    means = []
    for rep in range(8):
        _, _, lat = _run(_mmc_scenario(seed=100 + rep, lam=lam, mu=mu, c=c, duration=25_000.0))
        means.append(_server_waits(lat, warmup=2_000.0).mean())
    ci = mean_ci(means, confidence=0.99)
    assert theory.wq in ci, f"M/M/{c} rho={rho}: Erlang C Wq={theory.wq:.3f} s, simulated {ci}"


# --- (c) Little's law on the runs' own data -------------------------------------------------------
@pytest.mark.parametrize("kind", ["client", "server"])
def test_littles_law_on_the_idle_fleet(idle_run, kind: str) -> None:
    sc, records, _, _ = idle_run
    chk = littles_law(records, kind=kind, start=1_000.0, end=sc.duration)
    assert chk.arrivals > 150
    assert chk.relative_error < 0.05, chk


def test_littles_law_on_the_job_handlers(mm2_run) -> None:
    sc, records, _ = mm2_run
    chk = littles_law(records, kind="server", start=2_000.0, end=sc.duration)
    assert chk.relative_error < 0.02, chk
    # ... and L agrees with the queueing formula for the whole system (queue + service).
    assert chk.l == pytest.approx(mmc(0.3, 0.2, 2).l, rel=0.1), chk


@pytest.mark.slow
def test_littles_law_on_a_busy_fleet() -> None:
    """The benchmark workload on a small fleet: computers are busy, both kinds interleave."""
    sc, records, _ = _run(
        {
            "name": "fidelity-busy-fleet",
            "seed": 5,
            "duration": 7_200.0,
            "fleet": {
                "groups": [
                    {
                        "name": "busy",
                        "computers": 500,
                        "handlers": {
                            "ExecuteScriptRequest": {
                                "duration": {"dist": "exponential", "mean": 20.0},
                                "failure_probability": 0.05,
                            }
                        },
                    }
                ]
            },
            "server": {"job_handlers": 4},
            "workload": {
                "arrivals": [
                    {"name": "scripts", "type": "ExecuteScriptRequest", "rate": 2.0},
                    {"name": "reports", "type": "GenerateUsgReportActivity", "rate": 0.5},
                ]
            },
        }
    )
    for kind in ("client", "server"):
        chk = littles_law(records, kind=kind, start=600.0, end=sc.duration)
        assert chk.relative_error < 0.05, chk
