"""Write the report files of one run (the comparison of several: ``compare``).

``write_report`` produces one self-contained ``report.html`` (figures inlined as base64 PNG,
no scripts, no network) and, in a folder beside it named after it (``report/`` for
``report.html``), every figure as PNG and every table as CSV, plus the dependency graph as
GraphML and DOT. The HTML is built from a ``RunData`` only: extract, then render; this
module says what each section shows, ``_page`` assembles the page.
"""

from __future__ import annotations

import html
import json
import math
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._page import TABLE_ROWS, Page, document
from .graph import GRAPH_DRAW_LIMIT, write_dot, write_graphml
from .render import shown_figures
from .run import RunData, as_run

if TYPE_CHECKING:
    from .render import FigurePool

__all__ = ["EXPORT_LIMIT", "SECTIONS", "TABLE_ROWS", "write_report"]

#: Section headings of report.html, in order (tests check every one is present).
SECTIONS: tuple[str, ...] = (
    "Headline",
    "Key figures",
    "Throughput",
    "Latency",
    "State occupancy",
    "Queue and job-handlers",
    "Exchange load",
    "Dependency graph",
    "Bulk operations",
    "Unfinished and stuck activities",
    "Conformance violations",
    "Findings",
    "Effective scenario",
)
#: Above this many nodes the GraphML/DOT export is the by-type summary, not every activity.
EXPORT_LIMIT = 50_000
#: Above this many activities the activity table is written as Parquet instead of CSV.
ACTIVITY_CSV_LIMIT = 100_000


def _default_out(run: RunData) -> Path:
    if run.path.is_dir():
        return run.path / "report.html"
    return run.path.parent / f"{run.path.name.split('.')[0]}.report.html"


def _conformance(run: RunData) -> tuple[pd.DataFrame, str]:
    """Violations from ``activitykit.check`` on the run's trace, and the verdict; for a
    trace already judged record by record (``RunData.checked``), that judgement."""
    if run.checked is not None:
        from ..check.report import VIOLATION_COLUMNS

        none = pd.DataFrame({c: pd.Series(dtype=object) for c in VIOLATION_COLUMNS})
        return none, f"Checked with profile {run.profile}: conformant ({run.checked}, online)."
    from ..check import check

    source = run.trace_path if run.trace_path is not None else run.trace
    report = check(source, profile=run.profile)
    verdict = "conformant" if len(report.violations) == 0 else "NOT conformant"
    return report.violations, f"Checked with profile {run.profile}: {verdict}."


def _scenario_text(run: RunData) -> str | None:
    if run.scenario is None:
        return None
    import yaml

    return yaml.safe_dump(run.scenario, sort_keys=False, allow_unicode=True)


def write_report(
    run_dir: RunData | str | PathLike[str],
    out: str | PathLike[str] | None = None,
    *,
    check: bool = True,
    figures: FigurePool | None = None,
) -> Path:
    """Write ``report.html`` for a run directory or trace (or a loaded ``RunData``).

    ``out``: the HTML path (default: ``RUN_DIR/report.html``, or ``NAME.report.html`` beside
    a bare trace). Figures, CSV tables, GraphML and DOT go into a folder next to it with the
    same stem. ``check``: run the conformance checker for the violations section.
    ``figures``: worker processes that draw the figures while this one writes the rest
    (``render.FigurePool``; without, they are drawn here). Returns the HTML path.
    """
    run = as_run(run_dir)
    html_path = Path(out) if out is not None else _default_out(run)
    assets = html_path.with_suffix("")
    assets.mkdir(parents=True, exist_ok=True)
    page = Page(assets, [], run, figures)
    page.prefetch()
    title = f"activitykit report: {run.name}"
    n = len(run.activities)

    _headline_section(run, page)

    page.heading("Key figures")
    page.text(
        f"{n} activities, {len(run.trace)} records, t from 0 to {run.t_end:g} s; "
        f"warm-up {run.warmup:g} s; time series in {run.step:g} s bins. "
        "Definitions: docs/reports.md."
    )
    page.key_figures(run.key_figures, _lower_bounds(run.measures))

    page.heading("Throughput")
    page.figure("throughput")
    page.table("throughput_by_kind", run.throughput("kind"), index=True, note="per minute")
    run.throughput("type").to_csv(assets / "throughput_by_type.csv")

    page.heading("Latency")
    page.figure("latency")
    page.figure("latency_over_time")
    page.table("latency_by_kind", run.latency_table("kind"), note="seconds, after warm-up")
    page.table("latency_by_type", run.latency_table("type"))

    page.heading("State occupancy")
    page.figure("occupancy")
    run.occupancy.to_csv(assets / "occupancy.csv")

    page.heading("Queue and job-handlers")
    page.figure("queue")
    run.queue.to_csv(assets / "queue.csv")

    page.heading("Exchange load")
    _load_section(run, page)
    page.figure("exchange")
    page.text(
        "The figure shows traced exchanges only: those that delivered or returned work. "
        "Idle exchanges are counted, not traced; the table above has them all."
    )
    run.exchanges.to_csv(assets / "exchange.csv")

    shown = shown_figures(run)
    page.heading("Dependency graph")
    if "graph" in shown:
        page.figure("graph")
        _graph_section(run, page)
    else:
        page.text(
            "No activity in this run depends on another, waits on a parent's progress or "
            "belongs to a bulk operation: the graph has no edges, so it is neither drawn nor "
            "exported (activities.csv lists every activity)."
        )

    page.heading("Bulk operations")
    progress, thresholds = run.bulk
    progress.to_csv(assets / "bulk_progress.csv", index=False)
    if "bulk_progress" in shown:
        page.figure("bulk_progress")
        page.table("bulk_thresholds", thresholds, note="activities waiting on a parent's progress")
    else:
        thresholds.to_csv(assets / "bulk_thresholds.csv", index=False)
        page.text("No bulk operation and no progress threshold in this run.")

    page.heading("Unfinished and stuck activities")
    unf = run.unfinished
    page.table(
        "unfinished",
        unf,
        note=f"{len(unf)} unfinished, {int(unf['stuck'].sum())} stuck (In Progress for "
        f"{run.stuck_after:g} s or more)",
    )

    page.heading("Conformance violations")
    if check:
        violations, verdict = _conformance(run)
        page.text(verdict)
        page.table("violations", violations)
    else:
        page.text("Not checked (report written with check=False).")

    page.heading("Findings")
    _findings_section(run, page)

    page.heading("Effective scenario")
    text = _scenario_text(run)
    if text is None:
        page.text("No scenario: this report was made from a bare trace.")
    else:
        (assets / "scenario.effective.yaml").write_text(text, encoding="utf-8")
        page.parts.append(f"<pre>{html.escape(text)}</pre>")

    _write_activities(run.activities, assets)
    page.finish()
    html_path.write_text(document(title, page.parts, SECTIONS), encoding="utf-8")
    return html_path


def _lower_bounds(measured: dict[str, Any]) -> set[str]:
    """Key figure names whose value is only a lower bound (``metrics.phase_stats``)."""
    return {
        f"{scope}.{phase}.{stat}"
        for scope, phases in measured["latency"].items()
        for phase, st in phases.items()
        for stat in st.get("lower_bounds", ())
    }


def _headline_section(run: RunData, page: Page) -> None:
    """The question, the verdict and the headline figures (summary.json ``headline``)."""
    page.heading("Headline")
    head = run.summary.get("headline")
    if not head:
        page.text("Made from a bare trace: no scenario, so no question, objectives or verdict.")
        return
    if head["question"]:
        page.parts.append(f'<p class="question">{html.escape(head["question"])}</p>')
    cls = "verdict ok" if head["met"] else "verdict bad"
    page.parts.append(f'<p class="{cls}">{html.escape(head["verdict"])}</p>')
    rows = []
    for f in head["figures"]:
        met = "" if f["met"] is None else ("met" if f["met"] else "NOT met")
        rows.append(
            '<tr><td>{}</td><td class="big">{}</td><td>{}</td><td>{}</td></tr>'.format(
                html.escape(f["name"]),
                html.escape(f["text"]),
                html.escape(f["objective"] or ""),
                met,
            )
        )
    page.parts.append(
        '<table class="headline"><tr><th>figure</th><th>value</th><th>objective</th>'
        "<th></th></tr>" + "".join(rows) + "</table>"
    )
    pd.DataFrame(head["figures"]).to_csv(page.assets / "headline.csv", index=False)


def _load_section(run: RunData, page: Page) -> None:
    """Counted exchanges and pings (summary.json ``load``), per minute and per second."""
    load = run.summary.get("load")
    if not load:
        page.text(
            "Made from a bare trace: the simulator's exchange and ping counters are "
            "in summary.json only."
        )
        return
    xpm = load["exchanges_per_minute"]
    rows = [
        (f"{kind} exchanges", load["exchanges"][kind], xpm[kind], xpm[kind] / 60)
        for kind in ("urgent", "regular")
        if load["exchanges"][kind] is not None  # a live server cannot tell them apart
    ]
    rows.append(
        (
            "all exchanges = message-system requests",
            load["exchanges"]["total"],
            xpm["total"],
            load["server"]["message_system_requests_per_s"],
        )
    )
    rows.append(("pings", load["pings"], load["pings_per_minute"], load["server"]["pings_per_s"]))
    table = pd.DataFrame(rows, columns=["what", "count", "per minute", "per second"])
    who = "the emulated server" if "live" in run.summary else "the simulator"
    split = (
        ""
        if load["exchanges"]["urgent"] is not None
        else (" A live server answers requests and cannot tell urgent exchanges from regular ones.")
    )
    page.table("load", table, note=f"counted by {who} over 0 to {load['window'][1]:g} s.{split}")
    groups = pd.DataFrame.from_dict(load["by_group"], orient="index")
    groups.index.name = "group"
    by_group = run.summary.get("latency_by_group") or {}
    for phase in ("to_start", "total"):
        groups[f"{phase} p90 (s)"] = [
            (by_group.get(g, {}).get(phase) or {}).get("p90") for g in groups.index
        ]
    page.table(
        "load_by_group",
        groups.rename(columns=lambda c: c.replace("_", " ")),
        index=True,
        note=(load["by_group_note"] or f"Counted by {who}; nominal: computers / interval.")
        + " Latencies: client activities created after warm-up.",
    )


def _findings_section(run: RunData, page: Page) -> None:
    """What real clients did that the spec's model does not expect: summary.json's
    ``live.findings`` (written by ``activitykit.live.findings``), shown as it is."""
    findings = (run.summary.get("live") or {}).get("findings")
    if findings is None:
        page.text(
            "Not a live run: findings are what real Landscape Clients did that the model "
            "does not expect (activitykit live)."
        )
        return
    items = findings.get("items") or []
    page.text(
        "What the real clients did that the spec's model does not expect (docs/live.md, "
        "Findings)" + ("" if items else ": nothing this run.")
    )
    if items:
        page.parts.append(
            "<ul>" + "".join(f"<li>{html.escape(str(i))}</li>" for i in items) + "</ul>"
        )
    dup = findings.get("duplicate_pings") or {}
    busy = findings.get("busy_retries") or {}
    steady = busy.get("computers_without_backoff") or []
    held = findings.get("held_results") or {}
    counts = pd.DataFrame(
        [
            ("pings", findings.get("pings")),
            ("duplicate pings", dup.get("count")),
            ("busy answers to exchanges", busy.get("busy_answers")),
            (
                "computers retrying without back-off",
                len(steady),
            ),
            ("median gap between busy retries (s)", busy.get("median_gap_s")),
            ("results held during an exchange", held.get("count")),
            ("results", held.get("of")),
        ],
        columns=["what", "count"],
    )
    page.table("findings", counts)
    by_computer = dup.get("by_computer") or {}
    if by_computer:
        page.table(
            "duplicate_pings",
            pd.DataFrame(sorted(by_computer.items()), columns=["computer", "duplicate pings"]),
        )
    if held.get("examples"):
        page.table("held_results", pd.DataFrame(held["examples"]), note="results held (first ones)")


def _graph_section(run: RunData, page: Page) -> None:
    path = run.critical_path
    if path:
        cp = run.critical_path_table()
        length = cp["final_t"].iloc[-1] - cp["created_t"].iloc[0]
        note = f"critical path: {len(path)} nodes, {length:g} s from first creation to last end"
        page.table("critical_path", cp, note=note)
    else:
        page.text("No critical path: no chain of dependent activities ended in this run.")
    n = len(run.activities) + len(run.groups)
    if n <= EXPORT_LIMIT:
        g = run.graph
        kind = "every activity"
    else:
        g = run.type_summary
        path = []
        kind = "the graph summarised by activity type"
    write_graphml(g, page.assets / "graph.graphml")
    write_dot(g, page.assets / "graph.dot", highlight=path)
    drawn = "drawn" if n <= GRAPH_DRAW_LIMIT else "summarised by type in the picture"
    page.text(
        f"{n} nodes ({drawn}); graph.graphml and graph.dot hold {kind}. Edges point from what "
        "is waited on to what waits (depends_on solid, progress_of dashed, parent dotted)."
    )


def _write_activities(activities: pd.DataFrame, assets: Path) -> None:
    """The activity table as CSV (Parquet above ``ACTIVITY_CSV_LIMIT`` rows).

    The CSV is written by pyarrow (a seventh of pandas' time for 50,000 activities) with
    ``depends_on`` as a JSON list, as list fields are in a CSV trace.
    """
    import pyarrow as pa

    def listed(d: Any) -> list[str] | None:
        return None if d is None or (isinstance(d, float) and math.isnan(d)) else list(d)

    if len(activities) <= ACTIVITY_CSV_LIMIT:
        import pyarrow.csv as pcsv

        # most activities depend on nothing: only the lists are turned into JSON
        deps = activities["depends_on"]
        has = deps.notna().to_numpy()
        text = pd.Series(None, index=deps.index, dtype=object)
        text[has] = [json.dumps(list(d)) for d in deps[has]]
        flat = activities.assign(depends_on=text)
        pcsv.write_csv(pa.Table.from_pandas(flat, preserve_index=False), assets / "activities.csv")
    else:
        flat = activities.assign(depends_on=activities["depends_on"].map(listed))
        flat.to_parquet(assets / "activities.parquet", index=False)
