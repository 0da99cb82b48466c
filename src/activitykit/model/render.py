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
    "EdgeGeometry",
    "edge_geometry",
    "extract",
    "figure",
    "render_dot",
    "render_json",
    "render_mermaid",
    "render_png",
    "render_table",
]


@dataclass(frozen=True)
class Diagram:
    """One machine as plain data: states in spec order, their roles, the edges and what
    triggers each (``triggers[i]`` labels ``edges[i]``; empty when unknown)."""

    kind: str
    profile: str
    states: tuple[str, ...]
    start: frozenset[str]
    final: frozenset[str]
    edges: tuple[tuple[str, str], ...]
    triggers: tuple[str, ...] = ()

    def targets(self, state: str) -> list[str]:
        return [d for s, d in self.edges if s == state]

    def trigger(self, src: str, dst: str) -> str:
        """What makes ``src -> dst`` happen ("" when the diagram does not say)."""
        for (s, d), label in zip(self.edges, self.triggers, strict=False):
            if (s, d) == (src, dst):
                return label
        return ""

    def role(self, state: str) -> str:
        """``start``, ``final`` or ``""``: the one word the table and the picture show."""
        return "start" if state in self.start else "final" if state in self.final else ""


def extract(sm: StateMachine) -> Diagram:
    order = list(State)
    moves = [(s, d) for s in order for d in order if d in sm.transitions[s]]
    return Diagram(
        kind=sm.kind.value,
        profile=sm.profile.value,
        states=tuple(s.value for s in order),
        start=frozenset(s.value for s in sm.start),
        final=frozenset(s.value for s in sm.final),
        edges=tuple((s.value, d.value) for s, d in moves),
        triggers=tuple(sm.triggers.get(m, "") for m in moves),
    )


def diagrams(kinds: list[Kind], profile: Profile) -> list[Diagram]:
    return [extract(machine(k, profile)) for k in kinds]


def render_json(ds: list[Diagram]) -> str:
    """``{"client": {"start": [...], "final": [...], "transitions": {...}, "triggers":
    {"Queued": {"In Progress": "deliver", ...}, ...}}, "server": ...}``."""
    out = {}
    for d in ds:
        out[d.kind] = {
            "start": [s for s in d.states if s in d.start],
            "final": [s for s in d.states if s in d.final],
            "transitions": {s: d.targets(s) for s in d.states},
            "triggers": {s: {t: d.trigger(s, t) for t in d.targets(s)} for s in d.states},
        }
    return json.dumps(out, indent=2)


def render_table(ds: list[Diagram]) -> str:
    """One row per move: the state it leaves (with its role in its own column, so "start"
    can only be read as a property of that state), the state it enters, and its trigger."""
    lines: list[str] = []
    for d in ds:
        lines.append(f"{d.kind} activities (profile {d.profile})")
        lines.append(f"  start states: {', '.join(s for s in d.states if s in d.start)}")
        lines.append(f"  final states: {', '.join(s for s in d.states if s in d.final)}")
        w = max(len(s) for s in d.states) + 2
        lines.append(f"  {'state':<{w}}{'role':<7}{'may move to':<{w}}on")
        for s in d.states:
            targets = d.targets(s) or ["-"]
            for i, t in enumerate(targets):
                head = f"{s:<{w}}{d.role(s):<7}" if i == 0 else " " * (w + 7)
                lines.append(f"  {head}{t:<{w}}{d.trigger(s, t)}".rstrip())
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
            label = d.trigger(s, t)
            lines.append(f"    {_ident(s)} --> {_ident(t)}" + (f" : {label}" if label else ""))
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
            label = d.trigger(s, t)
            extra = f' [label="{label}"]' if label else ""
            lines.append(f'    "{d.kind}:{s}" -> "{d.kind}:{t}"{extra};')
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


# Hand-placed positions read better than any automatic layout for eight fixed states:
# start states on top (Blocked between Waiting and Queued, its neighbours both ways, so only
# Waiting -> Queued skips a box), In Progress in the middle, outcomes below, Canceled off
# to the side so that no edge runs through a box.
_POS: dict[str, tuple[float, float]] = {
    "Waiting": (-4.5, 2.4),
    "Blocked": (-1.5, 2.4),
    "Queued": (1.5, 2.4),
    "Scheduled": (4.5, 2.4),
    "In Progress": (-1.5, 0.3),
    "Canceled": (3.2, 0.3),
    "Succeeded": (-3.4, -1.7),
    "Failed": (0.9, -1.7),
}
_HALF_W, _HALF_H = 0.75, 0.27  # half the size of a state's box


@dataclass(frozen=True)
class EdgeGeometry:
    """Where one arrow of ``render_png`` leaves and enters its boxes, and its label."""

    src: str
    dst: str
    tail: tuple[float, float]
    head: tuple[float, float]
    rad: float
    label: str
    label_at: tuple[float, float]


def _curvature(src: str, dst: str, edges: set[tuple[str, str]]) -> float:
    """Bend an edge that skips a box on its row over it, and a pair of opposite edges
    apart; other edges are straight."""
    (x1, y1), (x2, y2) = _POS[src], _POS[dst]
    between = [
        s for s, (x, y) in _POS.items() if abs(y - y1) < 1e-9 and min(x1, x2) < x < max(x1, x2)
    ]
    if abs(y1 - y2) < 1e-9 and between:
        return 0.3 if x2 < x1 else -0.3  # always over the top
    return 0.2 if (dst, src) in edges else 0.0


def _side(centre: tuple[float, float], other: tuple[float, float], rad: float, out: bool) -> str:
    dx, dy = other[0] - centre[0], other[1] - centre[1]
    if abs(dy) < 1e-9 and rad:  # a bent same-row edge leaves on the side it bulges to
        # arc3 puts the control point at mid + rad * (dy, -dx) of the tail -> head vector.
        bulge = -rad * (dx if out else -dx)
        return "top" if bulge > 0 else "bottom"
    if abs(dx) / _HALF_W > abs(dy) / _HALF_H:
        return "right" if dx > 0 else "left"
    return "top" if dy > 0 else "bottom"


def edge_geometry(d: Diagram) -> list[EdgeGeometry]:
    """Arrow end points for ``d``: every arrow gets its own port on each box's side, spread
    evenly and ordered by where the arrow goes, so no arrowhead lands on another arrow's
    tail and no two arrows share an end point."""
    rads = [_curvature(s, t, set(d.edges)) for s, t in d.edges]
    ports: dict[tuple[str, str], list[tuple[float, int, bool]]] = {}
    for i, ((s, t), rad) in enumerate(zip(d.edges, rads, strict=True)):
        for box, other, out in ((s, t, True), (t, s, False)):
            side = _side(_POS[box], _POS[other], rad, out)
            along = _POS[other][0] if side in ("top", "bottom") else _POS[other][1]
            ports.setdefault((box, side), []).append((along, i, out))
    ends: dict[tuple[int, bool], tuple[float, float]] = {}
    for (box, side), items in ports.items():
        x, y = _POS[box]
        items.sort()
        n = len(items)
        for k, (_, i, out) in enumerate(items):
            f = (k + 1) / (n + 1) * 2 - 1  # -1 .. 1 along the side, ends kept free
            if side in ("top", "bottom"):
                ends[i, out] = (x + f * _HALF_W * 0.9, y + (_HALF_H if side == "top" else -_HALF_H))
            else:
                ends[i, out] = (
                    x + (_HALF_W if side == "right" else -_HALF_W),
                    y + f * _HALF_H * 0.9,
                )
    placed: list[tuple[float, float, float, float]] = [
        (x - _HALF_W, y - _HALF_H, x + _HALF_W, y + _HALF_H) for x, y in _POS.values()
    ]
    out_list = []
    order = sorted(range(len(d.edges)), key=lambda i: _dist(ends[i, True], ends[i, False]))
    for i in order:
        (s, t), rad = d.edges[i], rads[i]
        (x1, y1), (x2, y2) = ends[i, True], ends[i, False]
        cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)
        label = d.trigger(s, t)
        best = None
        for u in (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78):  # along the curve, middle first
            px = (1 - u) ** 2 * x1 + 2 * u * (1 - u) * cx + u**2 * x2
            py = (1 - u) ** 2 * y1 + 2 * u * (1 - u) * cy + u**2 * y2
            box = _label_box(px, py, label)
            hit = sum(_overlap(box, b) for b in placed)
            if best is None or hit < best[0]:
                best = (hit, (px, py), box)
            if hit == 0:
                break
        assert best is not None
        placed.append(best[2])
        out_list.append(EdgeGeometry(s, t, (x1, y1), (x2, y2), rad, label, best[1]))
    return sorted(out_list, key=lambda e: d.edges.index((e.src, e.dst)))


def wrap_label(label: str) -> str:
    """A trigger as drawn: a parenthesised qualifier on its own line, to keep labels short."""
    return label.replace(" (", "\n(")


def _label_box(x: float, y: float, label: str) -> tuple[float, float, float, float]:
    # Text size in axis units at the figure's scale (7 pt type, about 0.06 units a char).
    lines = wrap_label(label).split("\n")
    w = 0.065 * max(len(ln) for ln in lines) + 0.1
    h = 0.17 * len(lines) + 0.06
    return (x - w / 2, y - h / 2, x + w / 2, y + h / 2)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    dx = min(a[2], b[2]) - max(a[0], b[0])
    dy = min(a[3], b[3]) - max(a[1], b[1])
    return dx * dy if dx > 0 and dy > 0 else 0.0


def _dist(p: tuple[float, float], q: tuple[float, float]) -> float:
    return ((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2) ** 0.5


def figure(ds: list[Diagram]):  # -> matplotlib.figure.Figure (imported lazily)
    """The diagrams side by side as a matplotlib Figure (no pyplot, no system graphviz)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig = Figure(figsize=(9.5 * len(ds), 6.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(ds), squeeze=False)
    for ax, d in zip(axes[0], ds, strict=True):
        ax.set_title(f"{d.kind} activities  (profile {d.profile})", fontsize=13)
        ax.set_xlim(-5.4, 5.4)
        ax.set_ylim(-2.4, 3.7)
        ax.set_aspect("equal")  # arc3 bends in display space: keep it the data's shape
        ax.axis("off")
        for s in d.states:
            x, y = _POS[s]
            role = d.role(s)
            color = {"start": "#d8e8f8", "final": "#e6f4e0"}.get(role, "#fdf0d5")
            ax.add_patch(
                FancyBboxPatch(
                    (x - _HALF_W + 0.05, y - _HALF_H + 0.05), 2 * _HALF_W - 0.1,
                    2 * _HALF_H - 0.1, boxstyle="round,pad=0.05", fc=color, ec="#333",
                    lw=2.6 if role == "final" else 1.2, zorder=3,
                )
            )  # fmt: skip
            ax.text(
                x, y + (0.05 if role else 0), s, ha="center", va="center", fontsize=11, zorder=4
            )
            if role:
                ax.text(
                    x, y - 0.15, role, ha="center", va="center", fontsize=7, color="#555", zorder=4
                )
        for e in edge_geometry(d):
            ax.add_patch(
                FancyArrowPatch(
                    e.tail, e.head, connectionstyle=f"arc3,rad={e.rad}", arrowstyle="-|>",
                    mutation_scale=14, lw=1.1, color="#3a3a3a", shrinkA=0, shrinkB=0, zorder=2,
                )
            )  # fmt: skip
            if e.label:
                ax.text(
                    *e.label_at, wrap_label(e.label), ha="center", va="center", fontsize=7,
                    color="#222", zorder=5,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                )  # fmt: skip
        ax.text(
            -5.3, -2.3,
            "blue: start states (every activity is created in one)   green, thick border: "
            "final states   orange: neither   labels: what triggers the move",
            fontsize=8, color="#555",
        )  # fmt: skip
    fig.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.02, wspace=0.02)
    return fig


def render_png(ds: list[Diagram], path: str | Path) -> Path:
    """Draw each diagram side by side (``figure``) into a PNG file."""
    out = Path(path)
    figure(ds).savefig(out, dpi=110)
    return out
