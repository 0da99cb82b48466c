"""The dependency graph of a run: build it, find its critical path, summarise and export it.

Nodes are activities (attributes ``kind``, ``type``, ``state``, ``created_t``, ``final_t``)
plus the bulk-operation groups they belong to (``kind="group"``). Edges point from what is
waited on to what waits, with a ``relation``:

- ``depends_on``: a dependency -> the activity that depends on it;
- ``progress_of``: the activity whose progress is watched -> the waiter;
- ``parent``: a parent (group or activity) -> its child.

**Critical path.** Among all directed paths ``v1 -> ... -> vk`` (k >= 1) whose last node
is a finished activity (not a group), the one with the greatest elapsed time
``final_t(vk) - created_t(v1)``: the longest stretch of wall-clock time covered by one chain
of activities each waiting on, or belonging to, the one before. With no edges it is the
single activity with the longest end-to-end latency. Ties: into one node, the path with
more nodes (the whole chain); across end nodes, an isolated activity first, then topological order.
Computed by one pass in topological order (O(V + E)); a graph with a cycle (only possible in
a malformed trace) has no critical path.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

__all__ = [
    "GRAPH_DRAW_LIMIT",
    "build_graph",
    "critical_path",
    "critical_path_length",
    "edge_frame",
    "summary_graph",
    "write_dot",
    "write_graphml",
]

#: Graphs with more nodes than this are drawn (and exported, above EXPORT_LIMIT) summarised.
GRAPH_DRAW_LIMIT = 200


def build_graph(activities: pd.DataFrame, groups: pd.DataFrame | None = None) -> nx.DiGraph:
    """Build the dependency DiGraph from an ``activity_table`` (and ``group`` records).

    ``groups``: optional frame with ``activity`` (group id), ``type``, ``t`` and ``children``
    (the ``group`` records of the trace).
    """
    g = nx.DiGraph()
    attrs = activities[["id", "kind", "type", "state", "created_t", "final_t"]]
    g.add_nodes_from(
        (
            row[0],
            {
                "kind": row[1],
                "type": row[2],
                "state": row[3],
                "created_t": row[4],
                "final_t": row[5],
            },
        )
        for row in attrs.itertuples(index=False, name=None)
    )
    if groups is not None:
        for gid, typ, t, children in groups[["activity", "type", "t", "children"]].itertuples(
            index=False, name=None
        ):
            if gid not in g:
                g.add_node(
                    gid,
                    kind="group",
                    type=typ,
                    state="group",
                    created_t=t,
                    final_t=math.nan,
                    children=children,
                )
    edges = edge_frame(activities)
    g.add_edges_from(
        (u, v, {"relation": r})
        for u, v, r in edges[["source", "target", "relation"]].itertuples(index=False, name=None)
    )
    for _, data in g.nodes(data=True):  # endpoints named in edges but never created
        if "kind" not in data:
            data.update(
                kind="unknown",
                type="unknown",
                state="unknown",
                created_t=math.nan,
                final_t=math.nan,
            )
    _group_times(g)
    return g


def _group_times(g: nx.DiGraph) -> None:
    # A group has no transitions: it starts when declared and ends when its last child ends.
    for n, data in g.nodes(data=True):
        if data.get("kind") == "group":
            ends = [
                g.nodes[c]["final_t"]
                for c in g.successors(n)
                if g.edges[n, c]["relation"] == "parent"
            ]
            if ends and not any(math.isnan(e) for e in ends):
                data["final_t"] = max(ends)


def critical_path(g: nx.DiGraph) -> list[str]:
    """The critical path as a list of node ids (see module docstring); [] if none."""
    if g.number_of_nodes() == 0:
        return []
    created = nx.get_node_attributes(g, "created_t")
    final = nx.get_node_attributes(g, "final_t")
    best_len, best_end = -math.inf, None
    # Isolated nodes: the path is the node itself; no DP needed for them (the bulk of a big run).
    for n in g.nodes:
        if g.degree(n) == 0:
            length = final[n] - created[n]
            if not math.isnan(length) and length > best_len:
                best_len, best_end = length, n
    sub = g.subgraph([n for n in g.nodes if g.degree(n) > 0])
    try:
        order = list(nx.topological_sort(sub))
    except nx.NetworkXUnfeasible:
        return []
    # start[v]: (earliest created_t of any path ending at v, minus its node count)
    start: dict[str, tuple[float, int]] = {}
    back: dict[str, str | None] = {}
    for v in order:
        c = created[v]
        best: tuple[float, int] = (c if not math.isnan(c) else math.inf, -1)
        prev = None
        for p in sub.predecessors(v):
            cand = (start[p][0], start[p][1] - 1)  # more nodes sorts first on a tie
            if cand < best:
                best, prev = cand, p
        start[v], back[v] = best, prev
        length = final[v] - best[0]
        is_group = sub.nodes[v].get("kind") == "group"
        if not is_group and not math.isnan(length) and length > best_len:
            best_len, best_end = length, v
    if best_end is None:
        return []
    path = [best_end]
    while back.get(path[-1]) is not None:
        path.append(back[path[-1]])  # type: ignore[arg-type]
    return path[::-1]


def critical_path_length(g: nx.DiGraph, path: list[str]) -> float:
    """Elapsed time of ``path``: final_t of its last node minus created_t of its first."""
    if not path:
        return math.nan
    return float(g.nodes[path[-1]]["final_t"] - g.nodes[path[0]]["created_t"])


def edge_frame(activities: pd.DataFrame) -> pd.DataFrame:
    """All edges as a DataFrame: ``source``, ``target``, ``relation`` (vectorised)."""
    parts = []
    deps = activities[["id", "depends_on"]].explode("depends_on").dropna(subset=["depends_on"])
    parts.append(
        pd.DataFrame(
            {
                "source": deps["depends_on"].to_numpy(dtype=object),
                "target": deps["id"].to_numpy(dtype=object),
                "relation": "depends_on",
            }
        )
    )
    for col in ("progress_of", "parent"):
        sel = activities.loc[activities[col].notna(), ["id", col]]
        parts.append(
            pd.DataFrame(
                {
                    "source": sel[col].to_numpy(dtype=object),
                    "target": sel["id"].to_numpy(dtype=object),
                    "relation": col,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def summary_graph(activities: pd.DataFrame, by: str = "type") -> nx.DiGraph:
    """Quotient graph for runs too big to draw: one node per activity ``type`` or per group.

    ``by="group"`` puts each activity under its ``parent`` (or "(no group)"). Node
    attributes: ``count`` and one count per last state; edge attribute ``count`` (how many
    activity edges it stands for). Built from the table, so a 1M-activity run never needs
    a 1M-node networkx graph.
    """
    if by not in ("type", "group"):
        raise ValueError(f"summary_graph by={by!r}; use 'type' or 'group'")
    ids = activities["id"]
    key = (activities["type"] if by == "type" else activities["parent"]).astype(object)
    key = key.where(key.notna(), "(no group)" if by == "group" else "(no type)").astype(str)
    s = nx.DiGraph()
    counts = pd.crosstab(key, activities["state"].fillna("unknown"))
    for k, row in counts.iterrows():
        s.add_node(k, count=int(row.sum()), **{str(c): int(v) for c, v in row.items() if v})
    lookup = pd.Series(key.to_numpy(), index=ids.to_numpy())
    lookup = lookup[~lookup.index.duplicated()]
    edges = edge_frame(activities)
    if by == "group":  # the parent edges are what the grouping collapses
        edges = edges[edges["relation"] != "parent"]
    src = edges["source"].map(lookup)
    src = src.where(src.notna(), edges["source"].astype(str))  # a group or unknown id
    dst = edges["target"].map(lookup)
    ec = pd.DataFrame({"u": src, "v": dst}).groupby(["u", "v"]).size()
    for (u, v), n in ec.items():
        s.add_edge(u, v, count=int(n))
    for _, data in s.nodes(data=True):  # a group id seen only as an edge source
        data.setdefault("count", 0)
    return s


def _clean_attrs(g: nx.DiGraph) -> nx.DiGraph:
    # GraphML has no None and no NaN-safe story across tools: drop missing values.
    h = nx.DiGraph()
    for n, d in g.nodes(data=True):
        h.add_node(str(n), **{k: _scalar(v) for k, v in d.items() if _present(v)})
    for u, v, d in g.edges(data=True):
        h.add_edge(str(u), str(v), **{k: _scalar(x) for k, x in d.items() if _present(x)})
    return h


def _present(v: object) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _scalar(v: object) -> object:
    if isinstance(v, np.generic):
        return v.item()
    return v if isinstance(v, int | float | str | bool) else str(v)


def write_graphml(g: nx.DiGraph, path: Path) -> Path:
    """Write ``g`` as GraphML (missing attribute values are left out)."""
    nx.write_graphml(_clean_attrs(g), path)
    return path


def _esc(x: object) -> str:
    return str(x).replace("\\", "\\\\").replace('"', '\\"')


def _dot_id(x: object) -> str:
    return f'"{_esc(x)}"'


def write_dot(g: nx.DiGraph, path: Path, highlight: list[str] | None = None) -> Path:
    """Write ``g`` as Graphviz DOT; nodes and edges of ``highlight`` (a path) drawn bold red."""
    on_path = set(highlight or [])
    path_edges = set(itertools.pairwise(highlight or []))
    lines = ["digraph activities {", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    for n, d in g.nodes(data=True):
        parts = (n, d.get("type", ""), d.get("state", d.get("count", "")))
        label = "\\n".join(_esc(x) for x in parts)  # DOT's own line break escape
        extra = ", color=red, penwidth=2" if n in on_path else ""
        lines.append(f'  {_dot_id(n)} [label="{label}"{extra}];')
    for u, v, d in g.edges(data=True):
        label = d.get("relation", d.get("count", ""))
        extra = ", color=red, penwidth=2" if (u, v) in path_edges else ""
        lines.append(f"  {_dot_id(u)} -> {_dot_id(v)} [label={_dot_id(label)}{extra}];")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
