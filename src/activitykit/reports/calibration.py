"""Calibration: the simulator against the real Landscape Client, at the same settings.

A live run (``activitykit live``: real clients, real seconds) and simulated runs of the same
effective scenario (same intervals, workload and fleet size; the live run's seed first, then
the next seeds) are compared on what the client decides:

* the latencies of the two client-side phases, created -> In Progress (``to_start``: how
  soon a client asks for its activity) and In Progress -> final (``run``: how soon its result
  comes back), as ``metrics.activity_table`` defines them: quantiles side by side, means with
  95% confidence intervals (``experiments.stats.mean_ci``) and a two-sample Kolmogorov-Smirnov
  test (``scipy.stats.ks_2samp``) of the real client's values against the simulator's pooled
  over its runs;
* exchanges and pings per computer over the scenario's ``duration``: the live run counts
  each computer's ``exchange`` records and the pings of its ``protocol.jsonl``; the
  simulator counts exchanges and pings for the whole fleet only (idle exchanges are not
  traced), so its side is the fleet mean per computer of each run.

The same functions serve ``activitykit calibrate``, the committed comparison under
``tests/data/calibration/`` and the fidelity test that checks the simulator against it.
``real_client_measurements`` reads, from the live run alone, the timings of the real client
that the simulator needs as defaults.
"""

from __future__ import annotations

import ast
import gzip
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .run import RunData, load_run

__all__ = [
    "COUNT_TOLERANCE",
    "KS_P_MIN",
    "PHASES",
    "QUANTILES",
    "Side",
    "calibrated_client",
    "calibration_figure",
    "compare",
    "comparison_text",
    "live_side",
    "real_client_measurements",
    "sim_side",
]

#: The latency phases compared (``activity_table`` columns) and how they are shown.
PHASES: dict[str, str] = {"to_start": "created → In Progress", "run": "In Progress → final"}
#: What is counted per computer.
COUNTS: dict[str, str] = {"exchanges": "exchanges per computer", "pings": "pings per computer"}
QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
#: The agreement the fidelity test asks for: KS p-value above this on each latency phase...
KS_P_MIN = 0.01
#: ... and per-computer means of the counts within this share of the real client's...
COUNT_TOLERANCE = 0.05
#: ... except these, which a run draws by chance (whether a computer starts its second ping
#: loop, on milliseconds of round trip): the real run's mean must lie inside the 95%
#: interval of the simulator's mean over its runs. One real run of a few computers varies
#: far more than 5%, so the simulated runs, not a fixed share, say what "agree" can mean.
SPREAD_COUNTS = ("pings",)
#: Where a live run directory keeps the wire's log (plain, or gzip'd as committed).
PROTOCOL_NAMES = ("protocol.jsonl", "protocol.jsonl.gz")
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


@dataclass(frozen=True)
class Side:
    """One side of a calibration: pooled latencies and per-computer counts.

    ``latencies``: per phase, the values of the client activities whose phase ended.
    ``counts``: per kind, one value per sample: per computer for the live side, the fleet's
    mean per computer of each run for the simulator (``per_computer`` then holds nothing).
    """

    label: str
    latencies: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    computers: int
    window: float
    runs: int
    source: str
    per_computer: dict[str, dict[str, int]]
    notes: tuple[str, ...] = ()


def _latencies(run: RunData) -> dict[str, np.ndarray]:
    acts = run.activities.loc[run.activities["kind"] == "client"]
    out = {}
    for phase in PHASES:
        v = acts[phase].to_numpy(dtype=float)
        out[phase] = v[~np.isnan(v)]
    return out


def _scenario_of(run: RunData) -> dict[str, Any]:
    if not run.scenario:
        raise InputError(
            "no scenario.effective.yaml: a calibration needs the live run directory whole",
            source=str(run.path),
        )
    return run.scenario


def _protocol_lines(run_dir: Path) -> list[dict[str, Any]]:
    for name in PROTOCOL_NAMES:
        path = run_dir / name
        if path.is_file():
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                out = []
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise InputError(
                            f"not JSON ({exc.msg})", source=str(path), line=n
                        ) from None
                return out
    raise InputError(
        f"no {' or '.join(PROTOCOL_NAMES)}: not a live run directory (activitykit live)",
        source=str(run_dir),
    )


def live_side(run_dir: str | Path) -> Side:
    """The real client's side, from a live run directory (``activitykit live``)."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    sc = _scenario_of(run)
    window = float(sc["duration"])
    clients = run.summary.get("live", {}).get("clients")
    if not clients:
        raise InputError("summary.json has no live.clients: not a live run", source=str(run_dir))
    names = [str(c) for c in clients]
    tr = run.trace
    ex = tr.loc[(tr["event"] == "exchange") & (tr["t"] >= 0) & (tr["t"] <= window), "computer"]
    pings = pd.Series(
        [
            p["computer"]
            for p in _protocol_lines(run_dir)
            if p.get("kind") == "ping" and p.get("computer") and 0 <= p.get("t", -1) <= window
        ],
        dtype=object,
    )
    per = {
        "exchanges": ex.value_counts().reindex(names, fill_value=0),
        "pings": pings.value_counts().reindex(names, fill_value=0),
    }
    return Side(
        label="real client",
        latencies=_latencies(run),
        counts={k: v.to_numpy(dtype=float) for k, v in per.items()},
        computers=len(names),
        window=window,
        runs=1,
        source=str(run_dir),
        per_computer={k: {c: int(n) for c, n in v.items()} for k, v in per.items()},
    )


def sim_side(
    scenario_file: str | Path,
    seeds: Sequence[int],
    out_root: str | Path,
    client: dict[str, Any] | None = None,
) -> Side:
    """The simulator's side: ``scenario_file`` (a live run's effective scenario) simulated
    once per seed by ``runner.run_scenario``, each run written to ``out_root/seed-<seed>``
    (without a report: the calibration draws its own figure). ``client``: settings of every
    group's ``client`` section to run with (``calibrated_client``: the live run's network)."""
    from ..runner import run_scenario
    from ..scenario import load_scenario

    sets = ["output.report=false"]
    if client:
        n_groups = len(load_scenario(scenario_file).fleet.groups)
        sets += [
            f"fleet.groups.{i}.client.{k}={json.dumps(v)}"
            for i in range(n_groups)
            for k, v in client.items()
        ]
    scenario = load_scenario(scenario_file, sets)
    n = sum(g.computers for g in scenario.fleet.groups)
    window = float(scenario.duration)
    lat: dict[str, list[np.ndarray]] = {p: [] for p in PHASES}
    counts: dict[str, list[float]] = {k: [] for k in COUNTS}
    notes = []
    for seed in seeds:
        result = run_scenario(scenario, Path(out_root) / f"seed-{seed}", seed=seed)
        if result.failed or not result.conformant:
            raise RuntimeError(
                f"simulated calibration run (seed {seed}) failed: "
                f"{result.summary.get('error') or result.summary['violations']}"
            )
        run = load_run(result.out_dir)
        for phase, v in _latencies(run).items():
            lat[phase].append(v)
        c = result.summary["counters"]
        end = float(result.summary["end_t"])
        # The counters cover [0, end]; past duration (a drain) only idle traffic is left,
        # scaled out here so both sides count over the same window.
        scale = window / end if end > window else 1.0
        if scale != 1.0:
            notes.append(f"seed {seed}: counts scaled from [0, {end:g}] to [0, {window:g}]")
        exchanges = c.get("exchanges_urgent", 0) + c.get("exchanges_regular", 0)
        counts["exchanges"].append(exchanges * scale / n)
        counts["pings"].append(c.get("pings", 0) * scale / n)
    return Side(
        label="simulator",
        latencies={p: np.concatenate(v) if v else np.empty(0) for p, v in lat.items()},
        counts={k: np.asarray(v, dtype=float) for k, v in counts.items()},
        computers=n,
        window=window,
        runs=len(seeds),
        source=f"{scenario_file} seeds {list(seeds)}",
        per_computer={},
        notes=tuple(notes),
    )


def _interval(values: np.ndarray) -> dict[str, Any]:
    from ..experiments.stats import mean_ci

    iv = mean_ci(values)
    return {"n": iv.n, "mean": _num(iv.mean), "ci95": [_num(iv.low), _num(iv.high)]}


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def _distribution(values: np.ndarray) -> dict[str, Any]:
    out = _interval(values)
    out["quantiles"] = {
        f"p{round(q * 100)}": (_num(float(np.quantile(values, q))) if len(values) else None)
        for q in QUANTILES
    }
    return out


def compare(live: Side, sim: Side) -> dict[str, Any]:
    """The comparison, JSON-ready: per phase the two distributions and the KS test, per
    count the two means with their intervals and the simulator's relative difference, and
    whether each meets the fidelity criteria (``KS_P_MIN``, ``COUNT_TOLERANCE``)."""
    from scipy import stats

    if live.computers != sim.computers or live.window != sim.window:
        raise InputError(
            f"the two sides do not share settings: {live.computers} vs {sim.computers} "
            f"computers, window {live.window:g} vs {sim.window:g} s"
        )
    latency = {}
    agree = {}
    for phase, label in PHASES.items():
        a, b = live.latencies[phase], sim.latencies[phase]
        ks = stats.ks_2samp(a, b) if len(a) and len(b) else None
        p = float(ks.pvalue) if ks is not None else math.nan
        latency[phase] = {
            "label": label,
            "live": _distribution(a),
            "sim": _distribution(b),
            "ks": {
                "statistic": _num(float(ks.statistic)) if ks is not None else None,
                "pvalue": _num(p),
            },
        }
        agree[f"latency.{phase}"] = bool(p > KS_P_MIN)
    counts = {}
    for kind, label in COUNTS.items():
        a, b = live.counts[kind], sim.counts[kind]
        la, sb = _interval(a), _interval(b)
        rel = (sb["mean"] / la["mean"] - 1.0) if la["mean"] else math.nan
        counts[kind] = {
            "label": label,
            "live": {**la, "per_computer": live.per_computer.get(kind, {})},
            "sim": {**sb, "runs": sim.runs},
            "relative_difference": _num(rel),
        }
        if kind in SPREAD_COUNTS:
            lo, hi = sb["ci95"]
            agree[f"counts.{kind}"] = bool(lo is not None and lo <= la["mean"] <= hi)
        else:
            agree[f"counts.{kind}"] = bool(abs(rel) <= COUNT_TOLERANCE)
    return {
        "computers": live.computers,
        "window_s": live.window,
        "live": {"source": live.source, "runs": live.runs},
        "sim": {"source": sim.source, "runs": sim.runs, "notes": list(sim.notes)},
        "latency": latency,
        "counts": counts,
        "criteria": {
            "ks_pvalue_above": KS_P_MIN,
            "count_tolerance": COUNT_TOLERANCE,
            "spread_counts": list(SPREAD_COUNTS),
        },
        "agree": agree,
        "all_agree": all(agree.values()),
    }


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}" if abs(x) < 100 else f"{x:,.0f}"


def _mean_text(d: dict[str, Any]) -> str:
    lo, hi = d["ci95"]
    ci = f" [{_fmt(lo)}, {_fmt(hi)}]" if lo is not None else ""
    return f"{_fmt(d['mean'])}{ci}"


def comparison_text(c: dict[str, Any]) -> str:
    """The comparison as a plain-text table (what ``activitykit calibrate`` prints)."""
    lines = [
        f"calibration: {c['computers']} computers, counts over [0, {c['window_s']:g}] s; "
        f"real client (1 run) vs simulator ({c['sim']['runs']} run(s))",
        "",
    ]
    head = f"{'':28}{'real client':>26}{'simulator':>26}"
    for phase, d in c["latency"].items():
        lines += [f"{d['label']} (s)", head]
        lines.append(f"{'  n':28}{d['live']['n']:>26}{d['sim']['n']:>26}")
        lines.append(f"{'  mean [95% CI]':28}{_mean_text(d['live']):>26}{_mean_text(d['sim']):>26}")
        for q in d["live"]["quantiles"]:
            lines.append(
                f"{'  ' + q:28}{_fmt(d['live']['quantiles'][q]):>26}"
                f"{_fmt(d['sim']['quantiles'][q]):>26}"
            )
        ks = d["ks"]
        verdict = "agree" if c["agree"][f"latency.{phase}"] else "DIFFER"
        p = "-" if ks["pvalue"] is None else f"{ks['pvalue']:.3g}"
        lines.append(
            f"  KS two-sample: D = {_fmt(ks['statistic'])}, p = {p} ({verdict} at p > "
            f"{c['criteria']['ks_pvalue_above']})"
        )
        lines.append("")
    lines += ["counts per computer (mean [95% CI])", head]
    for kind, d in c["counts"].items():
        rel = d["relative_difference"]
        verdict = "agree" if c["agree"][f"counts.{kind}"] else "DIFFER"
        how = (
            f"{verdict}: real mean in the simulator's CI"
            if kind in c["criteria"].get("spread_counts", ())
            else f"{verdict} within {c['criteria']['count_tolerance']:.0%}"
        )
        lines.append(
            f"{'  ' + kind:28}{_mean_text(d['live']):>26}{_mean_text(d['sim']):>26}"
            f"   {'-' if rel is None else f'{rel:+.1%}'} ({how})"
        )
    for note in c["sim"]["notes"]:
        lines.append(f"note: {note}")
    lines.append("")
    lines.append("verdict: " + ("the simulator agrees" if c["all_agree"] else "they differ"))
    return "\n".join(lines) + "\n"


def calibration_figure(live: Side, sim: Side) -> Any:
    """ECDFs of both latency phases (real client vs simulator) and the per-computer counts
    (each computer's value, the means with 95% intervals); a matplotlib Figure."""
    from .figures import _ecdf, _new

    fig = _new(1, 3, size=(14, 4))
    for ax, (phase, label) in zip(fig.axes[:2], PHASES.items(), strict=True):
        _ecdf(ax, live.latencies[phase], live.label, lw=1.6, color="#de2d26")
        _ecdf(ax, sim.latencies[phase], f"{sim.label} ({sim.runs} runs)", lw=1.2, color="#3182bd")
        ax.set_title(label)
        ax.set_xlabel("seconds")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize="x-small")
    fig.axes[0].set_ylabel("share of activities")
    ax = fig.axes[2]
    for i, kind in enumerate(COUNTS):
        for j, (side, colour) in enumerate(((live, "#de2d26"), (sim, "#3182bd"))):
            v = side.counts[kind]
            x = i + (j - 0.5) * 0.35
            iv = _interval(v)
            ax.scatter(np.full(len(v), x), v, s=10, color=colour, alpha=0.5)
            if iv["ci95"][0] is not None:
                err = [[iv["mean"] - iv["ci95"][0]], [iv["ci95"][1] - iv["mean"]]]
                ax.errorbar(x, iv["mean"], yerr=err, fmt="_", color=colour, capsize=6, ms=16)
    ax.set_xticks(range(len(COUNTS)), list(COUNTS))
    ax.set_title(f"per computer over [0, {live.window:g}] s")
    ax.scatter([], [], color="#de2d26", label=f"{live.label} (each computer)")
    ax.scatter([], [], color="#3182bd", label=f"{sim.label} (fleet mean, each run)")
    ax.legend(fontsize="x-small")
    return fig


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

    run_dir = Path(run_dir)
    sc = _scenario_of(load_run(run_dir))
    periods = _ping_round_trips(
        run_dir, float(sc["duration"]), float(sc["fleet"]["groups"][0]["ping_interval"])
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
