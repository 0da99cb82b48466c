"""``activitykit run``: simulate one scenario file and write its run directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from ._options import add_set_option, seed_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="simulate a scenario file; write trace, summary and report",
        description=(
            "Simulate SCENARIO and write into DIR (default runs/<scenario>-<seed>/): the trace, "
            "scenario.effective.yaml, summary.json and report.html. Exit 0 when the run is "
            "conformant, 1 when the online checker found violations, 2 on bad input."
        ),
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML, docs/scenarios.md)")
    p.add_argument(
        "--seed", type=seed_arg, metavar="N", help="random seed (default: the scenario's)"
    )
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<scenario>-<seed>)")
    add_set_option(p, "--set duration=3600 --set fleet.groups.0.computers=250")
    p.add_argument(
        "--trace-format",
        choices=("parquet", "jsonl"),
        help="trace file format (default: the scenario's output.trace_format)",
    )
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar and no summary table"
    )
    from ..experiments.cli_args import add_replication_args

    add_replication_args(p)  # --replications N [--workers K] [--scheduler ADDRESS]
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..runner import default_out_dir, run_scenario
    from ..scenario import load_scenario
    from ._paths import out_dir

    scenario = load_scenario(args.scenario, args.overrides)
    if args.replications is not None:
        from ..experiments.cli_args import run_replications_from_args

        return run_replications_from_args(args, scenario)
    seed = scenario.seed if args.seed is None else args.seed
    out = out_dir(
        args.out,
        default_out_dir(args.scenario, seed),
        default_from="the scenario file's name and the seed",
    )
    result = run_scenario(
        scenario,
        out,
        seed=seed,
        trace_format=args.trace_format,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    if not args.quiet:
        sys.stdout.write(summary_table(result.summary))
        written = [p.name for p in (result.trace_path, result.report_path) if p is not None]
        files = ["scenario.effective.yaml", *written, "summary.json", "manifest.json"]
        print(f"\nwrote {result.out_dir}/ ({', '.join(files)})")
    if isinstance(result.error, InputError):
        raise result.error  # a setting only the simulation found wrong: exit 2, no traceback
    if result.failed and result.error is not None and not result.summary["violations"]["count"]:
        print(f"activitykit run: the simulation failed: {result.summary['error']}", file=sys.stderr)
    elif not result.conformant:
        print(
            f"activitykit run: {result.summary['violations']['count']} violation(s); "
            f"see {out / 'summary.json'} or: activitykit check {result.trace_path}",
            file=sys.stderr,
        )
    return result.exit_code


def _fmt(value: Any, unit: str = "s") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}" if unit else f"{value:,.2f}"
    return f"{value:,}"


def _latency_row(label: str, phase: str, st: Mapping[str, Any]) -> str:
    """One latency line: covered and open counts, percentiles (">= x" for lower bounds)."""
    from ..reports.names import bound_text

    pct = "".join(f"{bound_text(dict(st), k) + 's':>12}" for k in ("p50", "p90", "p99"))
    return (
        f"{label:<12.12}{phase:<10}{st['count']:>9,}{st.get('open', 0):>7,}{pct}"
        f"{_fmt(st['max']):>11}"
    )


def headline_lines(summary: Mapping[str, Any]) -> list[str]:
    """The question, the verdict and the headline figures (summary.json ``headline``)."""
    import textwrap

    head = summary["headline"]
    lines = textwrap.wrap(head["question"], 92) if head["question"] else []
    lines += textwrap.wrap("=> " + head["verdict"], 92, subsequent_indent="   ")
    width = max((len(f["name"]) for f in head["figures"]), default=0)
    for f in head["figures"]:
        goal = (
            f"   objective {f['objective']}: {'met' if f['met'] else 'NOT met'}"
            if (f["objective"])
            else ""
        )
        lines.append(f"  {f['name']:<{width}}  {f['text']:>16}{goal}")
    return lines


def summary_table(summary: Mapping[str, Any]) -> str:
    """A short human summary of ``summary.json`` (what ``activitykit run`` prints)."""
    from ..model import State
    from ..reports.names import LATENCY_PHASES

    order = tuple(s.value for s in State)
    acts = summary["activities"]
    lines = [*headline_lines(summary), ""] if summary.get("headline") else []
    lines += [
        f"scenario {summary['scenario']!r}  seed {summary['seed']}  "
        f"simulated {_fmt(summary['end_t'])}  wall {_fmt(summary['wall_seconds'])}  "
        f"events {summary['events_processed']:,}  records {summary['records']['total']:,}",
        "",
        f"{'activities':<12}{'total':>9}  " + "  ".join(f"{s:>11}" for s in order),
    ]
    for kind, states in [("all", acts["by_state"]), *acts["by_kind"].items()]:
        total = sum(states.values())
        lines.append(
            f"{kind:<12}{total:>9,}  " + "  ".join(f"{states.get(s, 0):>11,}" for s in order)
        )
    lines += [
        "",
        f"{'latency':<12}{'phase':<10}{'n':>9}{'open':>7}{'p50':>12}{'p90':>12}{'p99':>12}"
        f"{'max':>11}",
    ]
    for scope in ("client", "server"):
        for phase in LATENCY_PHASES:
            st = summary["latency"][scope][phase]
            if st["count"] or st.get("open"):
                lines.append(_latency_row(scope, phase, st))
    for group, phases in summary.get("latency_by_group", {}).items():
        st = phases["total"]
        if st["count"] or st.get("open"):
            lines.append(_latency_row("g:" + group, "total", st))
    thr = summary["throughput"]["all"]["finished_per_hour"]
    lines += [
        "",
        f"throughput {_fmt(thr, '')}/h   unfinished {summary['unfinished']['count']:,}   "
        f"stuck {summary['stuck']['count']:,}   violations {summary['violations']['count']:,}",
    ]
    if any(
        summary["latency"][scope][phase].get("lower_bounds")
        for scope in ("client", "server")
        for phase in LATENCY_PHASES
    ):
        lines.append(
            "(>= x: activities still open at the end leave that percentile unknown; at least x)"
        )
    if summary["violations"]["count"]:
        lines += ["", "first violations:", *(f"  {v}" for v in summary["violations"]["first"][:5])]
    return "\n".join(lines) + "\n"
