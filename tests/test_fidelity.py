"""Fidelity: the simulator against yardsticks derived without it (issues 4 and 14).

(a) an idle fleet's client latencies against Landscape Client's rules
    (``activitykit.analysis.client_latency``): created -> In Progress for a computer's first
    activity (unrelated timer phases) and for later ones (pings and exchanges locked by the
    previous activity, rule P2), by KS tests and confidence intervals on the mean;
    In Progress -> final exactly handling + handler + urgent interval (fixed handler) and by
    KS (exponential handler);
(b) a busy-server window under both client versions: current clients (retries at the mode's
    interval) against the closed form ``busy_delivery_cdf``, back-off clients against the
    one-computer replay of the rules (two-sample KS, Welch interval on the difference of
    means), both with the same creation times;
(b') with a network round trip: the fleet's pings, exchanges and duplicate ping loops against
    the replay of each computer's activities, with the loop on and off;
(c) job-handlers fed by Poisson arrivals with exponential service against M/M/c (Erlang C);
(d) Little's law on each run's own trace, for both kinds.

The derivations are in docs/fidelity.md. Every run has a fixed seed, so each test is
deterministic; the thresholds (p > 0.01, 99 % intervals) are the ones a correct simulator
passes for all but about one seed in a hundred, while the modelling mistakes they guard
against (a missing urgent delay, a regular exchange that is not cancelled, pings that are not
re-anchored by a delivery, a back-off missing or not stepped down) move the statistics far
beyond them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from activitykit.analysis import (
    Backoff,
    ClientIntervals,
    ClientRules,
    batch_means_ci,
    busy_delivery_cdf,
    delivery_cdf,
    delivery_mean,
    isolated,
    latencies,
    littles_law,
    mean_ci,
    mmc,
    replay_client,
    result_latency,
)
from activitykit.scenario.schema import Scenario
from activitykit.sim import simulate
from activitykit.trace import MemoryTraceWriter

#: Interval sets of the idle-fleet runs: Landscape Client's defaults (a regular exchange
#: rarely beats the next ping), and regular exchanges faster than the urgent delay, where the
#: regular exchange delivers a quarter to 37.5 % of activities and a ping, or a result, must
#: cancel one that would otherwise have come sooner.
INTERVALS = {
    "default": ClientIntervals(),
    "fast-regular": ClientIntervals(exchange=40.0, urgent=60.0, ping=30.0),
}
#: Client activities created closer than this on one computer are not "idle" (s).
ISOLATION = 2000.0
FIXED_HANDLER = 10.0
EXP_HANDLER_MEAN = 20.0
#: The client's per-message handling time, the scenario default (fixed 17 ms).
HANDLING = 0.017


def _run(scenario: dict) -> tuple[Scenario, list[dict], pd.DataFrame]:
    """Simulate with checking on; the scenario, its trace and the per-activity latencies."""
    sc = Scenario.model_validate(scenario)
    writer = MemoryTraceWriter()
    simulate(sc, writer=writer, check=True)
    return sc, writer.records, latencies(writer.records)


def _group(iv: ClientIntervals, computers: int, **client) -> dict:
    group = {
        "name": "idle",
        "computers": computers,
        "exchange_interval": iv.exchange,
        "urgent_exchange_interval": iv.urgent,
        "ping_interval": iv.ping,
    }
    # The yardstick's handlers take exactly their drawn durations: no handler overhead.
    group["client"] = {"handler_overhead": 0, **client}
    return group


def _idle_fleet(seed: int, computers: int, rate: float, until: float, iv: ClientIntervals) -> dict:
    """Two sparse client streams (fixed and exponential handlers) and a server stream."""
    return {
        "name": "fidelity-idle-fleet",
        "seed": seed,
        "duration": until + 1000.0,
        "fleet": {"groups": [_group(iv, computers)]},
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
                    "type": "CreateUserRequest",
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


def _with_history(lat: pd.DataFrame, iso: pd.DataFrame) -> pd.DataFrame:
    """``iso`` with, per activity, the lock offset its computer's previous client activity
    left (P2: pings anchored where its message's handling ended, ``h`` after its delivery;
    X2: exchanges anchored at its result's exchange; see ``lock_offset``),
    NaN for a computer's first activity; rows whose history is not that simple (the previous
    one still running, or overlapping the one before it) are dropped."""
    c = lat[lat["kind"] == "client"].sort_values(["computer", "created"], kind="stable")
    by = c.groupby("computer", sort=False)
    prev_in = by["in_progress"].shift(1)
    prev_end = by["ended"].shift(1)
    prev2_end = by["ended"].shift(2)
    offset = prev_end - (prev_in + HANDLING)
    first = prev_in.isna() & by.cumcount().eq(0)
    simple = first | ((prev_end < c["created"]) & ~(prev2_end >= prev_in))
    out = iso.join(pd.DataFrame({"offset": offset, "first": first, "simple": simple}))
    return out[out["simple"]]


# --- (a) the idle fleet ------------------------------------------------------------------------
@pytest.fixture(scope="module", params=sorted(INTERVALS))
def idle_run(request):
    iv = INTERVALS[request.param]
    sc, records, lat = _run(_idle_fleet(seed=7, computers=400, rate=0.01, until=40_000.0, iv=iv))
    return sc, records, lat, iv


@pytest.fixture(scope="module")
def idle_latencies(idle_run):
    _, _, lat, iv = idle_run
    iso = isolated(lat, ISOLATION)
    return lat, _with_history(lat, iso), iv


def test_idle_fleet_has_enough_isolated_activities(idle_latencies) -> None:
    lat, iso, _ = idle_latencies
    clients = lat[lat["kind"] == "client"]
    assert len(clients) > 300
    assert len(iso) > 0.8 * len(clients)  # the fleet is idle: few computers see two
    assert iso["first"].sum() > 150 and (~iso["first"]).sum() > 100
    # All of them finish (the run lasts 1000 s past the last creation): none is dropped from
    # the latency samples below, which would bias them.
    assert (iso["end_state"] == "Succeeded").all(), iso[iso["end_state"] != "Succeeded"]


def test_first_delivery_on_a_computer_follows_unrelated_phases(idle_latencies) -> None:
    """A computer that has had no server message yet: pings and exchanges in unrelated
    phases, L1 = R if R < P else P + urgent."""
    _, iso, iv = idle_latencies
    wait = iso.loc[iso["first"], "wait"].to_numpy()
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


def test_later_delivery_follows_the_locked_grids(idle_latencies) -> None:
    """After an activity, its delivery re-anchored the pings (P2) and its result's exchange
    the regular ones (X2): L1 depends on the offset between the two grids. Each latency is
    mapped through its own exact CDF; the values must be uniform."""
    _, iso, iv = idle_latencies
    later = iso[~iso["first"]]
    wait, off = later["wait"].to_numpy(), later["offset"].to_numpy()
    u = np.array([delivery_cdf(w, iv, o) for w, o in zip(wait, off, strict=True)])
    ks = stats.kstest(u, "uniform")
    theory = np.mean([delivery_mean(iv, o) for o in off])
    ci = mean_ci(wait, confidence=0.99)
    detail = f"n={wait.size} mean={wait.mean():.2f} theory={theory:.2f} {ci} {ks}"
    assert ks.pvalue > 0.01, detail
    assert theory in ci, detail


def test_in_progress_to_final_fixed_handler_is_handling_handler_urgent(idle_latencies) -> None:
    _, iso, iv = idle_latencies
    run = iso.loc[iso["type"] == "ExecuteScriptRequest", "run"].to_numpy()
    assert run.size > 100
    # Even when a regular exchange was due sooner: the result's urgent exchange replaces it.
    np.testing.assert_allclose(run, result_latency(FIXED_HANDLER, iv, HANDLING), atol=1e-6)


def test_in_progress_to_final_exponential_handler(idle_latencies) -> None:
    _, iso, iv = idle_latencies
    run = iso.loc[iso["type"] == "CreateUserRequest", "run"].to_numpy()
    assert run.size > 100
    theory = stats.expon(loc=result_latency(0.0, iv, HANDLING), scale=EXP_HANDLER_MEAN)
    ks = stats.kstest(run, theory.cdf)
    ci = mean_ci(run, confidence=0.99)
    detail = f"n={run.size} mean={run.mean():.2f} theory={theory.mean():.2f} {ci} {ks}"
    assert ks.pvalue > 0.01, detail
    assert theory.mean() in ci, detail


# --- (b) a busy-server window, both client versions --------------------------------------------
BUSY = (6_000.0, 9_000.0)
BUSY_BACKOFF = Backoff()  # the scenario defaults: 300 s doubling to 7200 s, jitter 0.25


def _busy_fleet(version: str, seed: int) -> dict:
    iv = ClientIntervals()
    return {
        "name": f"fidelity-busy-{version}",
        "seed": seed,
        "duration": BUSY[1] + 12_000.0,
        "fleet": {"groups": [_group(iv, 3000, version=version)]},
        "faults": {
            "server_busy": {
                "windows": [{"start": BUSY[0], "end": BUSY[1]}],
                "backoff_initial": BUSY_BACKOFF.initial,
                "backoff_max": BUSY_BACKOFF.maximum,
                "backoff_jitter": BUSY_BACKOFF.jitter,
            }
        },
        "workload": {
            "arrivals": [
                {
                    "name": "in-window",
                    "type": "ExecuteScriptRequest",
                    "rate": 0.15,
                    "start": BUSY[0],
                    "stop": BUSY[1],
                    "handler": {"duration": FIXED_HANDLER},
                },
            ]
        },
    }


@pytest.fixture(scope="module", params=["current", "backoff"])
def busy_run(request):
    _, _, lat = _run(_busy_fleet(request.param, seed=11))
    iso = isolated(lat, ISOLATION)
    iso = iso[(iso["created"] >= BUSY[0]) & (iso["created"] < BUSY[1])]
    return request.param, iso


def _replayed(version: str, created: np.ndarray, seed: int, per: int = 4) -> np.ndarray:
    """``per`` replays of the rules for each creation time, unrelated phases: (L1, L2) rows."""
    rng = np.random.default_rng(seed)
    rules = ClientRules(version=version, backoff=BUSY_BACKOFF, handling=HANDLING)
    iv = rules.intervals
    rows = []
    for c in np.repeat(created, per):
        r = replay_client(
            [(float(c), FIXED_HANDLER)],
            rules,
            ping_phase=float(rng.uniform(0, iv.ping)),
            exchange_phase=float(rng.uniform(0, iv.exchange)),
            busy=[BUSY],
            rng=rng,
        )
        rows.append(r.latencies[0])
    return np.array(rows)


def _welch_ci(a: np.ndarray, b: np.ndarray, confidence: float = 0.99) -> tuple[float, float]:
    """Interval for mean(a) - mean(b) (Welch)."""
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = stats.t.ppf(0.5 + confidence / 2, dof) * se
    d = a.mean() - b.mean()
    return d - half, d + half


@pytest.mark.slow
def test_busy_window_delivery_follows_the_client_version(busy_run) -> None:
    version, iso = busy_run
    assert len(iso) > 250
    wait = iso["wait"].to_numpy()
    ref = _replayed(version, iso["created"].to_numpy(), seed=3)
    lo, hi = _welch_ci(wait, ref[:, 0])
    ks2 = stats.ks_2samp(wait, ref[:, 0])
    detail = (
        f"{version}: n={wait.size} sim mean={wait.mean():.1f} replay mean={ref[:, 0].mean():.1f}"
        f" diff CI=({lo:.1f}, {hi:.1f}) {ks2}"
    )
    assert ks2.pvalue > 0.01, detail
    assert lo <= 0 <= hi, detail
    if version == "current":
        # The closed form (B1: urgent retries every 60 s until the window ends), each
        # latency through its own CDF.
        u = [busy_delivery_cdf(w, BUSY[1] - c) for w, c in zip(wait, iso["created"], strict=True)]
        assert stats.kstest(u, "uniform").pvalue > 0.01, detail


@pytest.mark.slow
def test_busy_window_result_follows_the_client_version(busy_run) -> None:
    version, iso = busy_run
    assert iso["ended"].notna().all(), iso[iso["ended"].isna()]  # none lost, none cut off
    run = iso["run"].to_numpy()
    if version == "current":
        # Delivered after the window: nothing of it is left (no back-off).
        np.testing.assert_allclose(run, result_latency(FIXED_HANDLER, handling=HANDLING), atol=1e-6)
        return
    # Back-off: the delivery stepped the level down by one only; the result's urgent
    # exchange still carries the jittered delay of what is left (B2).
    ref = _replayed(version, iso["created"].to_numpy(), seed=4)
    ks2 = stats.ks_2samp(run, ref[:, 1])
    lo, hi = _welch_ci(run, ref[:, 1])
    detail = f"sim mean={run.mean():.1f} replay mean={ref[:, 1].mean():.1f} ({lo:.1f}, {hi:.1f})"
    assert ks2.pvalue > 0.01, f"{detail} {ks2}"
    assert lo <= 0 <= hi, detail
    assert run.min() >= result_latency(FIXED_HANDLER, handling=HANDLING) + 0.75 * 300 - 1


# --- (b') the duplicate ping loop, with a network round trip -----------------------------------
#: U chosen so that a ping-triggered delivery's message is handled while the second ping
#: after the "yes" is in flight: 2 (I + r) = 61 lies in (U + r, U + 2r) = (60.75, 61.25), so
#: every such delivery starts a loop (P2) without an exact tie of two timers.
LOOP_IV = ClientIntervals(exchange=900.0, urgent=60.25, ping=30.0)
ROUND_TRIP = 0.5
LOOP_DURATION = 6000.0


#: A drawn ping round trip around the same mean: whether a delivery starts a loop now depends
#: on the draws of the pings around it, for the simulator and the replay alike.
DRAWN = (0.2, 0.8)
LOOP_CASES = {
    "duplicate-loop": (True, False),
    "fixed-client": (False, False),
    "drawn-round-trip": (True, True),
}


@pytest.fixture(scope="module", params=list(LOOP_CASES))
def loop_run(request):
    duplicate, drawn = LOOP_CASES[request.param]
    ping_rt = {"dist": "uniform", "low": DRAWN[0], "high": DRAWN[1]} if drawn else ROUND_TRIP
    sc = Scenario.model_validate(
        {
            "name": "fidelity-ping-loops",
            "seed": 5,
            "duration": LOOP_DURATION,
            "fleet": {
                "groups": [
                    _group(
                        LOOP_IV,
                        200,
                        round_trip=ROUND_TRIP,
                        ping_round_trip=ping_rt,
                        duplicate_ping_loop=duplicate,
                    )
                ]
            },
            "workload": {
                "arrivals": [
                    {
                        "name": "scripts",
                        "type": "ExecuteScriptRequest",
                        "rate": 0.03,
                        "handler": {"duration": FIXED_HANDLER},
                    }
                ]
            },
        }
    )
    writer = MemoryTraceWriter()
    res = simulate(sc, writer=writer, check=True)
    return duplicate, drawn, res.counters, latencies(writer.records)


def test_ping_and_exchange_counts_follow_the_replay(loop_run) -> None:
    """Each computer's activities replayed through the rules (unrelated phases): the fleet's
    pings, exchanges and started ping loops must match the simulator's counters. With drawn
    round trips both sides are random: the loops' counts within 3 standard deviations of a
    Poisson count, the pings (which the extra loops add to) within 3%."""
    duplicate, drawn, counters, lat = loop_run
    rules = ClientRules(
        intervals=LOOP_IV,
        ping_round_trip=(lambda g: float(g.uniform(*DRAWN))) if drawn else ROUND_TRIP,
        exchange_round_trip=ROUND_TRIP,
        duplicate_ping_loop=duplicate,
    )
    rng = np.random.default_rng(2)
    clients = lat[lat["kind"] == "client"]
    per_computer = [g["created"].tolist() for _, g in clients.groupby("computer")]
    per_computer += [[]] * (200 - len(per_computer))  # computers that got nothing
    pings = exchanges = loops = 0
    replayed_run = []
    for created in per_computer:
        r = replay_client(
            [(float(t), FIXED_HANDLER) for t in created],
            rules,
            ping_phase=float(rng.uniform(0, LOOP_IV.ping + (0 if drawn else ROUND_TRIP))),
            exchange_phase=float(rng.uniform(0, LOOP_IV.exchange)),
            until=LOOP_DURATION,
            rng=rng,
        )
        pings, exchanges, loops = pings + r.pings, exchanges + r.exchanges, loops + r.loops_started
        replayed_run += [b for _, b in r.latencies]
    detail = (
        f"duplicate={duplicate} drawn={drawn}: pings {counters['pings']} vs {pings}, exchanges "
        f"{counters['exchanges']} vs {exchanges}, loops {counters['ping_loops_started']} vs {loops}"
    )
    assert counters["pings"] == pytest.approx(pings, rel=0.03 if drawn else 0.02), detail
    assert counters["exchanges"] == pytest.approx(exchanges, rel=0.03), detail
    assert abs(counters["ping_loops_started"] - loops) <= 3 * np.sqrt(loops) + 3, detail
    if duplicate:
        assert loops > (50 if drawn else 100), detail  # the rule is exercised
    else:
        assert counters["ping_loops_started"] == 0, detail
    if drawn:
        # By chance: some deliveries start a loop and some do not (fixed: every one does).
        found = counters["pings_found"]  # each a delivery that starts a loop at fixed trips
        assert 0.1 * found < counters["ping_loops_started"] < 0.9 * found, (detail, found)
    # In Progress -> final: the exchange's answer comes a round trip after its request.
    run = clients["run"].dropna().to_numpy()
    if drawn:  # a result's exchange can meet a ping: the replay's distribution, not one value
        ks2 = stats.ks_2samp(run, np.array(replayed_run)[~np.isnan(replayed_run)])
        assert ks2.pvalue > 0.01, ks2
        return
    np.testing.assert_allclose(
        run, ROUND_TRIP + result_latency(FIXED_HANDLER, LOOP_IV, HANDLING), atol=1e-6
    )


# --- (c) job-handlers as M/M/c -----------------------------------------------------------------
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


# --- (d) Little's law on the runs' own data -------------------------------------------------------
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
