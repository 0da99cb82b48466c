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
single activity with the longest end-to-end latency. Ties go to the path with more nodes
(the whole chain), then to the one whose last node was created first.
Computed with whole-array relaxation rounds (``critical_path_codes``), so a 1M-activity run
needs no networkx graph; a graph with a cycle (only in a malformed trace) has no critical
path.
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
    "critical_path_codes",
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


def critical_path_codes(
    created: np.ndarray,
    final: np.ndarray,
    endable: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
) -> list[int]:
    """The critical path over nodes ``0..n-1`` given as arrays; returns node positions.

    ``created``/``final``: per node times (NaN unknown); ``endable``: may end a path (a
    finished activity); ``source``/``target``: edge endpoints. Vectorised: each round
    relaxes every edge at once, keeping per node the earliest path start (and, on a tie,
    the most nodes); rounds stop when nothing improves, after at most (longest path) rounds.
    A cycle never settles, so after ``n`` rounds the answer is "no critical path".
    """
    n = len(created)
    start = np.where(np.isnan(created), np.inf, created)
    count = np.ones(n, dtype=np.int64)
    source = np.asarray(source, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    if len(source):
        for _ in range(n + 1):
            cand_start = start[source]
            cand_count = count[source] + 1
            order = np.lexsort((-cand_count, cand_start, target))
            t_sorted = target[order]
            first = np.r_[True, t_sorted[1:] != t_sorted[:-1]]
            node = t_sorted[first]
            bs, bc = cand_start[order][first], cand_count[order][first]
            better = (bs < start[node]) | ((bs == start[node]) & (bc > count[node]))
            if not better.any():
                break
            start[node[better]] = bs[better]
            count[node[better]] = bc[better]
        else:
            return []
    length = final - start
    ok = np.flatnonzero(endable & np.isfinite(length))
    if len(ok) == 0:
        return []
    # Longest time, then most nodes, then the end node created first, then node order.
    pick = np.lexsort((ok, created[ok], -count[ok], -length[ok]))[0]
    path = [int(ok[pick])]
    by_target = np.argsort(target, kind="stable")
    t_sorted = target[by_target]
    while count[path[-1]] > 1:
        v = path[-1]
        lo, hi = np.searchsorted(t_sorted, [v, v + 1])
        preds = source[by_target[lo:hi]]
        match = preds[(start[preds] == start[v]) & (count[preds] == count[v] - 1)]
        path.append(int(match[0]))
    return path[::-1]


def critical_path(g: nx.DiGraph) -> list[str]:
    """The critical path of a graph from ``build_graph`` (see module docstring); [] if none."""
    nodes = list(g.nodes)
    if not nodes:
        return []
    pos = {n: i for i, n in enumerate(nodes)}
    data = [g.nodes[n] for n in nodes]
    created = np.array([d.get("created_t", math.nan) for d in data], dtype=float)
    final = np.array([d.get("final_t", math.nan) for d in data], dtype=float)
    endable = np.array([d.get("kind") not in ("group", "unknown") for d in data])
    src = np.array([pos[u] for u, _ in g.edges], dtype=np.int64)
    dst = np.array([pos[v] for _, v in g.edges], dtype=np.int64)
    return [nodes[i] for i in critical_path_codes(created, final, endable, src, dst)]


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


def summary_graph(
    activities: pd.DataFrame, by: str = "type", groups: pd.DataFrame | None = None
) -> nx.DiGraph:
    """Quotient graph for runs too big to draw: one node per activity ``type`` or per group.

    ``by="group"`` puts each activity under its ``parent`` (or "(no group)"). Node
    attributes: ``count`` and one count per last state; edge attribute ``count`` (how many
    activity edges it stands for). ``groups`` (the ``group`` records: ``activity``, ``type``)
    lets ``by="type"`` show bulk parents as "<type> (bulk)" nodes with ``kind="group"``
    instead of by id. Built from the table, so a 1M-activity run never needs a 1M-node
    networkx graph.
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
    if by == "type" and groups is not None and len(groups):
        gkey = groups["type"].fillna("(no type)").astype(str) + " (bulk)"
        for k, n in gkey.value_counts().items():
            s.add_node(k, count=int(n), kind="group")
        lookup = pd.concat([lookup, pd.Series(gkey.to_numpy(), index=groups["activity"])])
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
