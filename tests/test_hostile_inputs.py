"""Hostile and careless input to the command line: refused with exit 2 and a clear message.

Each class of input here once gave a traceback, a hang or a silently wrong run (issue 16):
deep nesting, recursive aliases, values the simulator cannot run, oversized files, output
paths below a file, damaged sweep stores, unreachable schedulers, runs that could never
drain, empty files and empty paths. Every refusal must exit 2, name the file (and line) or
the option, the field and the rule, and print no traceback.

Inputs that could exhaust the stack or memory run the CLI in a subprocess under an
address-space limit, so that a regression fails the test instead of taking the machine.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from activitykit.cli import main
from activitykit.experiments import execute
from activitykit.scenario.schema import Scenario

#: Address space of a CLI subprocess: ample for the kit (about 0.5 GiB), far below what the
#: inputs here would take if read whole or expanded.
MEMORY_LIMIT = 2 * 1024**3


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def cli_limited(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``activitykit ARGS`` in a subprocess with ``MEMORY_LIMIT`` and a time limit."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "activitykit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,
    )


def refused_limited(*args: str, cwd: Path, timeout: float = 120) -> str:
    """Run limited; assert a clean refusal; return stderr."""
    proc = cli_limited(*args, cwd=cwd, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    return proc.stderr


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``activitykit ARGS`` in this process; assert a clean refusal; return stderr."""
    rc = main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert rc == 2, err
    return err


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- 1. deep nesting --------------------------------------------------------------------
def _block(levels: int) -> str:
    lines = ["name:"] + ["  " * (i + 1) + f"k{i}:" for i in range(levels)]
    return "\n".join(lines) + " v\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("name: " + "[" * 300 + "]" * 300 + "\n", 1, id="flow-300"),
        pytest.param("name: " + "[" * 5000 + "]" * 5000 + "\n", 1, id="flow-5000"),
        pytest.param(
            "fleet:\n  groups:\n    - name: a\n      handlers: " + "{a: " * 400 + "1" + "}" * 400,
            4,
            id="flow-in-a-section",
        ),
        pytest.param(_block(400), 33, id="block-400"),
    ],
)
def test_deep_nesting_is_refused_with_its_line(tmp_path: Path, text: str, line: int) -> None:
    path = write(tmp_path, text)
    err = refused_limited("scenario", "validate", str(path), cwd=tmp_path)
    assert f"{path}:{line}: nested more than 32 levels deep" in err
    assert len(err) < 1000  # the document is not echoed back


def test_nesting_through_aliases_is_refused(tmp_path: Path) -> None:
    # each alias adds the levels of the value it stands for without composing them again
    ten = "[" * 10 + "{}" + "]" * 10
    text = f"x: &a {ten}\n" + "".join(
        f"y{i}: &{chr(98 + i)} {'[' * 10}*{chr(97 + i)}{']' * 10}\n" for i in range(3)
    )
    path = write(tmp_path, text)
    err = refused_limited("scenario", "validate", str(path), cwd=tmp_path)
    assert "nested more than 32 levels deep" in err


def test_deep_set_values_and_keys_are_refused_briefly(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\n")
    deep = "[" * 400 + "]" * 400
    err = refused_limited("scenario", "show", str(path), "--set", f"name={deep}", cwd=tmp_path)
    assert "nested more than 32 levels deep" in err and len(err) < 1000
    key = ".".join(["a"] * 5000)
    err = refused_limited("scenario", "show", str(path), "--set", f"{key}=1", cwd=tmp_path)
    assert "the key has 5000 parts" in err and len(err) < 1000


# --- 2. recursive aliases ---------------------------------------------------------------
def test_a_recursive_alias_in_a_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nfleet: &a {groups: [*a]}\n")
    err = refused_limited("scenario", "validate", str(path), cwd=tmp_path)
    assert f"{path}:2: a YAML alias refers to a value that contains it" in err


def test_a_recursive_alias_in_set_and_grid_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\n")
    err = refused_limited(
        "scenario", "show", str(path), "--set", "fleet=&a {groups: [*a]}", cwd=tmp_path
    )
    assert "--set fleet=&a {groups: [*a]}" in err and "recursive alias" in err
    err = refused_limited(
        "sweep", str(path), "--grid", "fleet=&a {groups: [*a]}", "--workers", "1", cwd=tmp_path
    )
    assert "--grid fleet" in err and "recursive alias" in err


# --- 3. values the simulator cannot run ---------------------------------------------------
ARRIVAL = "workload: {arrivals: [{name: a, type: GenerateUsgReportActivity, rate: %s}]}\n"


@pytest.mark.parametrize(
    ("text", "field", "rule"),
    [
        ("duration: .inf\n", "duration", "finite number"),
        ("duration: 7200\nwarmup: .nan\n", "warmup", "finite number"),
        (ARRIVAL % ".inf", "workload.arrivals[0].rate", "finite number"),
        (ARRIVAL % "1.0e+300", "workload.arrivals[0].rate", "the limit is 5,000,000"),
        (
            "fleet: {groups: [{computers: 100000000000000000000}]}\n",
            "fleet.groups[0].computers",
            "less than or equal to 10000000",
        ),
        (
            "fleet: {groups: [{name: a, computers: 6000000}, {name: b, computers: 6000000}]}\n",
            "fleet.groups[0].computers",
            "12,000,000 computers in all; the limit is 10,000,000",
        ),
        (
            "fleet: {groups: [{exchange_interval: 1.0e-300}]}\n",
            "fleet.groups[0].exchange_interval",
            "greater than or equal to 1",
        ),
        ("drain_limit: 1.0e+12\n", "drain_limit", "less than or equal to 31536000"),
        (
            "workload: {batches: [{name: b, type: ExecuteScriptRequest, count: 100000000000}]}\n",
            "workload.batches[0].count",
            "less than or equal to 5000000",
        ),
        ("server: {job_handlers: 100000000000000000000}\n", "server.job_handlers", "1000"),
        (
            "faults: {job_handler_crash: {mtbf: 1.0e-9}}\n",
            "faults.job_handler_crash.mtbf",
            "greater than or equal to 1",
        ),
        (
            "fleet: {groups: [{restarts: {rate_per_day: 1.0e+9}}]}\n",
            "fleet.groups[0].restarts.rate_per_day",
            "fault events expected",
        ),
    ],
)
def test_validation_refuses_what_the_simulator_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, field: str, rule: str
) -> None:
    path = write(tmp_path, "name: hostile\n" + text)
    err = refused(capsys, "scenario", "validate", str(path))
    assert f"{path}:" in err and f": {field}: " in err and rule in err
    # and `run` refuses it the same way, before simulating anything
    err = refused(capsys, "run", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert f": {field}: " in err and not (tmp_path / "out").exists()


#: Fields that had no upper bound: each passed validation, then a run hung or ran out of
#: memory (a prefetch of 10^30 opened broker requests for ever).
UNBOUNDED = [
    (
        "server: {prefetch: 1000000000000000000000000000000}\n",
        "server.prefetch",
        "less than or equal to 65535",
    ),
    (
        "server: {job_handlers: 1000, prefetch: 1000}\n",
        "server.prefetch",
        "keep 1,000,000 job requests open at once; the limit is 100,000",
    ),
    (
        "fleet: {groups: [{default_handler: {duration: "
        "{dist: lognormal, mean: 10, sigma: 1.0e+200}}}]}\n",
        "fleet.groups[0].default_handler.duration.sigma",
        "less than or equal to 5",
    ),
    (
        "fleet: {groups: [{max_messages_per_exchange: 1000000000000000000000000000000}]}\n",
        "fleet.groups[0].max_messages_per_exchange",
        "less than or equal to 1000000",
    ),
    ("seed: " + "9" * 400 + "\n", "seed", "less than or equal to 9223372036854775807"),
]


@pytest.mark.parametrize(("text", "field", "rule"), UNBOUNDED)
def test_validation_bounds_what_had_no_upper_bound(
    tmp_path: Path, text: str, field: str, rule: str
) -> None:
    path = write(tmp_path, "name: hostile\n" + text)
    err = refused_limited("scenario", "validate", str(path), cwd=tmp_path, timeout=60)
    assert f"{path}:" in err and f": {field}: " in err and rule in err
    out = tmp_path / "out"
    err = refused_limited("run", str(path), "--out", str(out), "--quiet", cwd=tmp_path, timeout=60)
    assert f": {field}: " in err and not out.exists()


# --- 5. scenario file size ----------------------------------------------------------------
@pytest.mark.parametrize("command", [("scenario", "validate"), ("run",)])
def test_dev_zero_is_refused_at_once(tmp_path: Path, command: tuple[str, ...]) -> None:
    started = time.monotonic()
    err = refused_limited(*command, "/dev/zero", cwd=tmp_path, timeout=60)
    assert "/dev/zero: larger than 1 MiB, the limit for a scenario file" in err
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("command", [("scenario", "validate"), ("scenario", "show"), ("run",)])
def test_a_fifo_as_scenario_file_does_not_wait_for_a_writer(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """No one writes to it: it is read as empty, at once (the open waited for ever)."""
    fifo = tmp_path / "s.yaml"
    os.mkfifo(fifo)
    err = refused_limited(*command, str(fifo), cwd=tmp_path, timeout=60)
    assert f"{fifo}: the file has no settings" in err


def test_a_scenario_piped_in_is_read(tmp_path: Path) -> None:
    """``cat s.yaml | activitykit scenario validate /dev/stdin``, as before."""
    proc = subprocess.run(
        [sys.executable, "-m", "activitykit", "scenario", "validate", "/dev/stdin"],
        input=BASELINE.read_bytes(), capture_output=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_a_200_mb_scenario_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:  # sparse: no disk or time spent writing it
        f.write(b"name: big\n# ")
        f.truncate(200 * 1024**2)
    started = time.monotonic()
    err = refused_limited("scenario", "validate", str(big), cwd=tmp_path, timeout=60)
    assert f"{big}: larger than 1 MiB" in err
    assert time.monotonic() - started < 30


def test_a_file_just_over_the_cap_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "name: x\n" + "# padding\n" * 110_000)
    assert "larger than 1 MiB" in refused(capsys, "scenario", "validate", str(path))


# --- 6. output paths and sweep stores ------------------------------------------------------
def fake_run(scenario: Scenario, run_dir: Path | None) -> dict[str, float]:
    rng = np.random.default_rng(scenario.seed)
    return {"client.total.p90": 60.0 / scenario.server.job_handlers + rng.normal()}


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(execute, "default_run", fake_run)
    monkeypatch.chdir(tmp_path)  # a default runs/ lands here, never in the repository
    return write(tmp_path, "name: tiny\nduration: 600\nfleet: {groups: [{computers: 5}]}\n")


@pytest.mark.parametrize("extra", [(), ("--replications", "2")])
def test_run_out_below_a_file_is_refused(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...]
) -> None:
    afile = write(tmp_path, "not a directory\n", "afile")
    err = refused(capsys, "run", str(tiny), "--out", str(afile / "sub"), "--quiet", *extra)
    assert f"--out {afile / 'sub'}: {afile} is a file, so no directory can be created" in err


def test_sweep_out_naming_a_file_is_refused(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = write(tmp_path, "not a directory\n", "afile")
    args = ("sweep", str(tiny), "--grid", "server.job_handlers=1,2", "--workers", "1", "--quiet")
    err = refused(capsys, *args, "--out", str(afile))
    assert f"--out {afile}: exists and is not a directory" in err
    err = refused(capsys, *args, "--out", str(afile / "sub"))
    assert f"{afile} is a file" in err
    assert afile.read_text() == "not a directory\n"


def test_a_truncated_runs_table_is_named_with_the_way_out(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    args = ("sweep", str(tiny), "--grid", "server.job_handlers=1,2", "--workers", "1")
    assert main([*args, "--out", str(out), "--quiet", "--no-report"]) == 0
    runs = out / "runs.parquet"
    data = runs.read_bytes()
    runs.write_bytes(data[: len(data) // 2])
    err = refused(capsys, *args, "--out", str(out), "--quiet")
    assert f"{runs}: cannot be read as a Parquet table" in err
    assert "move it away" in err
    assert runs.read_bytes() == data[: len(data) // 2]  # left as it was, for a rescue


def test_a_runs_table_holding_a_run_twice_is_refused_not_averaged(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "sweep"
    assert main(_swept(tiny, out)) == 0
    runs = out / "runs.parquet"
    table = pq.read_table(runs)
    pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), runs)  # (keeps its metadata)
    before = runs.read_bytes()
    err = refused(capsys, *_swept(tiny, out))
    assert f"{runs}: holds run {table.column('run_id')[0].as_py()!r} more than once" in err
    assert runs.read_bytes() == before


def test_a_sweep_manifest_that_is_no_object_is_refused(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "sweep.json").write_text("[1, 2]\n")
    err = refused(capsys, "sweep", str(tiny), "--workers", "1", "--out", str(out), "--quiet")
    assert f"{out / 'sweep.json'}: not a sweep manifest" in err


# --- 7. unreachable schedulers --------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(60)
def test_a_scheduler_nobody_listens_on_is_refused_at_once(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    err = refused(capsys, "sweep", str(tiny), "--scheduler", address, "--quiet")
    assert f"--scheduler {address}: cannot connect" in err
    assert time.monotonic() - started < execute.CONNECT_TIMEOUT


@pytest.mark.timeout(60)
def test_a_silent_listener_is_refused_within_the_connect_timeout(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        err = refused(capsys, "sweep", str(tiny), "--scheduler", address, "--quiet")
    assert f"--scheduler {address}:" in err and "sent no dask handshake" in err
    assert time.monotonic() - started < execute.CONNECT_TIMEOUT + 5


def test_a_malformed_scheduler_address_is_refused(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(capsys, "sweep", str(tiny), "--scheduler", "a:b:c", "--quiet")
    assert "--scheduler a:b:c: not a scheduler address" in err


# --- 8. runs that could never drain ---------------------------------------------------------
DRAINED = (
    "name: drain\nrun_until: drained\nserver: {job_handlers: 0}\n"
    "workload: {arrivals: [{name: a, type: GenerateUsgReportActivity, rate: 0.01}]}\n"
)


def test_drained_without_job_handlers_for_server_work_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, DRAINED)
    err = refused(capsys, "scenario", "validate", str(path))
    assert f"{path}:3: server.job_handlers: run_until is drained but there are no job-handlers" in (
        err
    )
    assert "workload.arrivals[0] (GenerateUsgReportActivity)" in err and "drain_limit" in err


@pytest.mark.parametrize(
    "extra",
    [
        "",  # no server work: nothing waits for a job-handler
        "cancellations: {probability: 1.0}\n",  # every one is canceled: it drains
    ],
)
def test_drained_without_job_handlers_is_fine_when_it_can_drain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str
) -> None:
    text = DRAINED if extra else DRAINED.split("workload")[0]
    path = write(tmp_path, text + extra)
    assert main(["scenario", "validate", str(path)]) == 0, capsys.readouterr().err


# --- 13. empty inputs ---------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "\n\n", "# a comment only\n"])
def test_an_empty_scenario_file_is_refused_with_the_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = write(tmp_path, text)
    err = refused(capsys, "run", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert f"{path}: the file has no settings" in err and "name: defaults" in err
    assert not (tmp_path / "out").exists()
    assert "has no settings" in refused(capsys, "scenario", "validate", str(path))


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_an_empty_out_is_refused(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    for empty in ("", "  "):
        err = refused(capsys, command, str(tiny), "--out", empty, "--quiet")
        assert f"--out {empty!r}: an empty path" in err
    assert not (tmp_path / "runs").exists()


# --- 4, 5, 13. hostile traces ---------------------------------------------------------------
EXAMPLE = Path(__file__).parent / "data" / "traces" / "example.jsonl"
HUGE = "9" * 400


def _trace(tmp_path: Path, lines: list[str], name: str = "t.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["check", "report"])
def test_a_400_digit_time_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    created = (
        '{"t": 0, "event": "created", "activity": "a", "kind": "client", "type": "X",'
        ' "computer": "c", "state": "Queued"}'
    )
    path = _trace(tmp_path, [created, '{"t": ' + HUGE + ', "event": "exchange", "computer": "c"}'])
    args = [command, str(path)] + (["-o", str(tmp_path / "r.html")] if command == "report" else [])
    err = refused(capsys, *args)
    # the JSON parser refuses a number no float holds before any field is read
    assert f"{path}:2: malformed JSON (a number beyond any finite float" in err


def test_a_400_digit_time_in_a_csv_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _trace(tmp_path, ["t,event,computer", "0,exchange,c", f"{HUGE},exchange,c"], "t.csv")
    err = refused(capsys, "check", str(path))
    assert f"{path}:3: field 't' must be a finite number, got an integer of 400 digits" in err


def test_an_operation_id_beyond_64_bits_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        '{"t": 0, "event": "created", "activity": "a", "kind": "client", "type": "X",'
        ' "state": "Queued", "computer": "c"}',
        '{"t": 1, "event": "deliver", "activity": "a", "computer": "c", "operation_id": '
        + HUGE
        + "}",
    ]
    err = refused(capsys, "check", str(_trace(tmp_path, lines)))
    assert ":2: malformed JSON (a number beyond any finite float" in err
    # beyond 64 bits but within a float: refused by the id's rule, never rounded
    lines[1] = lines[1].replace(HUGE, str(2**64 + 1))
    err = refused(capsys, "check", str(_trace(tmp_path, lines)))
    assert ":2: field 'operation_id' must be an integer within 64 bits" in err


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_as_a_trace_is_refused_at_once(tmp_path: Path, device: str) -> None:
    started = time.monotonic()
    err = refused_limited("check", device, "--input-format", "jsonl", cwd=tmp_path, timeout=60)
    assert f"{device}: is a character device, not a regular file" in err
    assert time.monotonic() - started < 30


def test_a_gzip_of_gigabytes_of_blank_lines_streams_in_bounded_memory(tmp_path: Path) -> None:
    import gzip

    member = gzip.compress(b"\n" * 2**26, compresslevel=9)  # 64 MiB -> about 65 KiB
    bomb = tmp_path / "bomb.jsonl.gz"
    with bomb.open("wb") as f:  # gzip members concatenated: one stream of 2.5 GiB
        for _ in range(40):
            f.write(member)
    assert bomb.stat().st_size < 5 * 2**20
    err = refused_limited("check", str(bomb), cwd=tmp_path, timeout=240)
    assert f"{bomb}: no trace records" in err


def test_a_line_without_an_end_is_refused_at_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    with path.open("wb") as f:
        f.write(EXAMPLE.read_bytes()[:200].rsplit(b"\n", 1)[0] + b"\n")
        f.write(b'{"t": 1, "event": "exchange", "computer": "' + b"x" * 3 * 2**20 + b'"}\n')
    lines = path.read_bytes().count(b"\n")
    err = refused_limited("check", str(path), cwd=tmp_path, timeout=60)
    assert f"{path}:{lines}: line longer than 1 MiB, the limit for one record" in err
    endless = tmp_path / "endless.jsonl"
    endless.write_bytes(b"[" * 200 * 2**20)  # 200 MiB, no newline at all
    err = refused_limited("check", str(endless), cwd=tmp_path, timeout=60)
    assert f"{endless}:1: line longer than 1 MiB" in err


@pytest.mark.parametrize("block", [300, 20_000])
def test_traces_read_in_blocks_equal_the_whole_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    block: int,
) -> None:
    import json

    from activitykit.check import check
    from activitykit.check.synth import synth_trace
    from activitykit.trace import _io, read_records, read_table, table_from_records

    synth = tmp_path / "synth.jsonl"
    synth.write_text("".join(json.dumps(r) + "\n" for r in synth_trace(300, seed=3)))
    for path in (EXAMPLE, synth):
        whole = read_table(path)
        whole_report = check(path).to_json()
        with monkeypatch.context() as m:
            m.setattr(_io, "BLOCK_BYTES", block)  # many blocks, cut at line ends
            blocks = read_table(path)
            careful = table_from_records(read_records(path))
            assert check(path).to_json() == whole_report
        assert blocks.to_pylist() == whole.to_pylist()
        assert careful.to_pylist() == whole.select(careful.column_names).to_pylist()
    monkeypatch.setattr(_io, "BLOCK_BYTES", 300)
    # t decreasing across a block boundary is named like any other
    text = EXAMPLE.read_text(encoding="utf-8")
    back = _trace(tmp_path, [*text.splitlines(), '{"t": 0, "event": "exchange", "computer": "c"}'])
    err = refused(capsys, "check", str(back))
    assert f"{back}:{len(text.splitlines()) + 1}: t=0 is smaller than" in err


def test_blocks_read_in_parallel_report_the_first_error_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Blocks are parsed two at a time: a NUL byte in a later block (an error of the block
    # reader) must not win over a bad record in an earlier block still being parsed.
    from activitykit.trace import _io

    monkeypatch.setattr(_io, "BLOCK_BYTES", 4096)
    good = '{"t": 1, "event": "exchange", "computer": "c1"}'
    lines = [good, '{"t": "soon", "event": "exchange", "computer": "c1"}', *[good] * 100]
    path = tmp_path / "two-faults.jsonl"
    # the NUL byte is in the second 4 KiB block, read while the first is being parsed
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\x00\n")
    err = refused(capsys, "check", str(path))
    assert f"{path}:2:" in err and "NUL" not in err
    # alone, the NUL byte is still named with its line
    path.write_bytes(("\n".join([good] * 102) + "\n").encode() + b"\x00\n")
    assert f"{path}:103: binary data" in refused(capsys, "check", str(path))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.csv", b""),
        ("header.csv", b"t,event,activity\n"),
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n \n\r\n"),
    ],
)
def test_a_trace_without_records_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    err = refused(capsys, "check", str(path))
    assert f"{path}: no trace records" in err and "nothing to check" in err


def test_a_csv_with_a_byte_order_mark_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(
        b"\xef\xbb\xbft,event,activity,kind,type,computer,state\r\n"
        b"0,created,a,client,X,c,Queued\r\n1,exchange,,,,c,\r\n"
    )
    assert main(["check", str(path)]) == 0
    assert "records: 2" in capsys.readouterr().out


def test_a_duplicated_csv_column_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("t,event,activity,state,kind,state\n0,created,a,Queued,client,Queued\n")
    err = refused(capsys, "check", str(path))
    assert f"{path}:1: CSV header names 'state' (columns 4, 6) more than once" in err


# --- 9-12. run directories: atomic, locked, with a manifest ---------------------------------
BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"
QUICK_RUN = ("--set", "duration=1800")


def _run(tmp_path: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "run",
            str(BASELINE),
            "--out",
            str(out),
            "--quiet",
            "--trace-format",
            "jsonl",
            "--set",
            "output.report=false",
            *QUICK_RUN,
            *extra,
        ]
    )


def test_a_complete_run_carries_a_manifest_check_trusts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib
    import json

    out = tmp_path / "r"
    assert _run(tmp_path, out) == 0
    man = json.loads((out / "manifest.json").read_text())
    trace = out / "trace.jsonl"
    assert man["complete"] is True and man["trace"] == "trace.jsonl"
    assert man["trace_sha256"] == hashlib.sha256(trace.read_bytes()).hexdigest()
    assert man["records"] == trace.read_bytes().count(b"\n")
    assert man["scenario"]["name"] == "baseline" and isinstance(man["seed"], int)
    capsys.readouterr()
    assert main(["check", str(trace), "--require-manifest"]) == 0
    assert "WARNING" not in capsys.readouterr().err
    # a trace cut short after the run: a loud warning, and an error when asked
    data = trace.read_bytes()
    trace.write_bytes(data[: data.rindex(b"\n", 0, len(data) - 1) + 1])
    assert main(["check", str(trace)]) == 0
    err = capsys.readouterr().err
    assert "WARNING" in err and "differs from the trace the run wrote" in err
    err = refused(capsys, "check", str(trace), "--require-manifest")
    assert f"{trace}: the run's manifest does not vouch for this trace" in err
    err = refused(capsys, "report", str(out), "--require-manifest", "--no-check")
    assert "changed or truncated after the run" in err
    (out / "manifest.json").unlink()
    assert main(["check", str(trace)]) == 0
    assert "manifest.json: missing" in capsys.readouterr().err


def test_an_interrupted_rerun_keeps_the_previous_run_and_marks_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from activitykit import runner

    out = tmp_path / "r"
    assert _run(tmp_path, out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = runner._simulate

    def interrupted(scenario, trace_path, progress, started):  # type: ignore[no-untyped-def]
        real(scenario, trace_path, progress, started)  # a whole trace, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_simulate", interrupted)
    assert _run(tmp_path, out, "--seed", "2") != 0  # the CLI says "interrupted"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    partial = tmp_path / ".r.partial" / "r" / "trace.jsonl"
    assert partial.is_file()
    capsys.readouterr()
    assert main(["check", str(partial)]) == 0
    assert "says the run did not complete (complete: false)" in capsys.readouterr().err
    err = refused(capsys, "check", str(partial), "--require-manifest")
    assert "partial trace" in err
    # the next run clears the leftovers
    monkeypatch.setattr(runner, "_simulate", real)
    assert _run(tmp_path, out, "--seed", "3") == 0
    assert not (tmp_path / ".r.partial").exists()


def test_a_failed_rerun_keeps_the_previous_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from activitykit import sim

    out = tmp_path / "r"
    assert _run(tmp_path, out) == 0
    before = (out / "trace.jsonl").read_bytes()

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("simulator bug")

    monkeypatch.setattr(sim, "simulate", broken)
    assert _run(tmp_path, out, "--seed", "2") == 1
    assert (out / "trace.jsonl").read_bytes() == before
    failed = tmp_path / "r.failed"
    assert "previous run in" in capsys.readouterr().err
    man = json.loads((failed / "manifest.json").read_text())
    assert man["complete"] is False and "ZeroDivisionError" in man["error"]


def test_a_rerun_without_the_report_leaves_no_stale_report(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main(["run", str(BASELINE), "--out", str(out), "--quiet", *QUICK_RUN]) == 0
    assert (out / "report").is_dir() and (out / "report.html").is_file()
    assert _run(tmp_path, out) == 0
    assert not (out / "report").exists() and not (out / "report.html").exists()


def test_a_second_run_into_the_same_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    out = tmp_path / "r"
    with open(tmp_path / ".r.lock", "w") as held:  # another run holds the lock
        held.write("4242")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        err = refused(capsys, "run", str(BASELINE), "--out", str(out), "--quiet")
    assert f"{out}: another run (pid 4242) is writing this run directory" in err
    assert not out.exists()


def test_a_run_does_not_replace_a_directory_of_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "work"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious\n")
    err = refused(capsys, "run", str(BASELINE), "--out", str(mine), "--quiet")
    assert f"{mine}: holds files no run wrote (notes.txt)" in err
    assert (mine / "notes.txt").read_text() == "precious\n"


def test_a_second_sweep_into_the_same_directory_is_refused(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    out = tmp_path / "s"
    args = ("sweep", str(tiny), "--grid", "server.job_handlers=1,2", "--workers", "1", "--quiet")
    with open(tmp_path / ".s.lock", "w") as held:
        held.write("4343")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        err = refused(capsys, *args, "--out", str(out))
    assert f"{out}: another sweep (pid 4343) is writing this sweep directory" in err
    assert not out.exists()
    assert main([*args, "--out", str(out)]) == 0  # once released, the sweep runs


def test_a_killed_run_leaves_the_previous_run_and_a_marked_partial_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    assert _run(tmp_path, out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    args = [str(BASELINE), "--out", str(out), "--quiet", "--trace-format", "jsonl"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "activitykit", "run", *args, "--set", "duration=864000"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    partial = tmp_path / ".r.partial" / "r" / "trace.jsonl"
    try:
        deadline = time.monotonic() + 120
        while not (partial.exists() and partial.stat().st_size > 100_000):
            assert proc.poll() is None, "the long run ended before it could be killed"
            assert time.monotonic() < deadline, "the long run wrote no trace in 120 s"
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    capsys.readouterr()
    main(["check", str(partial)])
    assert "says the run did not complete (complete: false)" in capsys.readouterr().err
    assert "partial trace" in refused(capsys, "check", str(partial), "--require-manifest")


# --- scenario files: characters, tags and forms YAML cannot read as plain data ----------
@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("name: a\x00b\nduration: 60\n", 1, "the character U+0000 (a NUL byte"),
        ("name: a\nduration: 60\n\x01\n", 3, "the character U+0001 at column 1"),
        ("name: !!binary aGVsbG8=\n", 1, "the YAML tag !!binary is not allowed"),
        ("name: x\nfleet: !!set {a}\n", 2, "the YAML tag !!set is not allowed"),
        ("name: x\nduration: !!int abc\n", 2, "the YAML tag !!int is not allowed"),
        ("name: !custom x\n", 1, "the YAML tag !custom is not allowed"),
        ("name: x\nduration: 2024-13-45\n", 2, "'2024-13-45' has the form of a date but"),
        ("name: x\nduration: -0x_\n", 2, "'-0x_' has the form of an integer but"),
    ],
)
def test_what_yaml_cannot_read_as_plain_data_is_named_by_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, message: str
) -> None:
    path = write(tmp_path, text)
    err = refused(capsys, "scenario", "validate", str(path))
    assert f"{path}:{line}: " in err and message in err
    err = refused(capsys, "run", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert message in err and not (tmp_path / "out").exists()


def test_a_tag_in_set_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "name: x\n")
    err = refused(capsys, "scenario", "show", str(path), "--set", "name=!!binary aGVsbG8=")
    assert "--set name=!!binary aGVsbG8=" in err and "the YAML tag !!binary is not allowed" in err


# --- output names too long for the file system ----------------------------------------------
def test_an_out_name_too_long_is_refused_naming_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / ("n" * 300)
    err = refused(capsys, "run", str(BASELINE), "--out", str(out), "--quiet")
    assert "--out " in err and "its name has 300 bytes; at most 246 fit here" in err
    err = refused(capsys, "sweep", str(BASELINE), "--out", str(out / "x"), "--quiet")
    assert "--out " in err and "has 300 bytes; names here have at most 255" in err


def test_a_default_directory_name_too_long_names_what_it_is_made_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "name: x\n", "s" * 245 + ".yaml")  # a legal file name
    err = refused(capsys, "run", str(path), "--seed", "12345", "--quiet")
    assert "the default directory runs/sss" in err
    assert "give --out DIR (the default is made of the scenario file's name and the seed)" in err
    assert not (tmp_path / "runs").exists()


def test_a_seed_beyond_64_bits_is_refused_by_argparse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("run", "sweep"):
        with pytest.raises(SystemExit) as exc:
            main([command, str(BASELINE), "--seed", "1" + "0" * 400, "--quiet"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "argument --seed: a number of 401 digits: a seed is 0 to 9223372036854775807" in err
    # beyond what Python parses: named by its length, not echoed back
    with pytest.raises(SystemExit):
        main(["run", str(BASELINE), "--seed", "9" * 5000, "--quiet"])
    err = capsys.readouterr().err
    assert "argument --seed: a text of 5000 characters is not a whole number" in err
    assert "9" * 100 not in err


# --- sweep stores and options ---------------------------------------------------------------
def _swept(tiny: Path, out: Path, *extra: str) -> list[str]:
    args = ["sweep", str(tiny), "--grid", "server.job_handlers=1,2", "--workers", "1"]
    return [*args, "--out", str(out), "--quiet", "--no-report", *extra]


def test_a_deeply_nested_sweep_manifest_is_refused(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    assert main(_swept(tiny, out)) == 0
    (out / "sweep.json").write_text("[" * 100_000 + "]" * 100_000)
    err = refused(capsys, *_swept(tiny, out))
    assert f"{out / 'sweep.json'}: not a sweep manifest (nested deeper than 1024 levels)" in err


def test_a_runs_table_without_its_manifest_is_reported_not_rewritten(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    assert main(_swept(tiny, out)) == 0
    (out / "sweep.json").unlink()
    before = (out / "runs.parquet").read_bytes()
    err = refused(capsys, *_swept(tiny, out))
    assert f"{out}: holds runs.parquet but no sweep.json: the sweep's store is incomplete" in err
    assert "Restore sweep.json from a copy; or move runs.parquet away" in err
    assert (out / "runs.parquet").read_bytes() == before
    assert not (out / "sweep.json").exists()


def test_a_sweep_into_a_run_directory_is_refused_and_leaves_it_alone(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "r"
    assert _run(tmp_path, run) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    err = refused(capsys, *_swept(tiny, run))
    assert f"{run}: holds a run directory (manifest.json) and no sweep.json" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    # the same for `run --replications`, which stores its runs as a sweep does
    err = refused(capsys, "run", str(tiny), "--replications", "2", "--out", str(run), "--quiet")
    assert "is not a sweep's directory" in err


@pytest.mark.parametrize(
    ("grid", "replications", "message"),
    [
        ("server.job_handlers=1", "1" + "0" * 30, "--replications (a number of 31 digits) must"),
        ("server.job_handlers=1", "10001", "must be at most 10,000 seeds per grid point"),
        (
            "server.job_handlers=" + ",".join(map(str, range(1, 12))),
            "10000",
            "11 (server.job_handlers) grid points x 10,000 replications = 110,000 runs; "
            "the limit is 100,000",
        ),
    ],
)
def test_a_sweep_too_large_is_refused_before_it_runs(
    tiny: Path, tmp_path: Path, grid: str, replications: str, message: str
) -> None:
    # limited: asked for whole, 10^30 seeds fill any memory
    args = ["sweep", str(tiny), "--grid", grid, "--replications", replications, "--workers", "1"]
    err = refused_limited(*args, "--out", str(tmp_path / "s"), "--quiet", cwd=tmp_path, timeout=60)
    assert message in err and not (tmp_path / "s").exists()


def test_an_unknown_show_figure_is_refused_before_any_run(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(capsys, *_swept(tiny, tmp_path / "s", "--show", "client.totl.p90"))
    assert "--show client.totl.p90: no such key figure; did you mean client.total.p90" in err
    assert "the key figures are: all.to_start.p50, " in err
    assert not (tmp_path / "s").exists()


# --- standard output that takes nothing; memory that runs out --------------------------------
def _cli_process(*args: str, **popen: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "activitykit", *args], stderr=subprocess.PIPE, **popen
    )


@pytest.mark.parametrize("command", [("check", str(EXAMPLE)), ("spec",)])
def test_a_full_or_closed_stdout_is_named_without_a_traceback(command: tuple[str, ...]) -> None:
    with open("/dev/full", "wb") as full:
        proc = _cli_process(*command, stdout=full)
        _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 2 and "Traceback" not in text and "Exception ignored" not in text
    assert "cannot write to standard output (No space left on device)" in text
    proc = _cli_process(*command, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 2 and "Traceback" not in text, text
    assert "cannot write to standard output (standard output is closed)" in text


def test_a_reader_that_went_away_ends_the_command_quietly() -> None:
    proc = _cli_process("spec", stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # `| head -1` that has had its line: nobody reads any more
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141 and err == b""  # as a tool killed by SIGPIPE


def test_memory_running_out_is_named_and_the_previous_run_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from activitykit import sim

    out = tmp_path / "r"
    assert _run(tmp_path, out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def hungry(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise MemoryError

    monkeypatch.setattr(sim, "simulate", hungry)
    err = refused(capsys, "run", str(BASELINE), "--out", str(out), "--quiet")
    assert "activitykit run: error: ran out of memory while running the scenario" in err
    assert "Try fewer computers" in err and "earlier results are intact" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not (tmp_path / "r.failed").exists()  # no run failed: the machine did


def test_memory_running_out_in_check_is_the_entrys_to_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One report for every command: what it was doing, and what to try for this one."""
    from activitykit.check import batch

    out = tmp_path / "r"
    assert _run(tmp_path, out) == 0

    def hungry(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise MemoryError

    monkeypatch.setattr(batch, "check_table", hungry)
    err = refused(capsys, "check", str(next(out.glob("trace.*"))))
    assert "activitykit check: error: ran out of memory while checking the trace" in err
    assert "Try a smaller trace (the checker holds every record's fields in memory)" in err


@pytest.mark.slow
def test_a_run_beyond_the_memory_limit_says_so_and_keeps_the_previous_run(
    tmp_path: Path,
) -> None:
    out = tmp_path / "r"
    assert _run(tmp_path, out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    huge = write(
        tmp_path,
        "name: huge\nduration: 600\nfleet: {groups: [{computers: 10000000}]}\n"
        "output: {trace_format: jsonl, report: false}\n",
    )
    proc = cli_limited("run", str(huge), "--out", str(out), "--quiet", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "ran out of memory while simulating" in proc.stderr
    assert f"the process may use at most {MEMORY_LIMIT / 2**30:.3g} GiB (ulimit -v)" in (
        proc.stderr
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# --- conform: options, replay files and replies ---------------------------------------------
CASE = "client/released-at-exchange-delivers-nothing-else"
DEEP_IUT = (
    f'{sys.executable} -c "import sys\n'
    "for line in sys.stdin: print('[' * 100000 + ']' * 100000, flush=True)\""
)


def test_a_deeply_nested_reply_is_garbage_not_a_recursion(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["conform", "--iut", DEEP_IUT, "--case", CASE, "--timeout", "10"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "garbage: reply is not JSON (nested deeper than 1024 levels)" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "/dev/zero: is a character device, not a regular file"),
        ("[" * 100_000 + "]" * 100_000 + "\n", ":1: not JSON (nested deeper than 1024 levels"),
        ("\n" * (4 * 2**20 + 1), "larger than 4 MiB, the limit for a replay file"),
    ],
)
def test_a_hostile_replay_file_is_refused(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = Path("/dev/zero") if content is None else write(tmp_path, content, "r.jsonl")
    ref = "activitykit.conformance.reference:ReferenceSystem"
    # limited: /dev/zero read whole fills any memory
    args = ("conform", "--iut-python", ref, "--replay", str(path))
    assert message in refused_limited(*args, cwd=tmp_path, timeout=60)


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e9"])
@pytest.mark.parametrize("option", ["--timeout", "--shrink-seconds"])
def test_waits_must_be_finite_and_bounded(
    capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["conform", "--iut", "cat", option, value, "--case", CASE])
    assert exc.value.code == 2
    assert f"argument {option}: {value}: must be a finite number" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "argument --examples: -1: must be at least 0"),
        ("1000000", "argument --examples: 1000000: must be at most 100,000 (each is a whole"),
        ("9" * 400, "argument --examples: a number of 400 digits: must be at most 100,000"),
        ("many", "argument --examples: 'many' is not a whole number"),
        ("9" * 5000, "argument --examples: a text of 5000 characters is not a whole number"),
    ],
)
def test_examples_must_be_a_bounded_count(
    capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["conform", "--iut", "cat", "--examples", value])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_an_iut_python_without_handle_says_what_is_expected(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused(capsys, "conform", "--iut-python", "os:system", "--case", CASE)
    assert "--iut-python 'os:system': system is the built-in function system" in err
    assert "expected a class or a factory function (called without arguments)" in err
    # a factory function is called, and what it makes is used
    factory = "activitykit.conformance.reference:ReferenceSystem"
    assert main(["conform", "--iut-python", factory, "--case", CASE]) == 0


@pytest.mark.parametrize(
    ("option", "name", "message"),
    [
        ("--trace", "x.txt", "--trace: cannot tell the trace format of"),
        ("--trace", "adir", "--trace: is a directory; name the trace file to write"),
        ("--trace", "full.jsonl", "cannot write the session trace: No space left on device"),
        ("--junit", "full.xml", "cannot write the JUnit file: No space left on device"),
    ],
)
def test_conform_output_files_that_cannot_be_written_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, name: str, message: str
) -> None:
    """A trace name without a format is told before the suite runs; a full disk after it,
    as the file it could not write."""
    path = tmp_path / name
    if name == "adir":
        path.mkdir()
    elif name.startswith("full"):
        path.symlink_to("/dev/full")
    ref = "activitykit.conformance.reference:ReferenceSystem"
    err = refused(capsys, "conform", "--iut-python", ref, "--case", CASE, option, str(path))
    assert f"{path}: {message}" in err


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_the_root_is_refused_before_any_lock_is_made_there(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    before = set(os.listdir("/"))
    extra = ["--grid", "server.job_handlers=1"] if command == "sweep" else []
    err = refused(capsys, command, str(BASELINE), *extra, "--out", "/", "--quiet")
    assert f"/: the file system's root cannot be a {command} directory" in err
    assert set(os.listdir("/")) == before


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        (-253, "records must be the trace's record count (an integer >= 0), got -253"),
        ("253", "records must be the trace's record count (an integer >= 0), got '253'"),
        (True, "records must be the trace's record count (an integer >= 0), got True"),
        ("off by one", "the manifest gives {n} records, the trace holds {m}"),
    ],
)
def test_a_manifest_record_count_that_is_not_the_traces_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], records: object, problem: str
) -> None:
    out = tmp_path / "r"
    assert _run(tmp_path, out) == 0
    capsys.readouterr()
    path = out / "manifest.json"
    man = json.loads(path.read_text())
    m = man["records"]
    man["records"] = m - 1 if records == "off by one" else records
    path.write_text(json.dumps(man))
    problem = problem.format(n=m - 1, m=m)
    trace = str(out / "trace.jsonl")
    assert main(["check", trace]) == 0
    err = capsys.readouterr().err
    assert problem in err
    assert err.count("WARNING: ") == 2  # the problem once, then what it means
    err = refused(capsys, "check", trace, "--require-manifest")
    assert problem in err
