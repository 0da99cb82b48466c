"""Render the reference machines: extract a small diagram model, then draw it.

Renderers see only ``Diagram`` objects, never the machines, so each output format can be
tested with a hand-built diagram and a new format needs no knowledge of the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .machines import Profile, StateMachine, machine
from .states import Kind, State

__all__ = [
    "Diagram",
    "extract",
    "render_dot",
    "render_json",
    "render_mermaid",
    "render_png",
    "render_table",
]


@dataclass(frozen=True)
class Diagram:
    """One machine as plain data: states in spec order, their roles, and the edges."""

    kind: str
    profile: str
    states: tuple[str, ...]
    start: frozenset[str]
    final: frozenset[str]
    edges: tuple[tuple[str, str], ...]

    def targets(self, state: str) -> list[str]:
        return [d for s, d in self.edges if s == state]


def extract(sm: StateMachine) -> Diagram:
    order = list(State)
    edges = tuple((s.value, d.value) for s in order for d in order if d in sm.transitions[s])
    return Diagram(
        kind=sm.kind.value,
        profile=sm.profile.value,
        states=tuple(s.value for s in order),
        start=frozenset(s.value for s in sm.start),
        final=frozenset(s.value for s in sm.final),
        edges=edges,
    )


def diagrams(kinds: list[Kind], profile: Profile) -> list[Diagram]:
    return [extract(machine(k, profile)) for k in kinds]


def render_json(ds: list[Diagram]) -> str:
    """``{"client": {"start": [...], "final": [...], "transitions": {...}}, "server": ...}``."""
    out = {}
    for d in ds:
        out[d.kind] = {
            "start": [s for s in d.states if s in d.start],
            "final": [s for s in d.states if s in d.final],
            "transitions": {s: d.targets(s) for s in d.states},
        }
    return json.dumps(out, indent=2)


def render_table(ds: list[Diagram]) -> str:
    lines: list[str] = []
    for d in ds:
        lines.append(f"{d.kind} activities (profile {d.profile})")
        lines.append(f"  start: {', '.join(s for s in d.states if s in d.start)}")
        lines.append(f"  final: {', '.join(s for s in d.states if s in d.final)}")
        width = max(len(s) for s in d.states) + 2
        lines.append(f"  {'from':<{width}}may move to")
        for s in d.states:
            targets = d.targets(s)
            tag = " (start)" if s in d.start else ""
            lines.append(f"  {s:<{width}}{', '.join(targets) if targets else '- (final)'}{tag}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _ident(state: str) -> str:
    return state.replace(" ", "")


def render_mermaid(ds: list[Diagram]) -> str:
    parts: list[str] = []
    for d in ds:
        lines = ["stateDiagram-v2", f"    %% {d.kind} activities, profile {d.profile}"]
        for s in d.states:
            if " " in s:
                lines.append(f'    state "{s}" as {_ident(s)}')
        for s in d.states:
            if s in d.start:
                lines.append(f"    [*] --> {_ident(s)}")
        for s, t in d.edges:
            lines.append(f"    {_ident(s)} --> {_ident(t)}")
        for s in d.states:
            if s in d.final:
                lines.append(f"    {_ident(s)} --> [*]")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def render_dot(ds: list[Diagram]) -> str:
    lines = ["digraph activities {", "  rankdir=TB;", '  node [shape=box, style="rounded"];']
    for d in ds:
        lines.append(f"  subgraph cluster_{d.kind} {{")
        lines.append(f'    label="{d.kind} activities ({d.profile})";')
        for s in d.states:
            attrs = []
            if s in d.final:
                attrs.append("peripheries=2")
            if s in d.start:
                attrs.append('style="rounded,bold"')
            extra = (", " + ", ".join(attrs)) if attrs else ""
            lines.append(f'    "{d.kind}:{s}" [label="{s}"{extra}];')
        for s, t in d.edges:
            lines.append(f'    "{d.kind}:{s}" -> "{d.kind}:{t}";')
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


# Hand-placed positions read better than any automatic layout for eight fixed states:
# start states on top, In Progress in the middle, outcomes below, Canceled off to the side
# so that no edge runs through a box.
_POS = {
    "Blocked": (-3.3, 2.0),
    "Waiting": (-1.1, 2.0),
    "Queued": (1.1, 2.0),
    "Scheduled": (3.3, 2.0),
    "In Progress": (-0.9, 0.4),
    "Canceled": (2.9, 0.0),
    "Succeeded": (-2.6, -1.3),
    "Failed": (0.7, -1.3),
}


def _curvature(src: tuple[float, float], dst: tuple[float, float]) -> float:
    """Bend same-row edges (more when they skip a box) so they clear the boxes between."""
    if abs(src[1] - dst[1]) > 1e-9:
        return 0.12
    return 0.45 if abs(src[0] - dst[0]) > 2.5 else 0.2


def render_png(ds: list[Diagram], path: str | Path) -> Path:
    """Draw each diagram side by side with matplotlib (no system graphviz needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, axes = plt.subplots(1, len(ds), figsize=(8.5 * len(ds), 7), squeeze=False)
    for ax, d in zip(axes[0], ds, strict=True):
        ax.set_title(f"{d.kind} activities  (profile {d.profile})", fontsize=13)
        ax.set_xlim(-4.4, 4.4)
        ax.set_ylim(-2.1, 3.0)
        ax.axis("off")
        boxes = {}
        for s in d.states:
            x, y = _POS[s]
            color = "#d8e8f8" if s in d.start else "#e6f4e0" if s in d.final else "#fdf0d5"
            boxes[s] = ax.add_patch(
                FancyBboxPatch(
                    (x - 0.62, y - 0.22),
                    1.24,
                    0.44,
                    boxstyle="round,pad=0.05",
                    fc=color,
                    ec="#333",
                    lw=2.6 if s in d.final else 1.2,
                    zorder=3,
                )
            )
            ax.text(x, y, s, ha="center", va="center", fontsize=11, zorder=4)
        for s, t in d.edges:
            ax.add_patch(
                FancyArrowPatch(
                    _POS[s],
                    _POS[t],
                    patchA=boxes[s],
                    patchB=boxes[t],
                    connectionstyle=f"arc3,rad={_curvature(_POS[s], _POS[t])}",
                    arrowstyle="-|>",
                    mutation_scale=18,
                    lw=1.2,
                    color="#3a3a3a",
                    shrinkA=2,
                    shrinkB=2,
                    zorder=2,
                )
            )
        ax.text(
            -4.3,
            -2.0,
            "blue: start states   green (thick border): final states   orange: neither",
            fontsize=9,
            color="#555",
        )
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
