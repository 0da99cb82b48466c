"""The dependency graph of a run: build it, find its critical path, summarise and export it.

Nodes are activities (attributes ``kind``, ``type``, ``state``, ``created_t``, ``final_t``)
plus the bulk-operation groups they belong to (``kind="group"``). Edges point from what is
waited on to what waits, with a ``relation``:

- ``depends_on``: a dependency -> the activity that depends on it;
- ``progress_of``: the activity whose progress is watched -> the waiter;
- ``parent``: a parent (group or activity) -> its child.

**Critical path.** Among all directed paths ``v1 -> ... -> vk`` with at least one edge
(k >= 2) whose last node is a finished activity (not a group), the one with the greatest
elapsed time ``final_t(vk) - created_t(v1)``: the longest stretch of wall-clock time covered
by one chain of activities each waiting on, or belonging to, the one before. An activity on
its own is not a chain (its latency is in the latency figures), so a run without dependency
edges has no critical path. Ties go to the path with more nodes (the whole chain), then to
the one whose last node was created first.
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
    "EDGE_STYLES",
    "GRAPH_DRAW_LIMIT",
    "SPLIT_GROUPS_LIMIT",
    "build_graph",
    "critical_path",
    "critical_path_codes",
    "critical_path_length",
    "edge_frame",
    "has_edges",
    "summary_graph",
    "summary_keys",
    "write_dot",
    "write_graphml",
]

#: Line style of each edge relation, in the figures and in DOT (one definition for both).
EDGE_STYLES: dict[str, str] = {"depends_on": "solid", "progress_of": "dashed", "parent": "dotted"}

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


def _best_incoming(
    start: np.ndarray, count: np.ndarray, source: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per target node, the best path arriving over one of its in-edges: earliest start,
    then most nodes. Returns ``(node, start, count)`` for every node that has an in-edge."""
    cand_start = start[source]
    cand_count = count[source] + 1
    order = np.lexsort((-cand_count, cand_start, target))
    t_sorted = target[order]
    first = np.r_[True, t_sorted[1:] != t_sorted[:-1]]
    return t_sorted[first], cand_start[order][first], cand_count[order][first]


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
    relaxes every edge at once, keeping per node the earliest start of a path ending there
    (the node alone included; on a tie, the most nodes); rounds stop when nothing improves,
    after at most (longest path) rounds. A path must have an edge (module docstring), so
    the end node is judged by its best *incoming* path, which may start later than the node
    itself was created (a child declared before its group, say).
    A cycle never settles, so after ``n`` rounds the answer is "no critical path".
    """
    n = len(created)
    start = np.where(np.isnan(created), np.inf, created)
    count = np.ones(n, dtype=np.int64)
    source = np.asarray(source, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    if len(source) == 0:
        return []
    for _ in range(n + 1):
        node, bs, bc = _best_incoming(start, count, source, target)
        better = (bs < start[node]) | ((bs == start[node]) & (bc > count[node]))
        if not better.any():
            break
        start[node[better]] = bs[better]
        count[node[better]] = bc[better]
    else:
        return []
    node, in_start, in_count = _best_incoming(start, count, source, target)
    length = final[node] - in_start
    ok = np.flatnonzero(endable[node] & np.isfinite(length))
    if len(ok) == 0:
        return []
    # Longest time, then most nodes, then the end node created first, then node order.
    pick = ok[np.lexsort((node[ok], created[node[ok]], -in_count[ok], -length[ok]))[0]]
    by_target = np.argsort(target, kind="stable")
    t_sorted = target[by_target]

    def pred(v: int, want_start: float, want_count: int) -> int:
        lo, hi = np.searchsorted(t_sorted, [v, v + 1])
        preds = source[by_target[lo:hi]]
        match = preds[(start[preds] == want_start) & (count[preds] == want_count)]
        return int(match[0])

    path = [int(node[pick])]
    path.append(pred(path[0], in_start[pick], in_count[pick] - 1))
    while count[path[-1]] > 1:
        v = path[-1]
        path.append(pred(v, start[v], count[v] - 1))
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


def has_edges(activities: pd.DataFrame) -> bool:
    """Whether ``edge_frame(activities)`` has a row: some activity depends on another, waits
    on a parent's progress or belongs to a group. Without, the graph is unconnected nodes
    (every activity is in the activity table already) and the report neither draws nor
    exports it. Only the activities with a ``depends_on`` list are looked into, as
    ``edge_frame`` does (an empty list, or one of nulls, is no edge)."""
    if activities["progress_of"].notna().any() or activities["parent"].notna().any():
        return True
    deps = activities["depends_on"].dropna()
    return bool(len(deps)) and bool(deps.explode().notna().any())


#: Up to this many bulk groups, ``summary_graph(by="type")`` keeps each group and its
#: children apart (a canary and its roll-out share a type but play different roles); above,
#: children of one type are merged whatever their group, so the summary stays drawable.
SPLIT_GROUPS_LIMIT = 12


def summary_keys(
    activities: pd.DataFrame, by: str = "type", groups: pd.DataFrame | None = None
) -> pd.Series:
    """The summary node of every activity and group id (index: id, value: node name).

    ``by="type"``: an activity's ``type``; with at most ``SPLIT_GROUPS_LIMIT`` groups, a
    group is "<type> (bulk <id>)" and its children "<type> in <id>", so two bulks of one
    type stay two chains; with more groups, "<type> (bulk)" and plain ``type``.
    ``by="group"``: an activity's ``parent`` (or "(no group)"); a group is itself.
    """
    if by not in ("type", "group"):
        raise ValueError(f"summary_graph by={by!r}; use 'type' or 'group'")
    ids = activities["id"].to_numpy(dtype=object)
    if by == "group":
        key = activities["parent"].astype(object)
        key = key.where(key.notna(), "(no group)").astype(str)
        out = pd.Series(key.to_numpy(), index=ids)
        if groups is not None and len(groups):
            gid = groups["activity"].astype(str).to_numpy()
            out = pd.concat([out, pd.Series(gid, index=gid)])
        return out[~out.index.duplicated()]
    key = activities["type"].astype(object)
    key = key.where(key.notna(), "(no type)").astype(str)
    gkey = pd.Series(dtype=object)
    if groups is not None and len(groups):
        gtype = groups["type"].astype(object)
        gtype = gtype.where(gtype.notna(), "(no type)").astype(str)
        gid = groups["activity"].astype(str)
        split = groups["activity"].nunique() <= SPLIT_GROUPS_LIMIT
        gkey = pd.Series(
            (gtype + (" (bulk " + gid + ")" if split else " (bulk)")).to_numpy(),
            index=groups["activity"].to_numpy(dtype=object),
        )
        if split:
            parent = activities["parent"]
            in_group = parent.isin(gid).to_numpy()
            key = key.where(~in_group, key + " in " + parent.astype(str))
    out = pd.concat([pd.Series(key.to_numpy(), index=ids), gkey])
    return out[~out.index.duplicated()]


def summary_graph(
    activities: pd.DataFrame, by: str = "type", groups: pd.DataFrame | None = None
) -> nx.MultiDiGraph:
    """Quotient graph for runs too big to draw: one node per ``summary_keys`` name.

    Node attributes: ``count`` and one count per last state (groups: ``kind="group"``).
    Edges are keyed by ``relation`` (one edge per kind of link between two nodes, so a
    ``progress_of`` gate is never hidden under ``parent`` edges), with ``relation`` and
    ``count`` (how many activity edges it stands for). ``by="group"`` leaves out the parent
    edges, which are what that grouping collapses. Built from the table, so a 1M-activity
    run never needs a 1M-node networkx graph.
    """
    lookup = summary_keys(activities, by, groups)
    s = nx.MultiDiGraph()
    key = pd.Series(lookup.loc[activities["id"].to_numpy(dtype=object)].to_numpy())
    counts = pd.crosstab(key, activities["state"].fillna("unknown").to_numpy())
    for k, row in counts.iterrows():
        s.add_node(k, count=int(row.sum()), **{str(c): int(v) for c, v in row.items() if v})
    if groups is not None and len(groups) and by == "type":
        gkeys = lookup.loc[groups["activity"].to_numpy(dtype=object)]
        for k, n in gkeys.value_counts().items():
            s.add_node(k, count=int(n), kind="group")
    edges = edge_frame(activities)
    if by == "group":
        edges = edges[edges["relation"] != "parent"]
    src = edges["source"].map(lookup)
    src = src.where(src.notna(), edges["source"].astype(str))  # a group or unknown id
    dst = edges["target"].map(lookup)
    frame = pd.DataFrame({"u": src, "v": dst, "relation": edges["relation"]})
    for (u, v, rel), n in frame.groupby(["u", "v", "relation"]).size().items():
        s.add_edge(u, v, key=rel, relation=rel, count=int(n))
    for _, data in s.nodes(data=True):  # a group id seen only as an edge source
        data.setdefault("count", 0)
    return s


def _clean_attrs(g: nx.DiGraph) -> nx.DiGraph:
    # GraphML has no None and no NaN-safe story across tools: drop missing values.
    h = g.__class__()  # a summary's MultiDiGraph keeps its parallel edges
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
        rel = d.get("relation", "")
        label = f"{rel} x{d['count']}" if "count" in d else rel
        extra = f", style={EDGE_STYLES[rel]}" if rel in EDGE_STYLES else ""
        extra += ", color=red, penwidth=2" if (u, v) in path_edges else ""
        lines.append(f"  {_dot_id(u)} -> {_dot_id(v)} [label={_dot_id(label)}{extra}];")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
