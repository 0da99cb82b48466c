"""The client-rule latencies: closed forms against the rules replayed event by event."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from activitykit.analysis import (
    Backoff,
    ClientIntervals,
    ClientLatencyInputError,
    ClientRules,
    busy_delivery_cdf,
    delivery_cdf,
    delivery_mean,
    delivery_sample,
    lock_offset,
    replay_client,
    result_latency,
    result_latency_cdf,
    simulate_client,
)
from activitykit.analysis.client_latency import HANDLING
from activitykit.analysis.client_latency.closed_forms import _locked_pieces

DEFAULT = ClientIntervals()
FAST = ClientIntervals(exchange=40.0, urgent=60.0, ping=30.0)


def _enumerate(iv: ClientIntervals, created: int, pings: int, duration: float = 10.0):
    """Every combination of creation moment (over one exchange cycle) and ping phase, on a
    mid-point grid, for a computer with unrelated grids (its first activity)."""
    out = []
    for i, j in itertools.product(range(created), range(pings)):
        c = iv.exchange + (i + 0.5) * iv.exchange / created
        ph = j * iv.ping / pings
        out.append(simulate_client(c, duration, iv, ping_phase=ph, exchange_phase=0.0))
    return np.array(out)


def test_defaults_are_landscape_clients() -> None:
    assert (DEFAULT.exchange, DEFAULT.urgent, DEFAULT.ping) == (900.0, 60.0, 30.0)
    assert HANDLING == 0.017
    b = Backoff()
    assert [b.delay(k) for k in range(8)] == [0, 300, 600, 1200, 2400, 4800, 7200, 7200]
    assert b.levels == 6  # the counter stops at the first level that reaches 7200 s


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
    assert np.all(np.diff(f) >= 0)


def test_locked_grids_by_hand() -> None:
    # A fixed 10 s predecessor: exchanges 70.017 s after the pings' anchor, mod 900. The
    # regular exchange beats the next ping only for y in [829.983, 840): 10.017/900.
    off = lock_offset(10.0, ping_reset="start")
    assert off == pytest.approx(70.017)
    assert lock_offset(10.0) == pytest.approx(70.0)
    assert delivery_cdf(29.999, DEFAULT, off) == pytest.approx(10.017 / 900)
    assert delivery_cdf(10.017, DEFAULT, off) == pytest.approx(10.017 / 900)
    assert delivery_cdf(90.0, DEFAULT, off) == pytest.approx(1.0)
    # Unlocked, the same branch carries 1/60.
    assert delivery_cdf(29.999) == pytest.approx(29.999 / 900 - 29.999**2 / 54_000)


def test_brute_force_enumeration_matches_the_closed_form() -> None:
    lat = _enumerate(DEFAULT, created=300, pings=30)
    grid = np.linspace(0, 100, 201)
    empirical = (lat[:, 0][None, :] <= grid[:, None]).mean(axis=1)
    assert np.max(np.abs(empirical - delivery_cdf(grid))) < 0.02
    assert lat[:, 0].mean() == pytest.approx(delivery_mean(), abs=0.2)
    assert np.allclose(lat[:, 1], 70.0 + HANDLING)


@pytest.mark.parametrize("iv", [DEFAULT, FAST, ClientIntervals(exchange=45, urgent=10, ping=20)])
@pytest.mark.parametrize(("duration", "reset"), [(10.0, "start"), (3.3, "end"), (10.0, "end")])
def test_locked_formula_matches_the_replay_point_by_point(iv, duration, reset) -> None:
    """Second activity on a computer: its L1 is y + c on the piece holding y = (a - c) mod T,
    a where the first activity's message reset the pings (P2)."""
    rules = ClientRules(intervals=iv, ping_reset=reset)
    off = lock_offset(duration, iv, ping_reset=reset)
    ys, got = [], []
    for ph, k in itertools.product((0.3, 17.0), range(150)):
        c2 = 3000.0 + k * 0.77
        r = replay_client(
            [(100.0, duration), (c2, duration)], rules, ping_phase=ph % iv.ping, exchange_phase=11.0
        )
        a = 100.0 + r.latencies[0][0] + (HANDLING if reset == "end" else 0.0)
        ys.append(a - c2)
        got.append(r.latencies[1][0])
    y = np.mod(ys, np.lcm(int(iv.exchange), int(iv.ping)))
    q, rr = y % iv.ping, (y + off) % iv.exchange
    # Exact ties (fixed durations line the grids up) go to the timer set first; in the replay
    # the two sums of floats may differ by a rounding error, so those points are left out
    # here and the tie rule is checked on its own below.
    tie = np.isclose(rr, q, atol=1e-6)
    want = np.where(rr < q, rr, q + iv.urgent)
    np.testing.assert_allclose(np.array(got)[~tie], want[~tie], atol=1e-6)
    assert (~tie).sum() > 200


def test_a_tie_goes_to_the_timer_set_first() -> None:
    # Offset exactly 70 with E=40, I=30: the grids meet every 120 s. On the tying pieces the
    # regular exchange (set 40 s before) beats the ping (set 30 s before): L1 = R = P there.
    (lo, hi), c, _ = _locked_pieces(FAST, 70.0)
    mid = (lo + hi) / 2
    tie = np.isclose((mid + 70.0) % 40.0, mid % 30.0)
    assert tie.any()
    np.testing.assert_allclose((mid + c)[tie], (mid % 30.0)[tie])  # the regular branch
    # ... and a hair later the ping wins those pieces: the branch share moves a lot.
    assert delivery_mean(FAST, 70.0) < delivery_mean(FAST, 70.017) - 10


@pytest.mark.parametrize("iv", [DEFAULT, FAST])
@pytest.mark.parametrize("off", [None, 70.017, 93.4])
def test_cdf_mean_and_sampler_agree(iv, off) -> None:
    top = iv.urgent + iv.ping + iv.exchange
    area, _ = integrate.quad(lambda x: 1 - delivery_cdf(x, iv, off), 0, top, limit=400)
    assert area == pytest.approx(delivery_mean(iv, off), rel=1e-6)
    s = delivery_sample(20_000, np.random.default_rng(5), iv, off)
    assert stats.kstest(s, lambda x: delivery_cdf(x, iv, off)).pvalue > 0.01


@pytest.mark.parametrize(
    "iv",
    [
        ClientIntervals(exchange=300, urgent=10, ping=60),
        ClientIntervals(exchange=50, urgent=100, ping=80),  # ping slower than exchanges
        FAST,
    ],
)
def test_monte_carlo_of_the_rules_matches_other_intervals(iv: ClientIntervals) -> None:
    rng = np.random.default_rng(11)
    n = 3000
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


def test_result_latency_is_handling_handler_and_urgent() -> None:
    for d in (0.0, 1.0, 10.0, 59.0, 850.0, 899.0, 2000.0):
        _, l2 = simulate_client(1234.5, d, DEFAULT, ping_phase=7.0, exchange_phase=100.0)
        assert l2 == pytest.approx(result_latency(d))
    assert np.allclose(result_latency(np.array([1.0, 2.0])), [61.017, 62.017])
    slow = ClientRules(handling=0.5)
    _, l2 = simulate_client(1234.5, 10.0, slow, ping_phase=7.0, exchange_phase=100.0)
    assert l2 == pytest.approx(result_latency(10.0, handling=0.5))


def test_random_handling_convolves_with_the_handler() -> None:
    """X2/X4 with a random per-message time: L2 = H + D + urgent, H and D independent."""
    rng = np.random.default_rng(3)
    rules = ClientRules(handling=lambda g: g.exponential(2.0))
    l2 = [
        replay_client(
            [(rng.uniform(1000, 2000), rng.exponential(20.0))],
            rules,
            ping_phase=rng.uniform(0, 30),
            exchange_phase=rng.uniform(0, 900),
            rng=rng,
        ).latencies[0][1]
        for _ in range(500)
    ]
    h, d = stats.expon(scale=2.0), stats.expon(scale=20.0)
    cdf = np.vectorize(lambda v: result_latency_cdf(v, d, h))
    assert stats.kstest(l2, cdf).pvalue > 0.01
    # Degenerate cases: a number on either side.
    assert result_latency_cdf(75.0, 10.0, 5.0) == 1.0
    assert result_latency_cdf(74.9, 10.0, 5.0) == 0.0
    assert result_latency_cdf(80.0, d, 0.0) == pytest.approx(d.cdf(20.0))
    assert result_latency_cdf(80.0, 10.0, h) == pytest.approx(h.cdf(10.0))


def test_regular_exchange_before_the_ping_delivers() -> None:
    l1, _ = simulate_client(1000.0, 10.0, DEFAULT, ping_phase=25.0, exchange_phase=105.0)
    assert l1 == pytest.approx(5.0)
    # Ping first at 1015: urgent exchange at 1075, the regular one at 1100 is cancelled.
    l1, _ = simulate_client(1000.0, 10.0, DEFAULT, ping_phase=25.0, exchange_phase=200.0)
    assert l1 == pytest.approx(75.0)


def test_next_exchange_counts_from_completion() -> None:
    # Two messages delivered together take 2 x 0.5 s: the regular exchange after them is
    # 900 s after the END of their handling (X2), so a third activity created just after
    # t=1900.5 but before 1901 is delivered at 1901.
    rules = ClientRules(handling=0.5)
    r = replay_client(
        [(999.0, 2000.0), (999.5, 2000.0), (1900.6, 1.0)],
        rules,
        ping_phase=29.0,  # pings at 29 + 30k until the delivery resets them
        exchange_phase=100.0,  # regular at 100, 1000: the one at 1000 delivers both
    )
    assert r.latencies[0][0] == pytest.approx(1.0)
    assert r.latencies[2][0] == pytest.approx(1901.0 - 1900.6)


def test_a_server_message_resets_the_ping_timer() -> None:
    # Delivery by the regular exchange at 1000; the pings re-anchor where its handling ends
    # (P2), so the first ping after a creation at 1031 is at 1060.017, not the old 1039.
    r = replay_client(
        [(999.0, 5000.0), (1031.0, 1.0)], DEFAULT, ping_phase=19.0, exchange_phase=100.0
    )
    assert r.latencies[0][0] == pytest.approx(1.0)
    assert r.latencies[1][0] == pytest.approx(1060.0 + HANDLING + 60.0 - 1031.0)


def test_duplicate_ping_loop_starts_only_inside_a_ping_round_trip() -> None:
    # A ping in flight from 1000 to 1000.5; the regular exchange at 1000.2 delivers, its
    # message resets the (already fired) ping timer: the in-flight answer adds a second loop.
    kw = dict(ping_phase=1000.0 % 30.5, exchange_phase=100.2)
    on = ClientRules(ping_round_trip=0.5)
    off = ClientRules(ping_round_trip=0.5, duplicate_ping_loop=False)
    r_on = replay_client([(1000.1, 5000.0)], on, until=3000.0, **kw)
    r_off = replay_client([(1000.1, 5000.0)], off, until=3000.0, **kw)
    assert r_on.ping_loops == 2 and r_off.ping_loops == 1
    assert r_on.pings - r_off.pings >= 60  # the second loop: 2000 s / 30.5 s more pings
    # With no round trip a ping is never in flight: one loop whatever happens.
    r0 = replay_client([(1000.1, 5000.0)], DEFAULT, until=3000.0, ping_phase=10.0)
    assert r0.ping_loops == 1


def test_a_result_queued_while_the_request_is_on_the_wire_waits() -> None:
    """X1/X3: delivered by the regular exchange at 100 (5 s on the wire, done 105.017, next
    regular 1005.017, on the wire until 1010.017)."""
    rules = ClientRules(exchange_round_trip=5.0)
    kw = dict(ping_phase=29.0, exchange_phase=100.0)  # pings 89, 119: the exchange wins
    # Result at 1000.017, no exchange in progress: its urgent exchange 60 s later.
    _, l2 = replay_client([(99.9, 895.0)], rules, **kw).latencies[0]
    assert l2 == pytest.approx(5.0 + HANDLING + 895.0 + 60.0)
    # Result at 1007.017, during the exchange: no scheduling; that exchange carried no
    # client message, so no urgent follow-up: the regular one 900 s after its completion.
    _, l2 = replay_client([(99.9, 902.0)], rules, **kw).latencies[0]
    assert l2 == pytest.approx(5.0 + HANDLING + 900.0 + 5.0 + 900.0)


def test_busy_window_current_client_closed_form_matches_the_replay() -> None:
    rng = np.random.default_rng(7)
    b0, b1 = 3000.0, 4000.0
    u = []
    for _ in range(600):
        c = rng.uniform(b0, b1)
        l1, l2 = simulate_client(
            c, 10.0, DEFAULT, rng.uniform(0, 30), rng.uniform(0, 900), busy=[(b0, b1)]
        )
        assert l2 == pytest.approx(result_latency(10.0))  # after the window: unaffected
        u.append(busy_delivery_cdf(l1, b1 - c))
    assert stats.kstest(u, "uniform").pvalue > 0.01
    # Outside a window it is the idle distribution.
    for x in (5.0, 29.0, 61.0, 75.0, 89.0):
        assert busy_delivery_cdf(x, 0.0) == pytest.approx(delivery_cdf(x), abs=1e-9)


def test_busy_window_retries_at_the_mode_interval() -> None:
    # Current client: urgent retries every 60 s from the ping's yes until the window ends.
    r = replay_client(
        [(3001.0, 10.0)], DEFAULT, ping_phase=9.0, exchange_phase=500.0, busy=[(3000.0, 3500.0)]
    )
    # Ping at 3009 -> urgent 3069, 3129, ..., first >= 3500 is 3549.
    assert r.latencies[0][0] == pytest.approx(3549.0 - 3001.0)
    assert r.failed == 8  # 3069 .. 3489
    assert r.level == 0


def test_backoff_client_adds_the_level_delay_and_steps_down_per_success() -> None:
    b = Backoff(jitter=0.0)
    rules = ClientRules(version="backoff", backoff=b)
    rng = np.random.default_rng(0)
    r = replay_client(
        [(3001.0, 10.0)],
        rules,
        ping_phase=9.0,
        exchange_phase=500.0,
        busy=[(3000.0, 3500.0)],
        rng=rng,
    )
    # Yes at 3009 (level 0) -> urgent 3069 fails (level 1) -> retry 3069+60+300 = 3429 fails
    # (level 2) -> 3429+60+600 = 4089 succeeds, level 1 -> result 4089.017+10 schedules an
    # urgent exchange 60 + 300 s later.
    l1, l2 = r.latencies[0]
    assert l1 == pytest.approx(4089.0 - 3001.0)
    assert l2 == pytest.approx(HANDLING + 10.0 + 60.0 + 300.0)
    assert r.failed == 2


@settings(max_examples=60, deadline=None)
@given(
    level=st.integers(0, 9),
    u=st.floats(0, 1, exclude_max=True),
    jitter=st.floats(0, 0.9),
)
def test_backoff_draw_lies_in_the_jitter_band(level: int, u: float, jitter: float) -> None:
    b = Backoff(jitter=jitter)
    d = b.delay(level)
    assert d * (1 - jitter) - 1 < b.draw(level, u) <= d


@settings(max_examples=40, deadline=None)
@given(
    created=st.floats(100.0, 5000.0),
    duration=st.floats(0.0, 3000.0),
    ping_phase=st.floats(0.0, 29.99),
    exchange_phase=st.floats(0.0, 899.99),
)
def test_replay_invariants(created, duration, ping_phase, exchange_phase) -> None:
    """Whatever the phases: delivery within one ping + urgent, or by a regular exchange that
    beat the ping; the result exactly handling + handler + urgent later (idle computer)."""
    # A handler that ends exactly when a regular exchange fires (D a multiple of E) meets
    # that exchange on the wire and waits (X1, X3): a tie of fixed durations, left out.
    assume(duration == 0 or min(duration % 900.0, 900.0 - duration % 900.0) > 1e-6)
    l1, l2 = simulate_client(created, duration, DEFAULT, ping_phase, exchange_phase)
    assert 0 <= l1 <= 30.0 + 60.0 + 1e-9
    assert l1 <= 30.0 or l1 >= 60.0 - 1e-9
    assert l2 == pytest.approx(result_latency(duration))


@pytest.mark.parametrize("field", ["exchange", "urgent", "ping"])
def test_bad_intervals_are_named(field: str) -> None:
    with pytest.raises(ClientLatencyInputError, match=field):
        ClientIntervals(**{field: 0})


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ClientLatencyInputError, match=">= 10"):
        ClientIntervals(urgent=5.0)
    with pytest.raises(ClientLatencyInputError, match="phases"):
        simulate_client(0.0, 1.0, DEFAULT, ping_phase=31.0)
    with pytest.raises(ClientLatencyInputError, match=">= 0"):
        result_latency(-1.0)
    with pytest.raises(ClientLatencyInputError, match="rng"):
        replay_client([(0.0, 1.0)], ClientRules(version="backoff"))
    with pytest.raises(ClientLatencyInputError, match="version"):
        ClientRules(version="old")  # type: ignore[arg-type]
    with pytest.raises(ClientLatencyInputError, match="small integers"):
        delivery_cdf(1.0, ClientIntervals(exchange=900.0, ping=30.0 * 2**0.5), offset=5.0)
