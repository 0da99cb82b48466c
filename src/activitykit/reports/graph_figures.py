"""The dependency-graph figure: every activity when the run is small, else the graph
summarised by activity type; the critical path in red either way."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._canvas import STATE_COLOURS, empty_panel, new_figure
from ._frame import STATES
from .graph import EDGE_STYLES, GRAPH_DRAW_LIMIT, edge_frame, summary_keys
from .run import RunData

__all__ = ["graph_figure"]


def _layered_layout(g: nx.DiGraph) -> dict[object, np.ndarray]:
    # Left to right by dependency depth, sorted within a layer: given layers by node
    # attribute, networkx orders a layer as a set (by the process's string hashing), and
    # the same run must draw the same picture in every process.
    layers = {
        layer: sorted(nodes, key=str) for layer, nodes in enumerate(nx.topological_generations(g))
    }
    return nx.multipartite_layout(g, subset_key=layers)


def graph_figure(run: RunData) -> Figure:
    """The dependency graph coloured by last state with the critical path in red; above
    ``GRAPH_DRAW_LIMIT`` nodes, the graph summarised by activity type instead."""
    n = len(run.activities) + len(run.groups)
    if n == 0:
        fig = new_figure(size=(8, 3))
        empty_panel(fig.axes[0], "activities")
        return fig
    if n > GRAPH_DRAW_LIMIT:
        return _summary_figure(run)
    g = run.graph
    fig = new_figure(size=(11, max(4.0, min(12.0, 0.25 * n))))
    ax = fig.axes[0]
    try:
        pos = _layered_layout(g)
    except nx.NetworkXUnfeasible:  # a cycle: only a malformed trace has one
        pos = nx.spring_layout(g, seed=0)
    path = run.critical_path
    on_path = set(itertools.pairwise(path))
    colours = [STATE_COLOURS.get(str(d.get("state")), "#ffffff") for _, d in g.nodes(data=True)]
    nx.draw_networkx_nodes(
        g, pos, ax=ax, node_color=colours, node_size=180, edgecolors="k", linewidths=0.5
    )
    for rel, style in EDGE_STYLES.items():
        edges = [(u, v) for u, v, r in g.edges(data="relation") if r == rel]
        nx.draw_networkx_edges(
            g,
            pos,
            ax=ax,
            edgelist=edges,
            style=style,
            edge_color=["red" if e in on_path else "#555555" for e in edges],
            width=[2.5 if e in on_path else 0.8 for e in edges],
            arrowsize=8,
            node_size=180,
        )
    if path:
        nx.draw_networkx_nodes(
            g, pos, nodelist=path, ax=ax, node_color="none", edgecolors="red",
            linewidths=2.0, node_size=260,
        )  # fmt: skip
    if n <= 60:
        nx.draw_networkx_labels(g, pos, ax=ax, font_size=6)
    _state_legend(ax, {str(d.get("state")) for _, d in g.nodes(data=True)})
    ax.set_title(f"Dependency graph ({n} nodes; critical path in red, {len(path)} nodes)")
    ax.axis("off")
    return fig


def _state_legend(ax: Axes, states: set[str]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Patch | Line2D] = [
        Patch(color=c, label=s) for s, c in STATE_COLOURS.items() if s in states
    ]
    # The line style of each edge relation, as the caption describes them.
    handles += [Line2D([], [], color="#555555", ls=ls, label=r) for r, ls in EDGE_STYLES.items()]
    # Outside the axes: inside, it hides whichever node the layout put in that corner.
    ax.legend(
        handles=handles, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0),
        frameon=False,
    )  # fmt: skip
    ax.figure.subplots_adjust(right=0.88)


def _summary_layout(s: nx.MultiDiGraph) -> dict[object, np.ndarray]:
    # Layered like the full graph when it is acyclic (gates then read left to right);
    # a type that depends on itself makes a cycle, and then a circle is the fair layout.
    if s.number_of_nodes() == 1:
        return {n: np.zeros(2) for n in s.nodes}
    loops = list(nx.selfloop_edges(s))
    dag = nx.DiGraph(s)
    dag.remove_edges_from(loops)
    if nx.is_directed_acyclic_graph(dag):
        return _layered_layout(dag)
    return nx.circular_layout(sorted(s.nodes))


def _summary_figure(run: RunData) -> Figure:
    s = run.type_summary
    fig = new_figure(size=(11, 7))
    ax = fig.axes[0]
    nodes = sorted(s.nodes, key=lambda k: -s.nodes[k]["count"])
    s = s.subgraph(nodes[:40]).copy()  # a summary must stay readable too
    pos = _summary_layout(s)
    counts = np.array([s.nodes[k]["count"] for k in s.nodes], dtype=float)
    sizes = 300 + 2700 * np.sqrt(counts / max(counts.max(), 1.0))
    size_of = dict(zip(s.nodes, sizes, strict=True))
    colours = []
    for k in s.nodes:
        d = s.nodes[k]
        states = {st: d.get(st, 0) for st in STATES}
        dominant = max(states, key=states.__getitem__) if any(states.values()) else "group"
        colours.append(STATE_COLOURS["group" if d.get("kind") == "group" else dominant])
    nx.draw_networkx_nodes(
        s, pos, ax=ax, node_size=sizes, node_color=colours, edgecolors="k", linewidths=0.5
    )
    # The critical path as a walk over summary nodes, with the relation of each step.
    keys = summary_keys(run.activities, "type", run.groups)
    path = [str(keys.get(n, n)) for n in run.critical_path]
    rel = _graph_relations(run)
    on_path = {
        (u, v, rel.get((a, b), "")) for (a, b), (u, v) in zip(
            itertools.pairwise(run.critical_path), itertools.pairwise(path), strict=True
        )
    }  # fmt: skip
    # Parallel edges of different relations bend apart, so each style stays visible.
    bend = {"depends_on": 0.0, "progress_of": 0.25, "parent": -0.25}
    for relation, style in EDGE_STYLES.items():
        edges = [(u, v) for u, v, r in s.edges(keys=True) if r == relation]
        if not edges:
            continue
        red = [(u, v, relation) in on_path for u, v in edges]
        nx.draw_networkx_edges(
            s, pos, ax=ax, edgelist=edges, style=style,
            width=[
                (3.0 if r else 0.8 + 0.5 * math.log10(s.edges[u, v, relation]["count"]))
                for (u, v), r in zip(edges, red, strict=True)
            ],
            edge_color=["red" if r else "#555555" for r in red],
            arrowsize=10, nodelist=list(s.nodes), node_size=sizes,
            connectionstyle=f"arc3,rad={bend[relation]}",
        )  # fmt: skip
    if path:
        nx.draw_networkx_nodes(
            s, pos, nodelist=[k for k in dict.fromkeys(path) if k in s], ax=ax,
            node_color="none", edgecolors="red", linewidths=2.0,
            node_size=[size_of[k] * 1.3 for k in dict.fromkeys(path) if k in s],
        )  # fmt: skip
    nx.draw_networkx_labels(
        s, pos, ax=ax, font_size=7, labels={k: f"{k}\n{s.nodes[k]['count']}" for k in s.nodes}
    )
    ax.margins(0.18)  # room for the long type names of the outer nodes
    _state_legend(ax, {*STATES, "group"})
    n = len(run.activities)
    cp = f"critical path in red ({len(path)} nodes)" if path else "no critical path"
    ax.set_title(
        f"Dependency graph summarised by type ({n} activities; colour = most common last "
        f"state, size = count; {cp})",
        fontsize="medium",
    )
    ax.axis("off")
    return fig


def _graph_relations(run: RunData) -> dict[tuple[str, str], str]:
    """The relation of each edge on the critical path (the only edges looked up)."""
    on = set(run.critical_path)
    if not on:
        return {}
    e = edge_frame(run.activities.loc[run.activities["id"].isin(on)])
    return {(str(u), str(v)): r for u, v, r in e.itertuples(index=False, name=None)}
