"""`activitykit check`: exit codes, output formats, JUnit, limits; never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from activitykit.cli import main

DATA = Path(__file__).parent / "data" / "traces"


def _bad_trace(tmp_path: Path) -> Path:
    lines = (DATA / "example.jsonl").read_text(encoding="utf-8").splitlines()
    lines[-1] = lines[-1].replace('"Succeeded"', '"Failed"')  # result says succeeded
    lines.append(
        '{"t": 200, "event": "created", "activity": "a2", "kind": "server", '
        '"type": "ArchiveRequest", "state": "Queued"}'
    )
    lines.append(
        '{"t": 201, "event": "transition", "activity": "a2", "from": "Queued", "to": "Succeeded"}'
    )
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_conformant_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(DATA / "example.jsonl")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("CONFORMANT")


def test_violations_exit_1_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(_bad_trace(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert (
        "line 7: C2 a1 t=150.2: moved to Failed but the result at the same t says succeeded" in out
    )
    assert "line 9: T3 a2" in out
    assert "VIOLATIONS: 2 (T3 1, C2 1)" in out


def test_json_output_and_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(_bad_trace(tmp_path)), "--format", "json", "--limit", "1"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert len(data["violations"]) == 1
    assert data["summary"]["violations_total"] == 2
    v = data["violations"][0]
    assert {v["rule"], v["activity"], v["line"]} == {"C2", "a1", 7}
    assert v["record"]["to"] == "Failed" and v["explanation"]


def test_junit_one_case_per_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "out.xml"
    assert main(["check", str(_bad_trace(tmp_path)), "--junit", str(junit)]) == 1
    suite = ET.parse(junit).getroot()
    cases = {c.get("name").split(":")[0]: c for c in suite.iter("testcase")}
    assert set(cases) == {"T1", "T2", "T3", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "STUCK"}
    assert cases["C2"].find("failure") is not None
    assert cases["T1"].find("failure") is None and cases["T1"].find("skipped") is None
    assert cases["STUCK"].find("skipped") is not None
    assert suite.get("failures") == "2"


def test_max_age_turns_unfinished_into_stuck(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"t": 0, "event": "created", "activity": "a", "kind": "server", "type": "ArchiveRequest", '
        '"state": "Queued"}\n{"t": 500, "event": "fault", "fault": "busy"}\n',
        encoding="utf-8",
    )
    assert main(["check", str(path)]) == 0
    assert "a (server) Queued since t=0, age 500 s" in capsys.readouterr().out
    assert main(["check", str(path), "--max-age", "600"]) == 0
    assert main(["check", str(path), "--max-age", "100"]) == 1
    assert "STUCK a" in capsys.readouterr().out


def test_profiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "late.jsonl"
    recs = [
        {
            "t": 0,
            "event": "created",
            "activity": "a",
            "kind": "client",
            "type": "ExecuteScriptRequest",
            "computer": "c",
            "state": "Queued",
        },
        {"t": 1, "event": "deliver", "activity": "a", "computer": "c", "operation_id": 1},
        {"t": 1, "event": "transition", "activity": "a", "from": "Queued", "to": "In Progress"},
        {"t": 2, "event": "cancel", "activity": "a"},
        {"t": 2, "event": "transition", "activity": "a", "from": "In Progress", "to": "Canceled"},
        {
            "t": 3,
            "event": "result",
            "activity": "a",
            "computer": "c",
            "operation_id": 1,
            "status": "failed",
        },
        {"t": 3, "event": "transition", "activity": "a", "from": "Canceled", "to": "Failed"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    assert main(["check", str(path)]) == 0
    assert main(["check", str(path), "--profile", "cancel-sticky"]) == 1
    assert "Canceled is final" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl"], "no such file"),
        (["--max-age", "-3", "x.jsonl"], "must be >= 0"),
        (["--limit", "many", "x.jsonl"], "not a whole number"),
        (["--profile", "lenient", "x.jsonl"], "invalid choice"),
    ],
)
def test_bad_input_and_usage_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = ["check", *[str(tmp_path / a) if a.endswith(".jsonl") else a for a in args]]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_bad_trace_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"t": 0, "event": "fault"}\n{"t": 1, "event": \n', encoding="utf-8")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: malformed JSON" in err


def test_installed_cli_never_shows_a_traceback(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(bytes(range(256)) * 16)
    for path, code in ((DATA / "example.jsonl", 0), (_bad_trace(tmp_path), 1), (garbage, 2)):
        proc = subprocess.run(
            [sys.executable, "-m", "activitykit", "check", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == code, proc.stderr
        assert "Traceback" not in proc.stderr
