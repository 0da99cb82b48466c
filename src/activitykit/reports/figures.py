"""One function per report figure: ``RunData`` in, matplotlib ``Figure`` out.

Each starts from ``_canvas.new_figure`` (a ``matplotlib.figure.Figure``, never ``pyplot``,
rendered with Agg: see ``_canvas``); ``figure_png`` turns one into PNG bytes. The
dependency-graph figure is in ``graph_figures``. Every function draws a clear "nothing to
show" panel instead of failing on an empty run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ._canvas import STATE_COLOURS, empty_panel, figure_png, new_figure
from ._frame import STATES, TERMINAL_STATES
from .graph_figures import graph_figure
from .metrics import kaplan_meier, open_ages
from .render import FIGURE_NAMES
from .run import RunData
from .series import queue_depth_steps

__all__ = [
    "FIGURES",
    "STATE_COLOURS",
    "bulk_progress_figure",
    "ecdf_compare_figure",
    "exchange_figure",
    "figure_png",
    "graph_figure",
    "latency_figure",
    "latency_over_time_figure",
    "occupancy_figure",
    "queue_figure",
    "throughput_figure",
]

_PHASES = {
    "to_start": "created → In Progress",
    "run": "In Progress → final",
    "total": "created → final",
}
_MAX_LINES = 8  # more series than this are folded into "other"
_ECDF_POINTS = 400  # an ECDF is drawn from this many quantiles, however many activities


def _minutes(index: pd.Index) -> np.ndarray:
    return np.asarray(index, dtype=float) / 60.0


def _seconds(x: float) -> str:
    """A duration with its unit and no false precision: 0.25 s, 42 s, 7.5 min, 3.2 h."""
    if x < 10:
        return f"{x:.2g} s" if x else "0 s"
    if x < 120:
        return f"{x:.0f} s"
    if x < 7200:
        return f"{x / 60:.1f} min"
    return f"{x / 3600:.1f} h"


def _fold(df: pd.DataFrame, limit: int = _MAX_LINES) -> pd.DataFrame:
    """Keep the ``limit`` biggest columns, sum the rest into 'other'."""
    if df.shape[1] <= limit:
        return df
    order = df.sum().sort_values(ascending=False).index
    out = df[order[: limit - 1]].copy()
    out["other"] = df[order[limit - 1 :]].sum(axis=1)
    return out


def throughput_figure(run: RunData) -> Figure:
    """Activities finished per minute over time, by kind (top) and by type (bottom)."""
    fig = new_figure(2, 1, size=(10, 6.5))
    for ax, by in zip(fig.axes, ("kind", "type"), strict=True):
        series = _fold(run.throughput(by))
        if series.empty or series.to_numpy().sum() == 0:
            empty_panel(ax, "finished activities")
            continue
        for col in series.columns:
            ax.step(_minutes(series.index), series[col], where="post", label=str(col), lw=1.2)
        ax.set_ylabel("finished / min")
        ax.set_title(f"Throughput by {by}")
        ax.legend(fontsize="small", ncols=2 if series.shape[1] > 4 else 1)
        if run.warmup:
            ax.axvline(run.warmup / 60, color="k", ls=":", lw=1)
    fig.axes[-1].set_xlabel("time (min)")
    return fig


def _ecdf(
    ax: Axes, values: np.ndarray, label: str, open_ages: np.ndarray | None = None, **kw: object
) -> None:
    """The ECDF of ``values``; with still-open phases (``open_ages``), the Kaplan-Meier
    estimate instead (``metrics.phase_stats`` says why), which stops below 1."""
    values = values[~np.isnan(values)]
    ages = np.empty(0) if open_ages is None else open_ages[~np.isnan(open_ages)]
    if len(ages) and len(values):
        x, q = kaplan_meier(values, ages)
        if len(x) > _ECDF_POINTS:  # thin evenly, keeping the last point
            keep = np.unique(np.linspace(0, len(x) - 1, _ECDF_POINTS).astype(int))
            x, q = x[keep], q[keep]
        label = f"{label} (n={len(values)}, open={len(ages)})"
        ax.step(np.r_[x[0], x], np.r_[0.0, q], where="post", label=label, **kw)
        return
    if len(values) == 0:
        return
    m = min(_ECDF_POINTS, len(values))
    q = np.arange(1, m + 1) / m  # exact ECDF when m == n: x_k is the k-th smallest value
    x = np.quantile(values, q, method="inverted_cdf")
    ax.step(np.r_[x[0], x], np.r_[0.0, q], where="post", label=f"{label} (n={len(values)})", **kw)


def latency_figure(run: RunData) -> Figure:
    """ECDFs of the three latency phases, by kind (top row) and by type (bottom row),
    with p50/p90/p99 of all activities marked. When the kinds and the types split the
    activities alike (each kind has one type, of its own), the two rows would draw the same
    curves: one row, by type, each labelled with its kind."""
    after = (run.activities["created_t"] >= run.warmup).to_numpy()
    acts = run.activities.loc[after]
    ages = {
        ph: a[after]
        for ph, a in open_ages(run.activities, warmup=run.warmup, t_end=run.t_end).items()
    }
    overall = run.measures["latency"]["all"]
    # Integer codes per label, computed once: comparing 1M strings 60 times would dominate.
    groups = {}
    for by in ("kind", "type"):
        codes, names = pd.factorize(acts[by].fillna("(none)").astype(str), sort=True)
        groups[by] = (codes, [str(n) for n in names])
    (kcodes, knames), (tcodes, tnames) = groups["kind"], groups["type"]
    alike = len(knames) == len(tnames) and (
        len(np.unique(kcodes * max(len(tnames), 1) + tcodes)) == len(tnames)
    )
    if alike:  # (then each type code has one kind code)
        kind_of = dict(zip(tcodes.tolist(), kcodes.tolist(), strict=True))
        tnames = [f"{t} ({knames[kind_of[i]]})" for i, t in enumerate(tnames)]
        groups = {"type": (tcodes, tnames)}
    rows = tuple(groups)
    for by, (codes, names) in groups.items():
        counts = np.bincount(codes, minlength=len(names)) if len(codes) else np.zeros(0, int)
        keep = sorted(range(len(names)), key=lambda i: -counts[i])[: _MAX_LINES - 1]
        if by == "kind":
            keep = sorted(keep)
        groups[by] = (codes, [(i, names[i]) for i in keep])
    fig = new_figure(len(rows), 3, size=(13, 3.6 * len(rows) - 0.2))
    for col, phase in enumerate(_PHASES):
        for row, by in enumerate(rows):
            ax = fig.axes[row * 3 + col]
            values = acts[phase].to_numpy(dtype=float)
            if np.isnan(values).all():
                empty_panel(ax, f"{_PHASES[phase]} latencies")
                continue
            codes, keys = groups[by]
            for code, key in keys:
                _ecdf(ax, values[codes == code], key, ages[phase][codes == code], lw=1.2)
            st = overall[phase]
            if row == 0 and st["p50"] is not None:
                for p, ls in ((50, "-"), (90, "--"), (99, ":")):
                    v, name = float(st[f"p{p}"]), f"p{p}"
                    op = ">=" if name in st["lower_bounds"] else "="
                    ax.axvline(v, color="k", ls=ls, lw=0.8, label=f"{name} {op} {v:.3g} s")
            ax.set_title(f"{_PHASES[phase]} by {by}", fontsize="medium")
            ax.set_xlabel("seconds")
            ax.set_ylim(0, 1.02)
            ax.legend(fontsize="x-small")
    for row in range(len(rows)):
        fig.axes[row * 3].set_ylabel("share of activities")
    return fig


#: Most points the latency-over-time scatter draws (every k-th activity beyond that).
_SCATTER_POINTS = 20_000


def latency_over_time_figure(run: RunData) -> Figure:
    """Created -> final latency against creation time, one point per activity coloured by
    its outcome (as Jepsen and Maelstrom plot it), so a slow stretch mid-run shows; still-open
    activities are drawn at their age at the end (a lower bound of their latency)."""
    fig = new_figure(1, 1, size=(10, 4.2))
    ax = fig.axes[0]
    acts = run.activities
    if len(acts) == 0:
        empty_panel(ax, "activities")
        return fig
    step = max(1, math.ceil(len(acts) / _SCATTER_POINTS))
    sub = acts.iloc[::step]
    created = sub["created_t"].to_numpy(dtype=float)
    total = sub["total"].to_numpy(dtype=float)
    state = sub["state"].to_numpy(dtype=object)
    finished = sub["finished"].to_numpy(dtype=bool)
    x = created / 60.0
    ys = []
    for outcome in sorted(TERMINAL_STATES):
        sel = finished & (state == outcome) & ~np.isnan(total)
        if sel.any():
            ax.scatter(x[sel], total[sel], s=6, color=STATE_COLOURS[outcome], alpha=0.6,
                       label=f"{outcome} ({int(sel.sum()) * step:,})", linewidths=0)  # fmt: skip
            ys.append(total[sel])
    age = run.t_end - created
    sel = ~finished
    if sel.any():
        ax.scatter(x[sel], age[sel], s=10, marker="^", color="#777777", alpha=0.7,
                   label=f"open at the end: age so far ({int(sel.sum()) * step:,})",
                   linewidths=0)  # fmt: skip
        ys.append(age[sel])
    y = np.concatenate(ys) if ys else np.empty(0)
    y = y[y > 0]
    if len(y) and y.max() / max(y.min(), 1e-3) > 100:
        ax.set_yscale("log")
    if run.warmup > 0:
        ax.axvline(run.warmup / 60.0, color="k", ls=":", lw=0.8, label="end of warm-up")
    ax.set_xlabel("created at (minutes)")
    ax.set_ylabel("created -> final (s)")
    sampled = f"; every {step}th activity" if step > 1 else ""
    ax.set_title(f"Latency over time, by outcome{sampled}", fontsize="medium")
    fig.subplots_adjust(right=0.74)  # room for the legend beside the data, not over it
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def occupancy_figure(run: RunData) -> Figure:
    """How many activities are in each state over time: open states (top), final (bottom)."""
    fig = new_figure(2, 1, size=(10, 6.5))
    occ = run.occupancy
    x = _minutes(occ.index)
    groups = (
        ("open states", [s for s in STATES if s not in TERMINAL_STATES]),
        ("final states", [s for s in STATES if s in TERMINAL_STATES]),
    )
    for ax, (title, states) in zip(fig.axes, groups, strict=True):
        cols = [s for s in states if occ[s].to_numpy().any()]
        if not cols:
            empty_panel(ax, f"activities in {title}")
            continue
        ax.stackplot(
            x,
            *(occ[s].to_numpy() for s in cols),
            labels=cols,
            colors=[STATE_COLOURS[s] for s in cols],
            step="post",
        )
        ax.set_title(f"State occupancy: {title}")
        ax.set_ylabel("activities")
        ax.legend(loc="upper left", fontsize="small")
    fig.axes[-1].set_xlabel("time (min)")
    return fig


def queue_figure(run: RunData) -> Figure:
    """Server queue depth (top) and job-handler utilisation per bin (bottom)."""
    fig = new_figure(2, 1, size=(10, 5.5))
    q = run.queue
    x = _minutes(q.index)
    ax1, ax2 = fig.axes
    waits = run.queue_waits
    if len(waits):
        steps = queue_depth_steps(waits)
        t = np.r_[steps["t"].to_numpy(), max(run.t_end, float(steps["t"].iloc[-1]))]
        d = np.r_[steps["depth"].to_numpy(), steps["depth"].iloc[-1]]
        ax1.step(t / 60, d, where="post", color="#3182bd", lw=1.0)
        w = waits["wait"].dropna()
        said = f"{len(waits)} enqueued"
        if len(w):
            said += f", wait p50 {_seconds(w.median())}, max {_seconds(w.max())}"
        if not d.any():  # every message was taken the instant it arrived: show they came
            enq = waits["enqueue_t"].to_numpy(dtype=float) / 60
            ax1.plot(enq, np.zeros(len(enq)), "|", color="#3182bd", ms=12)
            said += "; | = consumed on arrival"
        ax1.set_title(f"Queue depth, exact ({said})", fontsize="medium")
        ax1.set_ylabel("messages waiting")
        ax1.set_ylim(-0.05 * max(1, int(d.max())), 1.05 * max(1, int(d.max())))
        ax1.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        empty_panel(ax1, "server activities enqueued")
    util = q["utilisation"].to_numpy(dtype=float)
    if np.isfinite(util).any() and np.nansum(util) > 0:
        ax2.step(x, util * 100, where="post", color="#e6550d")
        ax2.set_ylim(0, 105)
        ax2.set_title(f"Job-handler utilisation (mean over {run.step:g} s bins)")
        ax2.set_ylabel("% busy")
    else:
        empty_panel(ax2, "job-handler activity")
    ax2.set_xlabel("time (min)")
    return fig


def exchange_figure(run: RunData) -> Figure:
    """Load the fleet puts on the server: exchanges (regular, urgent), deliveries, results."""
    fig = new_figure(1, 1, size=(10, 3.8))
    ax = fig.axes[0]
    ex = run.exchanges
    if not ex.to_numpy().any():
        empty_panel(ax, "message exchanges")
        return fig
    x = _minutes(ex.index)
    for col, colour in zip(ex.columns, ("#3182bd", "#de2d26", "#31a354", "#756bb1"), strict=True):
        ax.step(x, ex[col], where="post", label=col.replace("_", " "), color=colour, lw=1.2)
    ax.set_title("Exchange load on the server")
    ax.set_ylabel("per minute")
    ax.set_xlabel("time (min)")
    ax.legend(fontsize="small")
    return fig


def bulk_progress_figure(run: RunData) -> Figure:
    """Progress of watched parents over time, with their waiters' thresholds and releases."""
    progress, thresholds = run.bulk
    fig = new_figure(size=(10, 4.5))
    ax = fig.axes[0]
    if progress.empty and thresholds.empty:
        empty_panel(ax, "bulk operations or progress thresholds")
        return fig
    waiters = thresholds.groupby("parent").size().sort_values(ascending=False)
    types = dict(zip(run.groups["activity"], run.groups["type"].astype(str), strict=True))
    watched = run.activities.loc[run.activities["id"].isin(progress["parent"]), ["id", "type"]]
    types |= dict(zip(watched["id"], watched["type"].astype(str), strict=True))
    parents = list(dict.fromkeys([*waiters.index, *progress["parent"].unique()]))[:_MAX_LINES]
    for i, parent in enumerate(parents):
        colour = f"C{i}"
        p = progress.loc[progress["parent"] == parent]
        if len(p):
            label = f"{parent} {types.get(parent, '')}".strip()
            ax.step(p["t"] / 60, p["value"] * 100, where="post", color=colour, label=label)
        th = thresholds.loc[thresholds["parent"] == parent]
        for value in sorted(th["threshold"].dropna().unique()):
            ax.axhline(value * 100, color=colour, ls="--", lw=0.8)
        rel = th.loc[th["outcome"] == "released"]
        ax.plot(rel["released_t"] / 60, rel["threshold"] * 100, "o", color=colour, ms=4)
        can = th.loc[th["outcome"] == "canceled"]
        ax.plot(can["canceled_t"] / 60, can["threshold"] * 100, "x", color=colour, ms=6)
    ax.set_ylim(0, 105)
    ax.set_xlabel("time (min)")
    ax.set_ylabel("parent progress (%)")
    ax.set_title(
        "Parent progress; dashed: a waiter's threshold; o: released; x: canceled while waiting",
        fontsize="medium",
    )
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.figure.subplots_adjust(right=0.7)  # room for the legend: it must not hide data
    return fig


def ecdf_compare_figure(runs: Sequence[RunData], labels: Sequence[str] | None = None) -> Figure:
    """Overlaid ECDFs of the three latency phases, one line per run (after each warm-up)."""
    names = list(labels) if labels is not None else [r.name for r in runs]
    fig = new_figure(1, 3, size=(13, 4))
    for ax, phase in zip(fig.axes, _PHASES, strict=True):
        drawn = False
        for run, name in zip(runs, names, strict=True):
            acts = run.activities.loc[run.activities["created_t"] >= run.warmup]
            values = acts[phase].to_numpy(dtype=float)
            if not np.isnan(values).all():
                _ecdf(ax, values, name, lw=1.2)
                drawn = True
        if not drawn:
            empty_panel(ax, f"{_PHASES[phase]} latencies")
            continue
        ax.set_title(_PHASES[phase])
        ax.set_xlabel("seconds")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize="x-small")
    fig.axes[0].set_ylabel("share of activities")
    return fig


#: Report figures in section order: file stem -> function.
FIGURES: dict[str, Callable[[RunData], Figure]] = {
    name: globals()[f"{name}_figure"] for name in FIGURE_NAMES
}
