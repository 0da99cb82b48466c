"""Timings of the real Landscape Client read from a live run: for the simulator's defaults
(``real_client_measurements``; ``activitykit calibrate`` writes them beside its comparison)
and the network the calibration's simulated side runs with (``calibrated_client``).
"""

from __future__ import annotations

import ast
import gzip
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ._calibration_io import _latencies, _num, _protocol_lines, _scenario_of
from .run import load_run

__all__ = ["calibrated_client", "real_client_measurements"]


#: The client's broker log line that times an exchange (seconds, two decimals).
_EXCHANGE_DONE = re.compile(r"exchange completed in ([0-9.]+)s")


#: A broker log line: its time, then the message.
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) +\w+ +\[[^\]]+\] (.*)")


#: A broker log line that starts an exchange (its answer: the next "Received payload").
_EXCHANGE_START = re.compile(r"^Starting (urgent )?message exchange")


#: The calibration's scripts: ``sleep SECONDS`` (their whole run, as the scenario drew it).
_SLEEP = re.compile(r"^sleep ([0-9.]+);?")


def _handler_overheads(log: Path) -> list[float]:
    """From one client's debug broker log: how much later than its script's own run each
    result reached the broker, counted from the broker's handling of the script's message.

    Only results that asked for an urgent exchange show when they arrived: with an urgent
    interval of 10 s the broker announces that exchange ("impending-exchange") at once; the
    latest script due before an announcement (within 1 s) is the one it answers."""
    opener = gzip.open if log.name.endswith(".gz") else open
    with opener(log, "rt", encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    pending: list[dict[str, Any]] = []
    due: list[tuple[float, float]] = []  # (handled + script seconds, handled), per script
    out = []
    i = 0
    while i < len(lines):
        m = _LOG_LINE.match(lines[i])
        i += 1
        if not m:
            continue
        t = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        text = m[2]
        if text.startswith("Received payload:"):
            body = []
            while i < len(lines) and not _LOG_LINE.match(lines[i]):
                body.append(lines[i])
                i += 1
            try:
                pending = list(ast.literal_eval("\n".join(body)).get("messages", []))
            except (ValueError, SyntaxError, AttributeError):
                pending = []
        elif text.startswith("Started firing message.") and pending:
            msg = pending.pop(0)
            sleep = (
                _SLEEP.match(str(msg.get("code", "")))
                if msg.get("type") == "execute-script"
                else None
            )
            if sleep:
                due.append((t + float(sleep[1]), t))
        elif text.startswith("Started firing impending-exchange."):
            ready = [d for d in due if d[0] <= t < d[0] + 1.0]
            if ready:
                last = max(ready)
                out.append(t - last[0])
                due.remove(last)
    return out


def _exchange_round_trips(log: Path) -> list[float]:
    """From one client's debug broker log: each exchange's start to its answer (s)."""
    opener = gzip.open if log.name.endswith(".gz") else open
    out, start = [], None
    with opener(log, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _LOG_LINE.match(line)
            if not m:
                continue
            t = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if _EXCHANGE_START.match(m[2]):
                start = t
            elif m[2].startswith("Received payload") and start is not None:
                out.append(t - start)
                start = None
    return out


def _ping_round_trips(run_dir: Path, window: float, ping_i: float) -> np.ndarray:
    from ..analysis import ping_periods

    pings: dict[str, list[float]] = {}
    exchanges: dict[str, list[float]] = {}
    for p in _protocol_lines(run_dir):
        if p.get("computer") and 0 <= p.get("t", -1) <= window:
            by = {"ping": pings, "exchange": exchanges}.get(p.get("kind"))
            if by is not None:
                by.setdefault(p["computer"], []).append(float(p["t"]))
    return ping_periods(pings, exchanges, ping_i)


def calibrated_client(run_dir: str | Path) -> dict[str, Any]:
    """The client settings the simulated side runs with: the live run's own network.

    ``ping_round_trip``: a lognormal fitted to the run's single-loop ping periods beyond the
    interval (the wire's log); ``round_trip`` (exchanges, a fixed number in the simulator):
    the median of the clients' exchange start -> answer (their broker logs; 0 without them).
    """
    from ..analysis import lognormal_fit
    from ..errors import InputError

    run_dir = Path(run_dir)
    sc = _scenario_of(load_run(run_dir))
    periods = _ping_round_trips(
        run_dir, float(sc["duration"]), float(sc["fleet"]["groups"][0]["ping_interval"])
    )
    if len(periods) < 2:
        # a short or loaded live run: say what to change, not a fit's ValueError
        raise InputError(
            f"{run_dir}: the live run recorded {len(periods)} single-loop ping period(s); "
            "the simulated side's ping round trip is fitted to at least 2: run it longer "
            "(duration) or with more clients"
        )
    fit = lognormal_fit(periods)
    trips = [
        x for log in sorted(run_dir.glob("clients/*/log/broker.log*"))
        for x in _exchange_round_trips(log)
    ]  # fmt: skip
    return {
        "round_trip": round(float(np.median(trips)), 4) if trips else 0.0,
        "ping_round_trip": {
            "dist": "lognormal",
            "mean": round(fit["mean"], 5),
            "sigma": round(fit["sigma"], 3),
        },
    }


def real_client_measurements(run_dir: str | Path) -> dict[str, Any]:
    """Timings of the real client read from a live run, for the simulator's defaults.

    From the wire (``protocol.jsonl``) and the trace of the run, per computer over
    ``[0, duration]``:

    * ``ping_gap_s``: quantiles of the gaps between a computer's pings, and ``duplicate_pings``
      (gaps under half the ping interval: the client's second ping loop) per computer-minute;
    * ``yes_ping_to_exchange_s``: from a ping answered "messages waiting" to that computer's
      next exchange (the urgent exchange the answer asks for);
    * ``exchange_gap_s``: gaps before exchanges that no "yes" ping asked for and that brought
      nothing (the client's own schedule); the excess of their median over the exchange
      interval is the time an exchange takes, the client scheduling the next one from its
      completion;
    * ``exchange_duration_s``: how long the client says its exchanges took (its broker log's
      "completed in" lines, when ``clients/<name>/log/broker.log[.gz]`` is there);
    * ``deliver_to_result_s``: the ``run`` latency, the whole round trip of a script (its
      own duration is the scenario's handler distribution); how long results waited in the
      client is in the run's findings (``summary.json``, ``live.findings.held_results``).
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    sc = _scenario_of(run)
    window = float(sc["duration"])
    g = sc["fleet"]["groups"][0]
    ping_i, ex_i = float(g["ping_interval"]), float(g["exchange_interval"])
    proto = [p for p in _protocol_lines(run_dir) if 0 <= p.get("t", -1) <= window]
    ex_by: dict[str, list[tuple[float, int]]] = {}
    pings: dict[str, list[tuple[float, bool]]] = {}
    for p in proto:
        if p.get("kind") == "ping" and p.get("computer"):
            pings.setdefault(p["computer"], []).append((float(p["t"]), bool(p.get("messages"))))
        elif p.get("kind") == "exchange" and p.get("computer"):
            ex_by.setdefault(p["computer"], []).append((float(p["t"]), int(p.get("received", 0))))
    gaps, yes_delay, own_gaps = [], [], []
    duplicates = 0
    for c, ps in pings.items():
        ts = np.array([t for t, _ in ps])
        d = np.diff(ts)
        gaps.extend(d.tolist())
        duplicates += int((d < 0.5 * ping_i).sum())
        ex = np.array([t for t, _ in ex_by.get(c, [])])
        got = np.array([n for _, n in ex_by.get(c, [])])
        yes = np.array([t for t, m in ps if m])
        if len(ex):
            nxt = np.searchsorted(ex, yes, side="right")
            ok = nxt < len(ex)
            yes_delay.extend((ex[nxt[ok]] - yes[ok]).tolist())
            # the client's own schedule: no "yes" ping asked for the later exchange and it
            # brought nothing (a queued result makes the client ask for an urgent one)
            for i in range(1, len(ex)):
                a, b = ex[i - 1], ex[i]
                if got[i] == 0 and not ((yes > a) & (yes < b)).any():
                    own_gaps.append(b - a)
    minutes = len(pings) * window / 60.0

    def q(values: list[float]) -> dict[str, Any]:
        arr = np.asarray(values, dtype=float)
        return {
            "n": len(arr),
            "mean": _num(float(arr.mean())) if len(arr) else None,
            **{
                f"p{round(x * 100)}": _num(float(np.quantile(arr, x))) if len(arr) else None
                for x in (0.1, 0.5, 0.9)
            },
        }

    own = q(own_gaps)
    durations = []
    for log in sorted(run_dir.glob("clients/*/log/broker.log*")):
        opener = gzip.open if log.name.endswith(".gz") else open
        with opener(log, "rt", encoding="utf-8", errors="replace") as f:
            durations.extend(float(m[1]) for line in f if (m := _EXCHANGE_DONE.search(line)))
    overheads = [
        x
        for log in sorted(run_dir.glob("clients/*/log/broker.log*"))
        for x in _handler_overheads(log)
    ]
    run_lat = _latencies(run)["run"]
    return {
        "intervals_s": {
            "exchange": ex_i,
            "ping": ping_i,
            "urgent_exchange": float(g["urgent_exchange_interval"]),
        },
        "ping_gap_s": q(gaps),
        "duplicate_pings": {
            "count": duplicates,
            "per_computer_minute": _num(duplicates / minutes) if minutes else None,
        },
        "yes_ping_to_exchange_s": q(yes_delay),
        "exchange_gap_s": own,
        "exchange_excess_over_interval_s": (
            _num(own["p50"] - ex_i) if own["p50"] is not None else None
        ),
        "exchange_duration_s": q(durations),
        "deliver_to_result_s": q(run_lat.tolist()),
        "handler_overhead_s": q(overheads),
    }
