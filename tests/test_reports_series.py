"""Time series and the dependency graph on hand-built traces with known answers."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from activitykit.reports import activity_table, build_graph, critical_path, load_run
from activitykit.reports import series as S
from activitykit.reports.graph import edge_frame, summary_graph, write_dot, write_graphml
from activitykit.trace import write_trace


def mv(t: float, act: str, src: str, dst: str) -> dict:
    return {"t": t, "event": "transition", "activity": act, "from": src, "to": dst}


def created(t: float, act: str, state: str = "Queued", **extra: object) -> dict:
    rec = {
        "t": t,
        "event": "created",
        "activity": act,
        "kind": "client",
        "type": extra.pop("type", "ExecuteScriptRequest"),
        "computer": "c1",
        "state": state,
    }
    return rec | extra


def three_clients() -> list[dict]:
    recs = [created(0, "a1"), created(0, "a2"), created(0, "a3")]
    recs += [mv(5 * i, a, "Queued", "In Progress") for i, a in enumerate(["a1", "a2", "a3"], 1)]
    recs += [mv(10 * i, a, "In Progress", "Succeeded") for i, a in enumerate(["a1", "a2", "a3"], 1)]
    return sorted(recs, key=lambda r: r["t"])


def test_occupancy_counts_at_each_instant():
    recs = three_clients()
    acts = activity_table(recs)
    entries = S.state_entries(recs, pd.Index(acts["id"]))
    occ = S.occupancy_series(entries, step=5, t_end=30)
    assert list(occ.index) == [0, 5, 10, 15, 20, 25, 30]
    assert occ["Queued"].tolist() == [3, 2, 1, 0, 0, 0, 0]
    assert occ["In Progress"].tolist() == [0, 1, 1, 2, 1, 1, 0]
    assert occ["Succeeded"].tolist() == [0, 0, 1, 1, 2, 2, 3]
    assert (occ.sum(axis=1) == 3).all()  # every activity is in exactly one state


def test_throughput_per_minute_bins():
    acts = activity_table(three_clients())
    tp = S.throughput_series(acts, by="kind", step=10, t_end=30)
    # one finish in each of the bins starting at 10, 20, 30; a 10 s bin scales by 6 to /min
    assert tp["client"].tolist() == [0, 6, 6, 6]
    by_type = S.throughput_series(acts, by="type", step=60, t_end=30)
    assert by_type.loc[0.0, "ExecuteScriptRequest"] == 3


def test_queue_depth_and_utilisation_series():
    recs = [
        {
            "t": 0,
            "event": "created",
            "activity": "s1",
            "kind": "server",
            "type": "GenerateUsgReportActivity",
            "state": "Queued",
        },
        {"t": 0, "event": "enqueue", "activity": "s1"},
        {"t": 10, "event": "consume", "activity": "s1", "handler": "h1"},
        mv(10, "s1", "Queued", "In Progress"),
        mv(30, "s1", "In Progress", "Succeeded"),
        {"t": 40, "event": "exchange", "computer": "c1", "urgent": True},
        {"t": 41, "event": "exchange", "computer": "c2"},
    ]
    q = S.queue_series(recs, step=5, t_end=20)
    assert q["queue_depth"].tolist() == [1, 1, 0, 0, 0]
    from activitykit.reports.metrics import busy_intervals

    busy = busy_intervals(recs)
    u = S.utilisation_series(busy, handlers=2, step=20, t_end=40)
    assert list(u.index) == [0, 20]  # bins [0, 20) and [20, 40)
    assert u["busy_handlers"].tolist() == pytest.approx([0.5, 0.5])
    assert u["utilisation"].tolist() == pytest.approx([0.25, 0.25])
    ex = S.exchange_series(recs, step=60, t_end=41)
    assert ex.iloc[0].to_dict() == {
        "exchanges": 1,
        "urgent_exchanges": 1,
        "deliveries": 0,
        "results": 0,
    }


def test_mean_level_is_exact():
    # intervals [0, 10) and [5, 15): over [0, 10) mean 1.5, over [10, 20) mean 0.5
    got = S.mean_level(np.array([0.0, 5.0]), np.array([10.0, 15.0]), np.array([0.0, 10, 20]))
    assert got.tolist() == pytest.approx([1.5, 0.5])


def dag_trace(e_total: float = 40) -> list[dict]:
    """a (0..10); b waits on a (0..30); c waits on a (0..50); d waits on b (5..60); e alone."""
    recs = [
        created(0, "a"),
        created(0, "b", "Waiting", depends_on=["a"]),
        created(0, "c", "Waiting", depends_on=["a"]),
        created(0, "e"),
        created(5, "d", "Waiting", depends_on=["b"]),
        mv(1, "a", "Queued", "In Progress"),
        mv(1, "e", "Queued", "In Progress"),
        mv(10, "a", "In Progress", "Succeeded"),
        mv(10, "b", "Waiting", "In Progress"),
        mv(10, "c", "Waiting", "In Progress"),
        mv(30, "b", "In Progress", "Succeeded"),
        mv(30, "d", "Waiting", "In Progress"),
        mv(e_total, "e", "In Progress", "Succeeded"),
        mv(50, "c", "In Progress", "Succeeded"),
        mv(60, "d", "In Progress", "Succeeded"),
    ]
    return sorted(recs, key=lambda r: r["t"])


def test_critical_path_of_a_hand_built_dag(tmp_path):
    acts = activity_table(dag_trace())
    g = build_graph(acts)
    assert set(g.edges) == {("a", "b"), ("a", "c"), ("b", "d")}
    assert g.edges["a", "b"]["relation"] == "depends_on"
    assert g.nodes["d"]["state"] == "Succeeded"
    # a->b->d spans 0..60 (60 s) > a->c (50 s) > e alone (40 s)
    assert critical_path(g) == ["a", "b", "d"]
    path = tmp_path / "t.jsonl"
    write_trace(dag_trace(), path)
    run = load_run(path)
    assert run.critical_path == ["a", "b", "d"]
    assert run.critical_path_table()["node"].tolist() == ["a", "b", "d"]


def test_critical_path_is_a_chain_never_a_lone_activity(tmp_path):
    # e alone (0..75) outlasts the chain a->b->d (0..60), but a lone activity is no path
    # through the graph: the old code reported ["e"], a one-node "critical path".
    path = tmp_path / "t.jsonl"
    write_trace(dag_trace(e_total=75), path)
    run = load_run(path)
    assert run.critical_path == ["a", "b", "d"]
    assert critical_path(build_graph(run.activities)) == ["a", "b", "d"]
    no_edges = [r for r in dag_trace() if r.get("activity") in ("a", "e")]
    assert critical_path(build_graph(activity_table(no_edges))) == []


def test_critical_path_runs_through_groups_and_progress():
    recs = [
        {"t": 0, "event": "group", "activity": "g", "type": "Bulk", "children": 2},
        created(0, "k1", parent="g"),
        created(2, "k2", parent="g"),
        created(3, "w", "Waiting", progress_of="g", threshold=0.5),
        mv(4, "k1", "Queued", "In Progress"),
        mv(5, "k2", "Queued", "In Progress"),
        mv(6, "k1", "In Progress", "Succeeded"),
        {"t": 6, "event": "progress", "activity": "g", "value": 0.5},
        mv(6, "w", "Waiting", "In Progress"),
        mv(9, "k2", "In Progress", "Succeeded"),
        mv(20, "w", "In Progress", "Succeeded"),
    ]
    acts = activity_table(recs)
    groups = pd.DataFrame({"activity": ["g"], "type": ["Bulk"], "t": [0.0], "children": [2]})
    g = build_graph(acts, groups)
    assert g.nodes["g"]["kind"] == "group" and g.nodes["g"]["final_t"] == 9
    assert g.edges["g", "w"]["relation"] == "progress_of"
    assert critical_path(g) == ["g", "w"]  # 0 .. 20; never ends at the group itself
    progress, thresholds = S.bulk_progress(recs, acts)
    assert progress["value"].tolist() == [0.0, 0.5]
    row = thresholds.iloc[0].to_dict()
    assert np.isnan(row.pop("canceled_t"))  # it was not canceled
    assert row == {
        "activity": "w",
        "parent": "g",
        "threshold": 0.5,
        "outcome": "released",
        "released_t": 6.0,
    }


def test_summary_graph_and_exports(tmp_path):
    acts = activity_table(dag_trace())
    s = summary_graph(acts, by="type")
    assert dict(s.nodes(data="count")) == {"ExecuteScriptRequest": 5}
    assert s.edges["ExecuteScriptRequest", "ExecuteScriptRequest", "depends_on"]["count"] == 3
    assert len(edge_frame(acts)) == 3
    g = build_graph(acts)
    back = nx.read_graphml(write_graphml(g, tmp_path / "g.graphml"))
    assert set(back.edges) == set(g.edges)
    assert back.nodes["d"]["state"] == "Succeeded"
    dot = write_dot(g, tmp_path / "g.dot", highlight=["a", "b", "d"]).read_text()
    assert dot.startswith("digraph") and '"a" -> "b"' in dot
    assert dot.count("color=red") == 5  # 3 nodes + 2 edges of the path


def brute_force_best(g: nx.DiGraph) -> float:
    best = -np.inf
    for v, d in g.nodes(data=True):
        if np.isnan(d["final_t"]):
            continue
        for u in nx.ancestors(g, v):  # a path has at least one edge
            best = max(best, d["final_t"] - g.nodes[u]["created_t"])
    return best


@pytest.mark.parametrize("seed", range(20))
def test_critical_path_matches_brute_force_on_random_dags(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    g = nx.DiGraph()
    for i in range(n):
        c = float(rng.integers(0, 50))
        fin = c + float(rng.integers(0, 50)) if rng.random() < 0.8 else np.nan
        g.add_node(f"n{i}", kind="client", created_t=c, final_t=fin)
    for i in range(n):
        for j in range(i + 1, n):
            if rng.random() < 0.25:
                g.add_edge(f"n{i}", f"n{j}", relation="depends_on")
    path = critical_path(g)
    best = brute_force_best(g)
    if np.isinf(best):
        assert path == []
        return
    assert len(path) >= 2 and nx.is_path(g, path)
    got = g.nodes[path[-1]]["final_t"] - g.nodes[path[0]]["created_t"]
    assert got == best


def test_a_cycle_has_no_critical_path():
    g = nx.DiGraph()
    g.add_node("a", kind="client", created_t=0.0, final_t=5.0)
    g.add_node("b", kind="client", created_t=1.0, final_t=9.0)
    g.add_edges_from([("a", "b"), ("b", "a")])
    assert critical_path(g) == []


def test_run_dir_tables_latency_and_stuck(tmp_path):
    recs = [*three_clients(), created(1, "s"), mv(2, "s", "Queued", "In Progress"), created(3, "q")]
    write_trace(sorted(recs, key=lambda r: r["t"]), tmp_path / "trace.jsonl")
    (tmp_path / "scenario.effective.yaml").write_text(
        "duration: 40\nwarmup: 0\noutput:\n  stuck_after: 35\n"
    )
    run = load_run(tmp_path)
    assert run.t_end == 40  # the scenario's duration, past the last record (30)
    unf = run.unfinished.set_index("id")
    assert list(unf.index) == ["s", "q"]
    assert unf.loc["s", "in_state"] == 38 and bool(unf.loc["s", "stuck"])
    assert unf.loc["q", "age"] == 37 and not bool(unf.loc["q", "stuck"])  # Queued: not stuck
    lat = run.latency_table("kind").set_index("phase")
    assert lat.loc["total", "count"] == 3
    # s and q were still open at the end (Kaplan-Meier): 3 of 5 finished by 30 s
    assert lat.loc["total", "open"] == 2
    assert float(lat.loc["total", "p50"]) == pytest.approx(30)
    # p90 needs 5 finished of 5: only bounded below, by the 5th of (10, 20, 30, 37, 39)
    assert lat.loc["total", "p90"] == ">= 39.0"
    assert run.key_figures["all.throughput_per_hour"] == pytest.approx(3 * 3600 / 40)
    assert run.key_figures["all.unfinished"] == 2


def test_summary_graph_names_bulk_parents_by_type():
    recs = [
        {"t": 0, "event": "group", "activity": "g", "type": "Upgrade", "children": 2},
        created(0, "k1", type="Upgrade", parent="g"),
        created(0, "k2", type="Upgrade", parent="g"),
        created(0, "r", "Waiting", type="Reboot", depends_on=["k1"]),
    ]
    acts = activity_table(recs)
    groups = pd.DataFrame({"activity": ["g"], "type": ["Upgrade"]})
    s = summary_graph(acts, by="type", groups=groups)
    assert s.nodes["Upgrade (bulk g)"] == {"count": 1, "kind": "group"}
    assert s.edges["Upgrade (bulk g)", "Upgrade in g", "parent"]["count"] == 2
    assert s.edges["Upgrade in g", "Reboot", "depends_on"]["count"] == 1
    by_group = summary_graph(acts, by="group")
    assert by_group.nodes["g"]["count"] == 2 and by_group.nodes["(no group)"]["count"] == 1


def test_summary_end_t_sets_the_window(tmp_path):
    write_trace(three_clients(), tmp_path / "trace.jsonl")
    (tmp_path / "scenario.effective.yaml").write_text("duration: 40\n")
    (tmp_path / "summary.json").write_text('{"end_t": 60}')
    run = load_run(tmp_path)
    assert run.t_end == 60
    assert repr(run).endswith("3 activities, 9 records, t_end=60, warmup=0)")
    assert run.key_figures["all.throughput_per_hour"] == pytest.approx(3 * 3600 / 60)


def _server(t: float, act: str) -> list[dict]:
    return [
        {"t": t, "event": "created", "activity": act, "kind": "server",
         "type": "GenerateUsgReportActivity", "state": "Queued"},
        {"t": t, "event": "enqueue", "activity": act},
    ]  # fmt: skip


def _consume(t: float, act: str) -> list[dict]:
    return [
        {"t": t, "event": "consume", "activity": act, "handler": "h1"},
        mv(t, act, "Queued", "In Progress"),
    ]


def test_queue_depth_is_exact_between_bin_instants():
    # Two messages wait over [10, 20) and [12, 25): the queue fills and drains between the
    # bin instants 0 and 60, where the old series sampled it and saw nothing.
    recs = [*_server(10, "s1"), *_server(12, "s2"), *_consume(20, "s1"), *_consume(25, "s2")]
    recs = sorted(recs, key=lambda r: r["t"])
    steps = S.queue_depth_steps(recs)
    assert steps["t"].tolist() == [0, 10, 12, 20, 25]
    assert steps["depth"].tolist() == [0, 1, 2, 1, 0]
    q = S.queue_series(recs, step=60, t_end=120)
    assert q["queue_depth"].tolist() == [0, 0, 0]  # the instants: blind to the burst
    assert q["queue_depth_max"].tolist() == [2, 0, 0]
    assert q["queue_depth_mean"].tolist() == pytest.approx([23 / 60, 0, 0])
    assert q["enqueued"].tolist() == [2, 0, 0]


def test_queue_figure_shows_messages_that_never_waited(tmp_path):
    from activitykit.reports import figures as F

    recs = [*_server(10, "s1"), *_consume(10, "s1"), *_server(70, "s2"), *_consume(70, "s2")]
    write_trace(sorted(recs, key=lambda r: r["t"]), tmp_path / "t.jsonl")
    run = load_run(tmp_path / "t.jsonl")
    ax = F.queue_figure(run).axes[0]
    title = ax.get_title()
    assert "2 enqueued" in title and "wait p50 0 s, max 0 s" in title
    assert not any("no " in t.get_text() for t in ax.texts)  # not "no queued activities"
    rug = [ln for ln in ax.lines if ln.get_marker() == "|"]
    assert np.asarray(rug[0].get_xdata()).tolist() == pytest.approx([10 / 60, 70 / 60])
