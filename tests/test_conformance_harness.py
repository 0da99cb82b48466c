"""The harness against misbehaving IUTs, and the ``activitykit conform`` command end to end.

Misbehaving IUTs are the reference model with one failure mode switched on at one command
(hang, hang ignoring SIGTERM, crash, garbage, wrongly typed reply, refused hello). Each
must be reported within bounded time, naming the request that provoked it, with no
process left behind.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from activitykit.cli import main
from activitykit.conformance import (
    CASES,
    IUTStartError,
    PythonIUT,
    ReferenceSystem,
    SubprocessIUT,
    load_python_iut,
    run_suite,
)
from activitykit.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
PY = shlex.quote(sys.executable)
REFERENCE_IUT = f"{PY} {shlex.quote(str(ROOT / 'examples/iut/reference_iut.py'))}"

BAD_IUT = r"""
import json, os, signal, sys, time
from activitykit.conformance import ReferenceSystem

mode, trigger = sys.argv[1], sys.argv[2]
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(os.environ["PIDFILE"], "a") as fh:
    fh.write(f"{os.getpid()}\n")
ref = ReferenceSystem()
for line in sys.stdin:
    req = json.loads(line)
    reply = ref.handle(req)
    if req["cmd"] == trigger:
        if mode in ("hang", "stubborn"):
            time.sleep(3600)
        elif mode == "crash":
            sys.stderr.write("boom: simulated crash\n")
            sys.stderr.flush()
            sys.exit(3)
        elif mode == "garbage":
            print("<html>500 Internal Server Error</html>", flush=True)
            continue
        elif mode == "wrongtype":
            reply["id"] = str(reply["id"])
        elif mode == "twice":  # a canned early answer to the next request, then the reply
            print(json.dumps(reply), flush=True)
        elif mode == "twice-late":  # the same, written after the next request has gone out
            print(json.dumps(reply), flush=True)
            time.sleep(0.3)
        elif mode == "latin1":
            sys.stdout.buffer.write(json.dumps(reply).replace("ok", "\u00e9").encode("latin-1"))
            sys.stdout.buffer.write(b"\xe9\n")
            sys.stdout.flush()
            continue
        elif mode == "refuse":
            reply = {"id": req["id"], "status": "refused", "reason": "profile not supported"}
    print(json.dumps(reply), flush=True)
"""


@pytest.fixture
def bad_iut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    script = tmp_path / "bad_iut.py"
    script.write_text(BAD_IUT)
    pidfile = tmp_path / "pids"
    pidfile.touch()
    monkeypatch.setenv("PIDFILE", str(pidfile))

    def make(mode: str, trigger: str, prefix: str = "") -> str:
        return f"{prefix}{PY} {shlex.quote(str(script))} {mode} {trigger}"

    make.pidfile = pidfile  # type: ignore[attr-defined]
    return make


def _assert_all_gone(pidfile: Path, allow_none: bool = False) -> None:
    pids = [int(p) for p in pidfile.read_text().split()]
    assert pids or allow_none, "the IUT never started"
    deadline = time.monotonic() + 2.0
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            # A zombie is dead too; anything else is a leftover.
            stat = Path(f"/proc/{pid}/stat")
            if stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"):
                continue
            alive.append(pid)
        time.sleep(0.05)
    assert not alive, f"processes left behind: {alive}"


def _cases(*names: str):
    return [CASES[n] for n in names]


# -- misbehaving IUTs --------------------------------------------------------------------------
def test_hanging_iut_ignoring_sigterm_is_bounded_and_killed(bad_iut) -> None:
    # A grandchild (`sleep`) in the same process group must go too.
    cmd = bad_iut("stubborn", "create", prefix=f"sleep 300 & echo $! >> {bad_iut.pidfile}; exec ")
    started = time.monotonic()
    report = run_suite(SubprocessIUT(cmd, timeout=0.5), examples=5)
    elapsed = time.monotonic() - started
    outcomes = [r.outcome for r in report.results]
    assert outcomes[:3] == ["error"] * 3
    assert set(outcomes[3:]) == {"skipped"}
    first = report.results[0]
    assert first.note == "timeout"
    assert "no reply within 0.5 s" in first.deviation.message
    assert '"cmd": "create"' in first.deviation.message
    assert report.exit_code == 1
    assert elapsed < 20, elapsed
    _assert_all_gone(bad_iut.pidfile)


def test_crashing_iut_is_reported_and_restarted(bad_iut) -> None:
    iut = SubprocessIUT(bad_iut("crash", "exchange"), timeout=2)
    report = run_suite(
        iut, cases=_cases("client/queued-succeeded", "server/queued-succeeded"), stateful=False
    )
    crashed, fine = report.results
    assert crashed.outcome == "error" and crashed.note == "crash"
    msg = crashed.deviation.message
    assert "exit status 3" in msg and "boom: simulated crash" in msg
    assert '"cmd": "exchange"' in msg
    assert fine.outcome == "pass"  # a fresh process served the next case
    assert len(bad_iut.pidfile.read_text().split()) == 2
    _assert_all_gone(bad_iut.pidfile)


def test_garbage_speaking_iut_is_reported(bad_iut) -> None:
    report = run_suite(
        SubprocessIUT(bad_iut("garbage", "consume"), timeout=2),
        cases=_cases("server/queued-succeeded"),
        stateful=False,
    )
    (r,) = report.results
    assert r.outcome == "error" and r.note == "garbage"
    assert "not JSON" in r.deviation.message and "500 Internal Server Error" in r.deviation.message
    assert '"cmd": "consume"' in r.deviation.message
    _assert_all_gone(bad_iut.pidfile)


def test_wrongly_typed_reply_is_reported(bad_iut) -> None:
    report = run_suite(
        SubprocessIUT(bad_iut("wrongtype", "exchange"), timeout=2),
        cases=_cases("client/queued-succeeded"),
        stateful=False,
    )
    (r,) = report.results
    assert r.outcome == "error" and r.note == "invalid"
    assert "id: Input should be a valid integer" in r.deviation.message
    _assert_all_gone(bad_iut.pidfile)


def test_iut_that_refuses_hello_or_does_not_exist_cannot_start(bad_iut, capsys) -> None:
    with pytest.raises(IUTStartError, match="profile not supported"):
        run_suite(SubprocessIUT(bad_iut("refuse", "hello"), timeout=2))
    assert main(["conform", "--iut", bad_iut("refuse", "hello"), "--examples", "0"]) == 2
    assert main(["conform", "--iut", "/nonexistent/iut --flag", "--examples", "0"]) == 2
    err = capsys.readouterr().err
    assert "could not be started" in err and "/nonexistent/iut" in err
    _assert_all_gone(bad_iut.pidfile)


def test_hang_on_hello_is_bounded(bad_iut) -> None:
    iut = SubprocessIUT(bad_iut("hang", "hello"), timeout=0.3, start_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(IUTStartError, match="timeout"):
        run_suite(iut)
    assert time.monotonic() - started < 5
    # On a loaded machine the IUT may be killed before it wrote its pid: that is fine.
    _assert_all_gone(bad_iut.pidfile, allow_none=True)


def test_python_adapter_reports_exceptions_and_bad_specs() -> None:
    class Exploding(ReferenceSystem):
        def _exchange(self, req):
            raise RuntimeError("kaboom")

    report = run_suite(
        PythonIUT(Exploding()), cases=_cases("client/queued-succeeded"), stateful=False
    )
    assert report.results[0].note == "exception"
    assert "kaboom" in report.results[0].deviation.message
    for spec in ("nocolon", "no_such_module_xyz:Thing", "activitykit.conformance:Nope"):
        with pytest.raises(InputError, match="--iut-python"):
            load_python_iut(spec)


# -- the command ---------------------------------------------------------------------------
def test_reference_subprocess_passes_everything(tmp_path: Path, capsys) -> None:
    junit, trace = tmp_path / "junit.xml", tmp_path / "trace.jsonl"
    args = ["conform", "--iut", REFERENCE_IUT, "--examples", "5", "--junit", str(junit)]
    code = main([*args, "--trace", str(trace), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["exit_code"] == 0
    assert doc["counts"] == {"pass": len(CASES) + 1}
    assert doc["trace_check"]["ran"] and doc["trace_check"]["ok"]
    assert doc["implementation"] == "activitykit-reference"
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and len(suite.findall("testcase")) == len(CASES) + 2
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert records[0]["event"] == "created" and len(records) == doc["trace_check"]["records"]
    ts = [r["t"] for r in records]
    assert ts == sorted(ts)


def test_mutant_fails_with_evidence_and_replay_reproduces(tmp_path: Path, capsys) -> None:
    mutant = f"{PY} {shlex.quote(str(ROOT / 'examples/iut/mutants/client_scheduled_to_queued.py'))}"
    ce = tmp_path / "ce.jsonl"
    code = main(
        [
            "conform",
            "--iut",
            mutant,
            "--examples",
            "20",
            "--seed",
            "0",
            "--shrink-seconds",
            "2",
            "--counterexample",
            str(ce),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "client/scheduled-not-before" in out and "FAIL" in out
    assert "forbidden move: a client activity may not move Scheduled -> Queued" in out
    assert "replay: activitykit conform --replay" in out
    lines = ce.read_text().splitlines()
    assert json.loads(lines[0])["replay"] == "activitykit-replay/1"
    assert 1 <= len(lines) - 1 <= 5  # shrunk to a handful of steps
    assert main(["conform", "--replay", str(ce), "--iut", mutant]) == 1
    assert "replay" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["conform", "--replay", str(ce), "--iut", REFERENCE_IUT, "--format", "json"]) == 0
    (case,) = json.loads(capsys.readouterr().out)["cases"]
    assert case["title"] == f"{len(lines) - 1} steps from {ce}"


def test_usage_errors_exit_2(tmp_path: Path, capsys) -> None:
    ref = "activitykit.conformance.reference:ReferenceSystem"
    assert main(["conform", "--iut-python", ref, "--case", "client/queued-succeded"]) == 2
    assert "did you mean" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"cmd": "create"}\n{"cmd": "fly"}\n')
    assert main(["conform", "--iut-python", ref, "--replay", str(bad)]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err
    for timeout in ("0", "nan", "inf", "1e9"):  # argparse refuses them: exit 2
        with pytest.raises(SystemExit) as exc:
            main(["conform", "--iut-python", ref, "--timeout", timeout])
        assert exc.value.code == 2
        assert "--timeout: " in capsys.readouterr().err
    assert main(["conform"]) == 2
    assert "--iut COMMAND" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["conform", "--iut", "x", "--iut-python", "y:Z"])
    assert exc.value.code == 2


def test_case_family_selection_and_list(capsys) -> None:
    ref = "activitykit.conformance.reference:ReferenceSystem"
    assert main(["conform", "--iut-python", ref, "--case", "server/", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {c["case"] for c in doc["cases"]} == {n for n in CASES if n.startswith("server/")}
    assert main(["conform", "--list"]) == 0
    assert "forbidden/client/succeeded" in capsys.readouterr().out


class _RecordingReference(ReferenceSystem):
    """The reference, keeping every request it was sent (without its id)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[str] = []

    def handle(self, request: dict) -> dict:
        self.requests.append(json.dumps({k: v for k, v in request.items() if k != "id"}))
        return super().handle(request)


def test_stateful_draws_do_not_depend_on_imported_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hypothesis draws some values from literals found in the modules imported so far;
    a seeded run must not see them (test order, xdist and a fresh clone changed them)."""
    from activitykit.conformance.runner import Session
    from activitykit.conformance.stateful import run_stateful

    def requests() -> list[str]:
        ref = _RecordingReference()
        session = Session(PythonIUT(ref))
        session.ensure_started()
        assert run_stateful(session, examples=60, seed=1).result.outcome == "pass"
        return ref.requests

    before = requests()
    # A module full of literals in every range the run draws from (batch sizes, indices).
    literals = ", ".join(str(n) for n in range(100, 400))
    floats = ", ".join(f"{n}.5" for n in range(0, 300))
    (tmp_path / "literal_soup.py").write_text(f"INTS = ({literals})\nFLOATS = ({floats})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import literal_soup  # type: ignore[import-not-found]

    monkeypatch.setitem(sys.modules, "literal_soup", literal_soup)  # removed afterwards
    assert requests() == before


def test_stateful_is_deterministic_under_a_seed() -> None:
    from activitykit.conformance.runner import Session
    from activitykit.conformance.stateful import run_stateful

    sys.path.insert(0, str(ROOT / "examples/iut/mutants"))
    try:
        from ignores_approval import Mutant  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    found = []
    for _ in range(2):
        session = Session(PythonIUT(Mutant()))
        session.ensure_started()
        outcome = run_stateful(session, examples=100, seed=0, shrink_seconds=60)
        assert outcome.result.outcome == "fail"
        found.append(outcome.counterexample)
    assert found[0] == found[1]
    assert [s["cmd"] for s in found[0]] == ["create", "exchange"]  # shrunk to the bug itself


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_iut_written_from_the_document_passes() -> None:
    iut = SubprocessIUT(f"node {shlex.quote(str(ROOT / 'examples/iut/node/iut.js'))}", timeout=5)
    report = run_suite(iut, profile="cancel-sticky", examples=10, shrink_seconds=5)
    assert [r.name for r in report.failed] == []
    assert report.implementation == "node-example"
    assert report.trace.ok and report.exit_code == 0


def test_iut_failure_inside_the_stateful_run_is_reported(bad_iut) -> None:
    iut = SubprocessIUT(bad_iut("crash", "exchange"), timeout=2)
    started = time.monotonic()
    report = run_suite(iut, cases=[], examples=20, shrink_seconds=2)
    (r,) = report.results
    assert r.name == "stateful" and r.outcome == "error"
    assert r.note.startswith("crash")
    assert '"cmd": "exchange"' in r.deviation.message
    assert r.deviation.request["cmd"] == "exchange"
    assert time.monotonic() - started < 30
    _assert_all_gone(bad_iut.pidfile)


def test_counterexample_goes_beside_the_trace_or_to_temp_never_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import tempfile

    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    mutant = "ignores_approval:Mutant"
    monkeypatch.syspath_prepend(str(ROOT / "examples/iut/mutants"))
    args = ["conform", "--iut-python", mutant, "--examples", "20", "--shrink-seconds", "1"]
    assert main(args) == 1
    out = capsys.readouterr().out
    (saved,) = (tmp / "activitykit-conform").glob("counterexample-*.jsonl")
    assert f"saved to {saved}" in out and f"--replay {saved}" in out
    assert list(cwd.iterdir()) == []
    trace = tmp_path / "out" / "session.jsonl"
    trace.parent.mkdir()
    assert main([*args, "--trace", str(trace)]) == 1
    assert (tmp_path / "out" / "session.counterexample.jsonl").is_file()
    assert (
        f"saved to {tmp_path / 'out' / 'session.counterexample.jsonl'}" in capsys.readouterr().out
    )
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("mode", ["twice", "twice-late"])
def test_duplicate_reply_is_blamed_on_the_step_that_got_it(bad_iut, mode: str) -> None:
    """Found waiting before the next request, or read in its place: the same report."""
    report = run_suite(
        SubprocessIUT(bad_iut(mode, "consume"), timeout=2),
        cases=_cases("server/queued-succeeded", "client/queued-succeeded"),
        stateful=False,
    )
    guilty, innocent = report.results
    assert guilty.outcome == "error" and guilty.note == "extra", guilty.deviation
    assert guilty.deviation is not None
    assert guilty.deviation.request["cmd"] == "consume"
    assert "extra reply" in guilty.deviation.message
    assert innocent.outcome == "pass"
    _assert_all_gone(bad_iut.pidfile)


def test_invalid_utf8_is_an_encoding_error(bad_iut) -> None:
    report = run_suite(
        SubprocessIUT(bad_iut("latin1", "consume"), timeout=2),
        cases=_cases("server/queued-succeeded"),
        stateful=False,
    )
    (r,) = report.results
    assert r.outcome == "error" and r.note == "encoding"
    assert "not valid UTF-8" in r.deviation.message and "not JSON" not in r.deviation.message
    _assert_all_gone(bad_iut.pidfile)


def test_a_session_where_every_case_errored_checked_nothing(bad_iut) -> None:
    from activitykit.conformance.report import render_text

    report = run_suite(
        SubprocessIUT(bad_iut("crash", "reset"), timeout=2),
        cases=_cases("server/queued-succeeded", "client/queued-succeeded"),
        stateful=False,
    )
    assert {r.outcome for r in report.results} <= {"error", "skipped"}
    assert not report.trace.ran and "nothing was checked" in report.trace.note
    text = render_text(report)
    assert "trace-check pass" not in text and "nothing was checked" in text
    assert report.exit_code == 1
