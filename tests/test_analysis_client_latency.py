"""The closed-form client latencies against the client rules replayed event by event."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import integrate, stats

from activitykit.analysis import (
    ClientIntervals,
    ClientLatencyInputError,
    delivery_cdf,
    delivery_mean,
    delivery_sample,
    result_latency,
    simulate_client,
)

DEFAULT = ClientIntervals()


def _enumerate(iv: ClientIntervals, created: int, pings: int, duration: float = 10.0):
    """Every combination of creation moment (over one exchange cycle) and ping phase, on a
    mid-point grid: the brute-force counterpart of integrating over two uniforms."""
    out = []
    for i, j in itertools.product(range(created), range(pings)):
        c = 10 * iv.exchange + (i + 0.5) * iv.exchange / created
        ph = j * iv.ping / pings  # creation on half-steps: P runs over mid-points
        out.append(simulate_client(c, duration, iv, ping_phase=ph, exchange_phase=0.0))
    return np.array(out)


def test_defaults_are_landscape_clients() -> None:
    assert (DEFAULT.exchange, DEFAULT.urgent, DEFAULT.ping) == (900.0, 60.0, 30.0)


def test_delivery_mean_default_by_hand() -> None:
    # E[R; R<P] = 1/6 s, E[P+60; P<=R] = 2210/30 s (docs/fidelity.md).
    assert delivery_mean() == pytest.approx(1 / 6 + 2210 / 30)


def test_delivery_cdf_shape_default() -> None:
    x = np.array([-1, 0, 15, 30, 45, 60, 75, 90, 1000])
    f = delivery_cdf(x)
    assert f[0] == 0 and f[1] == 0
    assert f[3] == pytest.approx(1 / 60)  # regular exchange first: 15/900
    assert f[4] == f[3]  # nothing can happen between 30 s and 60 s
    assert f[7] == pytest.approx(1.0)
    assert f[8] == 1.0
    assert np.all(np.diff(f) >= 0)


def test_brute_force_enumeration_matches_the_closed_form() -> None:
    lat = _enumerate(DEFAULT, created=300, pings=30)
    grid = np.linspace(0, 100, 201)
    empirical = (lat[:, 0][None, :] <= grid[:, None]).mean(axis=1)
    assert np.max(np.abs(empirical - delivery_cdf(grid))) < 0.02
    assert lat[:, 0].mean() == pytest.approx(delivery_mean(), abs=0.2)
    assert np.allclose(lat[:, 1], 70.0)


@pytest.mark.parametrize(
    "iv",
    [
        ClientIntervals(exchange=300, urgent=10, ping=60),
        ClientIntervals(exchange=50, urgent=100, ping=80),  # ping slower than exchanges
        ClientIntervals(exchange=900, urgent=5, ping=30),
    ],
)
def test_monte_carlo_of_the_rules_matches_other_intervals(iv: ClientIntervals) -> None:
    rng = np.random.default_rng(11)
    n = 4000
    lat = np.array(
        [
            simulate_client(
                rng.uniform(5 * iv.exchange, 6 * iv.exchange),
                rng.exponential(20.0),
                iv,
                ping_phase=rng.uniform(0, iv.ping),
                exchange_phase=rng.uniform(0, iv.exchange),
            )
            for _ in range(n)
        ]
    )
    assert stats.kstest(lat[:, 0], lambda x: delivery_cdf(x, iv)).pvalue > 0.01
    se = lat[:, 0].std(ddof=1) / np.sqrt(n)
    assert abs(lat[:, 0].mean() - delivery_mean(iv)) < 4 * se


def test_mean_is_the_integral_of_the_survival_function() -> None:
    for iv in (DEFAULT, ClientIntervals(exchange=50, urgent=100, ping=80)):
        top = iv.urgent + iv.ping + iv.exchange
        area, _ = integrate.quad(lambda x, iv=iv: 1 - delivery_cdf(x, iv), 0, top, limit=200)
        assert area == pytest.approx(delivery_mean(iv), rel=1e-6)


def test_sampler_agrees_with_cdf() -> None:
    s = delivery_sample(20_000, np.random.default_rng(5))
    assert stats.kstest(s, delivery_cdf).pvalue > 0.01


def test_result_latency_is_handler_plus_urgent_for_any_duration() -> None:
    for d in (0.0, 1.0, 10.0, 59.0, 850.0, 899.0, 2000.0, 5000.0):
        _, l2 = simulate_client(1234.5, d, DEFAULT, ping_phase=7.0, exchange_phase=100.0)
        assert l2 == pytest.approx(result_latency(d))
    assert np.allclose(result_latency(np.array([1.0, 2.0])), [61.0, 62.0])


def test_regular_exchange_before_the_ping_delivers() -> None:
    # Created at 1000.0; regular exchange at 1005 (phase 105), ping at 1015 (phase 25).
    l1, _ = simulate_client(1000.0, 10.0, DEFAULT, ping_phase=25.0, exchange_phase=105.0)
    assert l1 == pytest.approx(5.0)
    # Ping first at 1015: urgent exchange at 1075, the regular one at 1100 is cancelled.
    l1, _ = simulate_client(1000.0, 10.0, DEFAULT, ping_phase=25.0, exchange_phase=200.0)
    assert l1 == pytest.approx(75.0)


@pytest.mark.parametrize("field", ["exchange", "urgent", "ping"])
def test_bad_intervals_are_named(field: str) -> None:
    with pytest.raises(ClientLatencyInputError, match=field):
        ClientIntervals(**{field: 0})


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ClientLatencyInputError, match="phases"):
        simulate_client(0.0, 1.0, DEFAULT, ping_phase=31.0)
    with pytest.raises(ClientLatencyInputError, match=">= 0"):
        result_latency(-1.0)
