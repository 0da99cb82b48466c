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
``real_client_measurements`` (``client_timings``) reads, from the live run alone, the
timings of the real client that the simulator needs as defaults.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._calibration_io import PHASES, _latencies, _num, _protocol_lines, _scenario_of
from .client_timings import calibrated_client, real_client_measurements
from .run import load_run

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
    from ._canvas import new_figure
    from .figures import _ecdf

    fig = new_figure(1, 3, size=(14, 4))
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
