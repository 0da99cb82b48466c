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
        assert '"server:Scheduled" -> "server:Queued";' in out


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
