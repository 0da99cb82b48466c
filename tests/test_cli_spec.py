from __future__ import annotations

import json
from pathlib import Path

import pytest

from activitykit.cli import main

SPEC_CLIENT = {
    "Queued": {"In Progress", "Canceled", "Blocked"},
    "Scheduled": {"In Progress", "Canceled"},
    "Waiting": {"Queued", "In Progress", "Canceled"},
    "Blocked": {"Queued", "Canceled", "Waiting"},
    "In Progress": {"Succeeded", "Failed", "Canceled"},
    "Succeeded": set(),
    "Failed": set(),
    "Canceled": set(),
}


@pytest.mark.parametrize("profile", ["result-wins", "cancel-sticky"])
def test_json_shape_equals_spec(profile: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "--format", "json", "--profile", profile]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"client", "server"}
    client = {k: set(v) for k, v in doc["client"]["transitions"].items()}
    server = {k: set(v) for k, v in doc["server"]["transitions"].items()}
    want_client = dict(SPEC_CLIENT)
    if profile == "result-wins":
        want_client["Canceled"] = {"Succeeded", "Failed"}
    assert client == want_client
    assert server == SPEC_CLIENT | {"Scheduled": {"Queued", "In Progress", "Canceled"}}
    for kind in ("client", "server"):
        assert doc[kind]["start"] == ["Queued", "Scheduled", "Waiting", "Blocked"]
    assert doc["server"]["final"] == ["Succeeded", "Failed", "Canceled"]
    assert ("Canceled" in doc["client"]["final"]) == (profile == "cancel-sticky")


@pytest.mark.parametrize("fmt", ["table", "mermaid", "dot"])
def test_text_formats(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "--format", fmt, "--kind", "server"]) == 0
    out = capsys.readouterr().out
    assert "Scheduled" in out and "client" not in out.replace("Landscape Client", "")
    if fmt == "mermaid":
        assert "Scheduled --> Queued" in out and "[*] --> Blocked" in out
    if fmt == "dot":
        assert '"server:Scheduled" -> "server:Queued" [label="enqueue (when due)"];' in out


def test_png(tmp_path: Path) -> None:
    out = tmp_path / "spec.png"
    assert main(["spec", "--format", "png", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000


def test_png_needs_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "--format", "png"]) == 2
    assert "needs -o FILE" in capsys.readouterr().err


def test_bad_usage_exits_2() -> None:
    with pytest.raises(SystemExit) as err:
        main(["spec", "--kind", "robot"])
    assert err.value.code == 2


def test_table_marks_start_states_in_their_own_column(capsys: pytest.CaptureFixture[str]) -> None:
    # The old table ended each start state's row with "(start)", after its targets, so
    # "Queued  Blocked, In Progress, Canceled (start)" read as if Canceled were a start state.
    assert main(["spec", "--kind", "client"]) == 0
    out = capsys.readouterr().out
    assert "(start)" not in out and "(final)" not in out
    lines = out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["state", "role"])
    cols = [lines[head].index(c) for c in ("role", "may move to", "on")]
    rows = []
    for ln in lines[head + 1 :]:
        ln = ln.ljust(cols[2] + 1)
        state, role = ln[: cols[0]].strip(), ln[cols[0] : cols[1]].strip()
        rows.append((state, role, ln[cols[1] : cols[2]].strip(), ln[cols[2] :].strip()))
    roles = {s: r for s, r, _, _ in rows if s}
    assert roles == {
        "Queued": "start", "Scheduled": "start", "Waiting": "start", "Blocked": "start",
        "In Progress": "", "Succeeded": "final", "Failed": "final", "Canceled": "",
    }  # fmt: skip
    moves = [(t, on) for _, _, t, on in rows if t != "-"]
    assert len(moves) == 16 and all(on for _, on in moves)  # every move says its trigger
    assert ("Waiting", "approve (dependencies unmet)") in moves


@pytest.mark.parametrize("profile", ["result-wins", "cancel-sticky"])
def test_every_move_has_its_trigger(profile: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "--format", "json", "--profile", profile]) == 0
    doc = json.loads(capsys.readouterr().out)
    for kind in ("client", "server"):
        trig = doc[kind]["triggers"]
        assert {s: set(v) for s, v in trig.items()} == {
            s: set(v) for s, v in doc[kind]["transitions"].items()
        }
        assert all(label for targets in trig.values() for label in targets.values())
    assert doc["client"]["triggers"]["Queued"]["In Progress"] == "deliver"
    assert doc["server"]["triggers"]["Queued"]["In Progress"] == "consume"
    assert main(["spec", "--format", "mermaid", "--kind", "server"]) == 0
    assert "Scheduled --> Queued : enqueue (when due)" in capsys.readouterr().out


def test_png_arrows_have_their_own_ends_and_labels() -> None:
    from matplotlib.patches import FancyArrowPatch

    from activitykit.model import Kind, Profile
    from activitykit.model import render as r

    ds = r.diagrams([Kind.CLIENT, Kind.SERVER], Profile.RESULT_WINS)
    for d in ds:
        geo = r.edge_geometry(d)
        assert [(e.src, e.dst) for e in geo] == list(d.edges)
        ends = [(e.tail, "tail", e.src) for e in geo] + [(e.head, "head", e.dst) for e in geo]
        for i, (p, _, box) in enumerate(ends):
            x, y = r._POS[box]  # every end sits on its own box's border
            on_side = abs(abs(p[0] - x) - r._HALF_W) < 1e-9 or abs(abs(p[1] - y) - r._HALF_H) < 1e-9
            assert on_side, (box, p)
            for q, _, _ in ends[i + 1 :]:  # no head on a tail, no two ends in one point
                assert ((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2) ** 0.5 > 0.05, (p, q)
        assert all(e.label for e in geo)
    fig = r.figure(ds)
    for ax, d in zip(fig.axes, ds, strict=True):
        arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
        assert len(arrows) == len(d.edges)
        texts = {t.get_text() for t in ax.texts}
        assert {r.wrap_label(label) for label in d.triggers} <= texts


def test_a_machine_needs_a_trigger_for_every_move() -> None:
    from activitykit.model import MACHINES, Kind, MachineDefinitionError, Profile, StateMachine

    m = MACHINES[(Kind.SERVER, Profile.RESULT_WINS)]
    partial = dict(m.triggers)
    partial.pop(next(iter(partial)))
    with pytest.raises(MachineDefinitionError, match="unlabelled"):
        StateMachine(m.kind, m.profile, m.start, m.final, m.transitions, triggers=partial)
