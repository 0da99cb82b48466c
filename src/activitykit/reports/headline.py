"""The headline of a run: the scenario's question, the verdict and the figures that answer it.

Computed once, into summary.json (``headline``), from the summary's own numbers; report.html
and the terminal summary only render it. The verdict combines conformance with the
scenario's ``headline.objectives``. An objective judged on a percentile the data can only
bound from below (activities still open, see ``metrics.phase_stats``) counts as met only
when the bound alone decides it (an ``at_least`` it already reaches); otherwise it is
"cannot tell", which is not met.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .names import HEADLINE_FIGURES, figure_unit

if TYPE_CHECKING:
    from ..scenario import Scenario

__all__ = ["DEFAULT_FIGURES", "format_figure", "headline"]

#: Shown when a scenario names no headline figures.
DEFAULT_FIGURES: tuple[str, ...] = ("all.total.p90", "all.throughput_per_hour", "all.unfinished")
_MAX_FIGURES = 5


def _lookup(summary: Mapping[str, Any], name: str) -> tuple[float | None, bool]:
    """The figure's value in the summary and whether it is only a lower bound."""
    value: Any = summary
    parent: Any = None
    for key in HEADLINE_FIGURES[name]:
        parent = value
        value = value.get(key) if isinstance(value, Mapping) else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, False
    lower = isinstance(parent, Mapping) and HEADLINE_FIGURES[name][-1] in parent.get(
        "lower_bounds", ()
    )
    return float(value), bool(lower)


def format_figure(value: float | None, unit: str, *, lower_bound: bool = False) -> str:
    """A figure with its unit and no false precision: ``1,234 s``, ``12.5 /min``, ``>= 300 s``."""
    if value is None:
        return "n/a"
    if unit == "%":
        value *= 100.0
    if value == int(value) or abs(value) >= 100:
        text = f"{value:,.0f}"
    else:
        text = f"{value:.1f}" if abs(value) >= 1 else f"{value:.3g}"
    sep = "" if unit in ("%", "") else " "
    text = f"{text}{sep}{unit}"
    if unit == "s" and abs(value) >= 3600:
        text += f" ({value / 3600:.1f} h)"
    return (">= " if lower_bound else "") + text


def headline(scenario: Scenario, summary: Mapping[str, Any]) -> dict[str, Any]:
    """``question``, ``verdict`` (one sentence), ``met`` (all objectives met and
    conformant) and ``figures`` (name, value, unit, lower_bound, text, objective, met)."""
    spec = scenario.headline
    objectives = {o.figure: o for o in spec.objectives}
    names = list(dict.fromkeys([*objectives, *(spec.figures or DEFAULT_FIGURES)]))
    figures = []
    missed: list[str] = []
    for name in names[:_MAX_FIGURES]:
        value, lower = _lookup(summary, name)
        unit = figure_unit(name)
        row: dict[str, Any] = {
            "name": name,
            "value": value,
            "unit": unit,
            "lower_bound": lower,
            "text": format_figure(value, unit, lower_bound=lower),
            "objective": None,
            "met": None,
        }
        if (o := objectives.get(name)) is not None:
            limit = o.at_most if o.at_most is not None else o.at_least
            assert limit is not None  # the schema asks for exactly one
            op = "<=" if o.at_most is not None else ">="
            if value is None:
                met = False
            elif op == "<=":
                met = not lower and value <= limit
            else:
                met = value >= limit
            row["objective"] = f"{op} {format_figure(limit, unit)}"
            row["met"] = met
            if not met:
                why = "; cannot tell: only a lower bound" if lower and value is not None else ""
                missed.append(f"{name} {row['text']} (objective {row['objective']}{why})")
        figures.append(row)
    violations = int(summary["violations"]["count"])
    open_count = int(summary["unfinished"]["count"])
    parts = []
    if objectives:
        parts.append(
            f"all {len(objectives)} objective(s) met"
            if not missed
            else "objective not met: " + "; ".join(missed)
        )
    parts.append("conformant" if not violations else f"NOT conformant ({violations:,} violations)")
    if open_count:
        parts.append(f"{open_count:,} activities still open at the end")
    verdict = "; ".join(parts)
    return {
        "question": scenario.question or scenario.description,
        "verdict": verdict[0].upper() + verdict[1:] + ".",
        "met": not missed and not violations,
        "figures": figures,
    }
