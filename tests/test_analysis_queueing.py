"""Erlang C and the confidence-interval machinery against textbook values and a reference queue."""

from __future__ import annotations

import math

import numpy as np
import pytest

from activitykit.analysis import (
    QueueingInputError,
    batch_means_ci,
    erlang_c,
    mean_ci,
    mmc,
    simulate_mmc_waits,
)


def _erlang_c_by_sum(c: int, a: float) -> float:
    """The textbook form with factorials, written independently of the recursion."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.parametrize(
    ("c", "a", "expected"),
    [
        (1, 0.7, 0.7),  # M/M/1: P(wait) = rho
        (2, 1.0, 1 / 3),  # M/M/2: a^2 / (2 + a)
        (2, 1.5, 1.5**2 / 3.5),
        (3, 2.0, 4 / 9),  # lam=2, mu=1, c=3: P0 = 1/9, Lq = 8/9
        (11, 10.0, 0.6821),  # the classic call-centre table value
    ],
)
def test_erlang_c_textbook_values(c: int, a: float, expected: float) -> None:
    assert erlang_c(c, a) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize("c", [1, 2, 3, 4, 7, 20])
@pytest.mark.parametrize("rho", [0.1, 0.6, 0.8, 0.95])
def test_recursion_matches_factorial_form(c: int, rho: float) -> None:
    assert erlang_c(c, rho * c) == pytest.approx(_erlang_c_by_sum(c, rho * c), rel=1e-12)


def test_erlang_c_stays_finite_for_many_servers() -> None:
    p = erlang_c(500, 480.0)
    assert 0 < p < 1


def test_mmc_figures_of_the_textbook_example() -> None:
    q = mmc(lam=2.0, mu=1.0, c=3)
    assert q.rho == pytest.approx(2 / 3)
    assert q.lq == pytest.approx(8 / 9)
    assert q.wq == pytest.approx(4 / 9)
    assert q.w == pytest.approx(4 / 9 + 1)
    assert q.l == pytest.approx(8 / 9 + 2)
    assert q.wait_sf(0.0) == pytest.approx(4 / 9)
    assert q.wait_cdf(-1.0) == 0.0
    # The tail decays at rate c*mu - lam.
    assert q.wait_sf(1.0) == pytest.approx(4 / 9 * math.exp(-1.0))


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: erlang_c(2, 2.0), "unstable"),
        (lambda: erlang_c(0, 0.5), "integer >= 1"),
        (lambda: erlang_c(2, -1.0), ">= 0"),
        (lambda: mmc(0.0, 1.0, 2), "arrival rate"),
        (lambda: mmc(1.0, 1.0, True), "integer >= 1"),
        (lambda: mean_ci([1.0]), "at least 2"),
        (lambda: mean_ci([1.0, 2.0], confidence=1.0), "between 0 and 1"),
        (lambda: batch_means_ci([1.0, 2.0, 3.0], batches=5), "cannot fill"),
    ],
)
def test_bad_parameters_are_named(call, words: str) -> None:
    with pytest.raises(QueueingInputError, match=words):
        call()


def test_mean_ci_is_student_t() -> None:
    ci = mean_ci([1.0, 2.0, 3.0], confidence=0.95)
    # mean 2, s = 1, t(0.975, 2) = 4.302652729911275
    assert ci.mean == 2.0
    assert ci.half_width == pytest.approx(4.302652729911275 / math.sqrt(3))
    assert 2.0 in ci
    assert 10.0 not in ci


@pytest.mark.parametrize(("c", "rho"), [(1, 0.7), (2, 0.75), (4, 0.8)])
def test_reference_queue_lands_in_the_batch_means_interval(c: int, rho: float) -> None:
    mu = 0.2
    lam = rho * c * mu
    waits = simulate_mmc_waits(lam, mu, c, 200_000, np.random.default_rng(c))
    ci = batch_means_ci(waits[5_000:], batches=20, confidence=0.99)
    assert mmc(lam, mu, c).wq in ci, ci


def test_reference_queue_fraction_waiting_matches_erlang_c() -> None:
    waits = simulate_mmc_waits(0.6, 0.2, 4, 100_000, np.random.default_rng(7))[2_000:]
    assert float((waits > 0).mean()) == pytest.approx(erlang_c(4, 3.0), abs=0.02)


def test_batch_means_catch_a_wrong_value() -> None:
    """The interval is not so wide that it accepts anything: +30 % is outside."""
    waits = simulate_mmc_waits(0.3, 0.2, 2, 200_000, np.random.default_rng(3))[5_000:]
    ci = batch_means_ci(waits, batches=20)
    assert 1.3 * mmc(0.3, 0.2, 2).wq not in ci
