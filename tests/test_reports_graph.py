"""The dependency-graph figure and summary on a canary roll-out with a known shape.

A canary bulk ``g1`` (children c1, c2), a production bulk ``g2`` whose children p1, p2 wait
until g1 is half done, and a reboot r1 after p1. Canary and production children share one
type, which is what once merged them into one summary node and hid the gate.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.patches import FancyArrowPatch

from activitykit.reports import figures as F
from activitykit.reports import load_run
from activitykit.reports.graph import EDGE_STYLES, summary_graph, write_dot
from activitykit.trace import write_trace


def _created(act: str, state: str = "Queued", **extra: object) -> dict:
    rec = {"t": 0.0, "event": "created", "activity": act, "kind": "client"}
    rec |= {"type": extra.pop("type", "Upgrade"), "computer": f"c-{act}", "state": state}
    return rec | extra


def _mv(t: float, act: str, src: str, dst: str) -> dict:
    return {"t": t, "event": "transition", "activity": act, "from": src, "to": dst}


def canary_trace() -> list[dict]:
    gate = {"progress_of": "g1", "threshold": 0.5}
    recs = [
        {"t": 0.0, "event": "group", "activity": "g1", "type": "Upgrade", "children": 2},
        {"t": 0.0, "event": "group", "activity": "g2", "type": "Upgrade", "children": 2},
        _created("c1", parent="g1"),
        _created("c2", parent="g1"),
        _created("p1", "Waiting", parent="g2", **gate),
        _created("p2", "Waiting", parent="g2", **gate),
        _created("r1", "Waiting", type="Reboot", depends_on=["p1"]),
        _mv(1, "c1", "Queued", "In Progress"),
        _mv(2, "c2", "Queued", "In Progress"),
        _mv(5, "c1", "In Progress", "Succeeded"),
        {"t": 5.0, "event": "progress", "activity": "g1", "value": 0.5},
        _mv(5, "p1", "Waiting", "In Progress"),
        _mv(5, "p2", "Waiting", "In Progress"),
        _mv(8, "c2", "In Progress", "Succeeded"),
        {"t": 8.0, "event": "progress", "activity": "g1", "value": 1.0},
        _mv(20, "p1", "In Progress", "Succeeded"),
        _mv(20, "r1", "Waiting", "In Progress"),
        _mv(25, "p2", "In Progress", "Succeeded"),
        _mv(40, "r1", "In Progress", "Succeeded"),
    ]
    return sorted(recs, key=lambda r: r["t"])


@pytest.fixture()
def run(tmp_path):
    write_trace(canary_trace(), tmp_path / "trace.jsonl")
    return load_run(tmp_path)


def _arrows(fig) -> list[FancyArrowPatch]:
    return [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]


def test_critical_path_runs_through_the_canary_gate(run):
    # 0 (g1 declared) .. 40 (r1 done): g1 gates p1, p1 gates r1.
    assert run.critical_path == ["g1", "p1", "r1"]


def test_full_graph_draws_each_relation_in_its_style(run):
    fig = F.graph_figure(run)
    styles = [a.get_linestyle() for a in _arrows(fig)]
    # 4 parent edges (dotted), 2 progress_of (dashed), 1 depends_on (solid)
    assert sorted(styles) == sorted(["dotted"] * 4 + ["dashed"] * 2 + ["solid"])


def test_summary_keeps_canary_and_roll_out_apart(run):
    s = summary_graph(run.activities, by="type", groups=run.groups)
    assert set(s.nodes) == {
        "Upgrade (bulk g1)",
        "Upgrade (bulk g2)",
        "Upgrade in g1",
        "Upgrade in g2",
        "Reboot",
    }
    assert {(u, v, r): c for u, v, r, c in s.edges(keys=True, data="count")} == {
        ("Upgrade (bulk g1)", "Upgrade in g1", "parent"): 2,
        ("Upgrade (bulk g1)", "Upgrade in g2", "progress_of"): 2,  # the gate
        ("Upgrade (bulk g2)", "Upgrade in g2", "parent"): 2,
        ("Upgrade in g2", "Reboot", "depends_on"): 1,
    }


def test_summary_figure_styles_edges_and_marks_the_critical_path(run, monkeypatch):
    # force the summarised picture
    monkeypatch.setattr("activitykit.reports.graph_figures.GRAPH_DRAW_LIMIT", 0)
    fig = F.graph_figure(run)
    arrows = _arrows(fig)
    by_style = sorted(a.get_linestyle() for a in arrows)
    assert by_style == ["dashed", "dotted", "dotted", "solid"]
    red = [a for a in arrows if tuple(a.get_edgecolor()[:3]) == (1.0, 0.0, 0.0)]
    assert sorted(a.get_linestyle() for a in red) == ["dashed", "solid"]  # g1 -> p1 -> r1
    assert "summarised" in fig.axes[0].get_title()
    assert "critical path in red (3 nodes)" in fig.axes[0].get_title()
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert set(EDGE_STYLES) <= set(legend)


def test_dot_export_styles_edges_like_the_figure(run, tmp_path):
    dot = write_dot(run.graph, tmp_path / "g.dot").read_text()
    assert '"g1" -> "p1" [label="progress_of", style=dashed];' in dot
    assert '"g1" -> "c1" [label="parent", style=dotted];' in dot
    assert '"p1" -> "r1" [label="depends_on", style=solid];' in dot


def test_a_waiter_canceled_while_waiting_is_not_released(tmp_path):
    # w1 is released at 50% canary progress; w2 is canceled before it; w3 still waits; w4
    # is released, then canceled while Queued: released. The old table gave w2
    # released_t=3, and the figure drew it as a release dot.
    gate = {"progress_of": "g1", "threshold": 0.5}
    recs = [r for r in canary_trace() if r.get("activity") not in ("p1", "p2", "r1", "g2")]
    recs += [
        _created("w1", "Waiting", **gate),
        _created("w2", "Waiting", **gate),
        {"t": 3.0, "event": "cancel", "activity": "w2"},
        _mv(3, "w2", "Waiting", "Canceled"),
        _created("w3", "Waiting", progress_of="g1", threshold=1.0, type="Other"),
        _created("w4", "Waiting", **gate),
        _mv(5, "w1", "Waiting", "In Progress"),
        _mv(5, "w4", "Waiting", "Queued"),
        {"t": 6.0, "event": "cancel", "activity": "w4"},
        _mv(6, "w4", "Queued", "Canceled"),
    ]
    recs = [r for r in recs if not (r.get("activity") == "w3" and r["event"] == "transition")]
    write_trace(sorted(recs, key=lambda r: r["t"]), tmp_path / "trace.jsonl")
    run = load_run(tmp_path)
    th = run.bulk[1].set_index("activity")
    assert th["outcome"].to_dict() == {
        "w1": "released",
        "w2": "canceled",
        "w3": "waiting",
        "w4": "released",
    }
    assert th.loc["w2", "canceled_t"] == 3.0 and th["released_t"].isna().to_dict() == {
        "w1": False,
        "w2": True,
        "w3": True,
        "w4": False,
    }
    fig = F.bulk_progress_figure(run)
    marks = {
        ln.get_marker(): np.asarray(ln.get_xdata()).tolist()
        for ln in fig.axes[0].lines
        if len(ln.get_xdata())
    }
    assert marks["x"] == [3.0 / 60]  # w2, drawn as canceled
    assert sorted(marks["o"]) == [5.0 / 60, 5.0 / 60]  # w1 and w4 only


def test_has_edges_agrees_with_the_edge_frame() -> None:
    import pandas as pd

    from activitykit.reports.graph import edge_frame, has_edges

    def acts(depends_on, progress_of=None, parent=None):
        n = len(depends_on)
        return pd.DataFrame(
            {
                "id": [f"a{i}" for i in range(n)],
                "depends_on": depends_on,
                "progress_of": [progress_of] * n,
                "parent": [parent] * n,
            }
        )

    cases = [
        acts([None, None]),
        acts([[], None]),  # an empty list is no edge
        acts([[None], None]),  # nor a list of nulls
        acts([None, ["a0"]]),
        acts([None, None], progress_of="a0"),
        acts([None, None], parent="g1"),
    ]
    assert [has_edges(a) for a in cases] == [len(edge_frame(a)) > 0 for a in cases]
    assert [has_edges(a) for a in cases] == [False, False, False, True, True, True]
