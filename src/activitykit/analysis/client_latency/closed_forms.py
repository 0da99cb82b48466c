"""Closed forms of the latencies on an idle computer, and numerical ones for a busy window.

The derivations are the package docstring's: ``L1`` created -> In Progress for unrelated or
locked timer phases, ``L2`` In Progress -> final, and ``L1`` around a busy window (B1).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

import numpy as np
from scipy import integrate

from .client import DEFAULT, HANDLING, ClientIntervals, ClientLatencyInputError, ClientRules

__all__ = [
    "busy_delivery_cdf",
    "delivery_cdf",
    "delivery_mean",
    "delivery_sample",
    "lock_offset",
    "result_latency",
    "result_latency_cdf",
]


def _as_intervals(iv: ClientIntervals | ClientRules) -> ClientIntervals:
    return iv.intervals if isinstance(iv, ClientRules) else iv


def lock_offset(
    duration: float,
    iv: ClientIntervals = DEFAULT,
    handling: float = HANDLING,
    ping_reset: Literal["start", "end"] = "end",
) -> float:
    """Where an activity delivered alone leaves the exchange grid relative to the ping grid.

    Its result's urgent exchange, the last exchange, comes ``handling + duration + urgent``
    after the delivery (X4, X3, X2); its message reset the pings (P2) at the end of its
    handling (``duration + urgent`` before that exchange) or at its start.
    """
    return duration + iv.urgent + (handling if ping_reset == "start" else 0.0)


def _period(iv: ClientIntervals) -> float:
    """``lcm(exchange, ping)``: the pattern of the two locked grids repeats with it."""
    ratio = Fraction(iv.exchange / iv.ping).limit_denominator(1000)
    if abs(float(ratio) - iv.exchange / iv.ping) > 1e-9 * iv.exchange / iv.ping:
        raise ClientLatencyInputError(
            f"exchange/ping = {iv.exchange / iv.ping!r} is not a ratio of small integers: the "
            "locked grids never repeat (give offset=None for unrelated phases)"
        )
    return ratio.denominator * iv.exchange


def _locked_pieces(iv: ClientIntervals, offset: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Pieces ``[lo, hi)`` of ``y ~ U(0, T)`` on which ``L1 = y + c`` (both next-event times
    grow with ``y`` at slope 1, so which one wins is constant between wrap points)."""
    t = _period(iv)
    e, u, p = iv.exchange, iv.urgent, iv.ping
    cuts = np.concatenate(
        [
            np.arange(0.0, t, p),
            (np.arange(0.0, t, e) - offset) % t,
            [0.0, t],
        ]
    )
    cuts = np.unique(cuts)
    lo, hi = cuts[:-1], cuts[1:]
    keep = hi - lo > 1e-12
    lo, hi = lo[keep], hi[keep]
    mid = (lo + hi) / 2
    ping_next = mid % p
    regular_next = (mid + offset) % e
    # A tie (fixed durations can line the grids up exactly) goes to the timer that was set
    # first, as in the client's reactor: the one with the longer interval.
    tie = np.isclose(regular_next, ping_next, rtol=0.0, atol=1e-9)
    regular = (regular_next < ping_next) | (tie & (e > p))
    c = np.where(regular, regular_next, ping_next + u) - mid
    return np.stack([lo, hi]), c, t


def delivery_cdf(
    x: float | np.ndarray, iv: ClientIntervals = DEFAULT, offset: float | None = None
) -> float | np.ndarray:
    """``P(L1 <= x)``, created -> In Progress on an idle computer.

    ``offset=None``: unrelated phases, ``P`` and ``R`` independent uniforms; ``L1 <= x`` is
    the regular exchange first (``R <= x``, ``R < P``) or the ping first and its urgent
    exchange in time (``P <= R``, ``P + urgent <= x``). ``offset``: grids locked (see
    ``lock_offset``); exact, by summing over the pieces on which ``L1 = y + c``.
    """
    iv = _as_intervals(iv)
    x = np.asarray(x, dtype=float)
    if offset is None:
        e, u, p = iv.exchange, iv.urgent, iv.ping
        m = min(e, p)
        a = np.clip(x, 0.0, m)  # R in [0, a] with P > R: integrand (1/e)(1 - r/p)
        b = np.clip(x - u, 0.0, m)  # P in [0, b] with R >= P: integrand (1/p)(1 - q/e)
        out = (a - a * a / (2 * p)) / e + (b - b * b / (2 * e)) / p
    else:
        (lo, hi), c, t = _locked_pieces(iv, offset)
        out = np.clip(x[..., None] - c - lo, 0.0, hi - lo).sum(axis=-1) / t
    return float(out) if out.ndim == 0 else out


def delivery_mean(iv: ClientIntervals = DEFAULT, offset: float | None = None) -> float:
    """``E[L1]``: ``E[R; R < P] + E[P + urgent; P <= R]``, or the piecewise sum if locked."""
    iv = _as_intervals(iv)
    if offset is not None:
        (lo, hi), c, t = _locked_pieces(iv, offset)
        return float(((hi**2 - lo**2) / 2 + c * (hi - lo)).sum() / t)
    e, u, p = iv.exchange, iv.urgent, iv.ping
    m = min(e, p)
    regular = (m**2 / 2 - m**3 / (3 * p)) / e
    pinged = (m**2 / 2 + u * m - m**3 / (3 * e) - u * m**2 / (2 * e)) / p
    return regular + pinged


def delivery_sample(
    n: int, rng: np.random.Generator, iv: ClientIntervals = DEFAULT, offset: float | None = None
) -> np.ndarray:
    """``n`` draws of ``L1`` straight from its definition (uniforms and a comparison)."""
    iv = _as_intervals(iv)
    if offset is None:
        r = rng.uniform(0.0, iv.exchange, n)
        q = rng.uniform(0.0, iv.ping, n)
    else:
        y = rng.uniform(0.0, _period(iv), n)
        q, r = y % iv.ping, (y + offset) % iv.exchange
    return np.where(r < q, r, q + iv.urgent)


def result_latency(
    duration: float | np.ndarray, iv: ClientIntervals = DEFAULT, handling: float = HANDLING
):
    """``L2 = handling + D + urgent``: In Progress -> final on an idle computer (X4, X3)."""
    iv = _as_intervals(iv)
    d = np.asarray(duration, dtype=float)
    if np.any(d < 0):
        raise ClientLatencyInputError("handler durations must be >= 0 s")
    out = handling + d + iv.urgent
    return float(out) if out.ndim == 0 else out


def result_latency_cdf(
    x: float, duration, handling=HANDLING, iv: ClientIntervals = DEFAULT
) -> float:
    """``P(L2 <= x)`` for ``L2 = H + D + urgent`` with random handling ``H`` and handler ``D``
    (each a number or a frozen scipy distribution), by numerical convolution: the handling
    of the one message of an idle delivery is independent of the handler's work."""
    iv = _as_intervals(iv)
    y = x - iv.urgent
    fixed_h = isinstance(handling, int | float)
    fixed_d = isinstance(duration, int | float)
    if fixed_h and fixed_d:
        return float(handling + duration <= y)
    if fixed_h:
        return float(duration.cdf(y - handling))
    if fixed_d:
        return float(handling.cdf(y - duration))
    lo, hi = handling.support()
    val, _ = integrate.quad(
        lambda t: handling.pdf(t) * duration.cdf(y - t),
        max(lo, 0.0),
        min(hi, max(y, 0.0)),
        limit=200,
    )
    return val


def busy_delivery_cdf(x: float, remaining: float, iv: ClientIntervals = DEFAULT) -> float:
    """``P(L1 <= x)`` for a current client, activity created ``remaining`` s before the end of
    a busy window, unrelated phases (rules X1, B1).

    Given ``P``: the regular exchange delivers iff ``remaining <= R < P``; otherwise the ping's
    urgent exchange and its retries every ``urgent`` s (B1 keeps urgent mode) deliver at the
    first ``P + k*urgent >= remaining``, ``k >= 1``. ``R`` is integrated by hand, ``P`` by quad.
    """
    iv = _as_intervals(iv)
    e, u, p = iv.exchange, iv.urgent, iv.ping
    w = max(remaining, 0.0)

    def given_ping(q: float) -> float:
        regular = max(0.0, min(q, e, x) - w) / e
        k = max(1, math.ceil((w - q) / u))
        not_regular = 1.0 - max(0.0, min(q, e) - w) / e
        return regular + (not_regular if q + k * u <= x else 0.0)

    # Breakpoints: where k changes (q = w - k*u), where x is reached, where min(q, e) bends.
    pts = sorted(
        {b for b in [w, x, e, x - u] + [w - k * u for k in range(int(w // u) + 2)] if 0 < b < p}
    )
    val, _ = integrate.quad(given_ping, 0.0, p, points=pts or None, limit=200)
    return val / p
