"""Hostile trace input (issue 16, the readers' half): each once gave a traceback, a hang or
wrong data, and must now be read correctly or refused with exit 2 naming the file (and line
or field) and the rule.

Deep JSON, files that are no regular files, documents too big to read whole, bad text,
CSV line ends and line numbers, numbers beyond floats and ids, and a big valid trace under
an address-space limit. Big and deep inputs are made on the fly (sparse files cost no
disk); whatever could hang or exhaust memory runs in a subprocess with limits.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from test_hostile_inputs import refused, refused_limited

from activitykit.check import check
from activitykit.check.online import Checker
from activitykit.cli import main
from activitykit.errors import InputError
from activitykit.trace.readers import read_records, read_table, table_from_records

CREATED = (
    '{"t":0,"event":"created","activity":"a0","computer":"c0","kind":"client",'
    '"type":"ExecuteScriptRequest","state":"Queued"}'
)
#: A small conformant trace: created, delivered, result, done.
GOOD = [
    CREATED,
    '{"t":1,"event":"exchange","computer":"c0","urgent":true}',
    '{"t":1,"event":"deliver","activity":"a0","computer":"c0","operation_id":0}',
    '{"t":1,"event":"transition","activity":"a0","from":"Queued","to":"In Progress"}',
    '{"t":2,"event":"exchange","computer":"c0","urgent":true}',
    '{"t":2,"event":"result","activity":"a0","computer":"c0","operation_id":0,'
    '"status":"succeeded"}',
    '{"t":2,"event":"transition","activity":"a0","from":"In Progress","to":"Succeeded"}',
]
DEEP = 100_000  # far beyond any recursion limit


def _write(path: Path, lines: list[str]) -> Path:
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass"))
    return path


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with path.open("wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def _run_dir(tmp_path: Path) -> Path:
    """A run directory as ``run`` leaves it: a trace beside a manifest vouching for it."""
    import hashlib

    run = tmp_path / "run"
    run.mkdir()
    trace = _write(run / "trace.jsonl", GOOD)
    digest = hashlib.sha256(trace.read_bytes()).hexdigest()
    manifest = {"complete": True, "trace": "trace.jsonl", "trace_sha256": digest}
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run


# --- manifests -----------------------------------------------------------------------------
def test_a_deeply_nested_manifest_is_named_not_recursed_into(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run_dir(tmp_path)
    (run / "manifest.json").write_text("[" * DEEP + "]" * DEEP, encoding="utf-8")
    assert main(["check", str(run / "trace.jsonl")]) == 0
    err = capsys.readouterr().err
    assert f"{run / 'manifest.json'}:1: malformed JSON (nested deeper than 1024 levels)" in err
    err = refused(capsys, "check", str(run / "trace.jsonl"), "--require-manifest")
    assert "nested deeper than 1024 levels" in err


@pytest.mark.parametrize(
    ("bad", "message"),
    [(b"\xe9", "not UTF-8 text (byte 0xe9); is this a manifest?"), (b"\x00", "binary data")],
)
def test_bad_text_in_a_manifest_is_named_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: bytes, message: str
) -> None:
    run = _run_dir(tmp_path)
    where = run / "manifest.json"
    text = json.dumps(json.loads(where.read_text(encoding="utf-8")), indent=1).encode()
    at = text.index(b"trace.jsonl")  # on line 3
    where.write_bytes(text[:at] + bad + text[at + 1 :])
    err = refused(capsys, "check", str(run / "trace.jsonl"), "--require-manifest")
    assert f"{where}:3: {message}" in err


def test_a_huge_manifest_is_refused_without_reading_it(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    _sparse(run / "manifest.json", int(2.5 * 2**30), b'{"complete": true, "pad": "')
    err = refused_limited(
        "check", str(run / "trace.jsonl"), "--require-manifest", cwd=tmp_path, timeout=60
    )
    assert f"{run / 'manifest.json'}: larger than 1 MiB, the limit for a manifest" in err


def test_a_trace_linked_to_a_device_is_refused_not_hashed(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    (run / "trace.jsonl").unlink()
    os.symlink("/dev/zero", run / "trace.jsonl")
    for extra in ((), ("--require-manifest",)):
        err = refused_limited("check", str(run / "trace.jsonl"), *extra, cwd=tmp_path, timeout=30)
        assert f"{run / 'trace.jsonl'}: is a character device, not a regular file" in err


# --- files that are no regular files, documents too big ---------------------------------------
@pytest.mark.parametrize("fmt", ["parquet", "landscape", "csv"])
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_in_every_format(tmp_path: Path, device: str, fmt: str) -> None:
    err = refused_limited("check", device, "--input-format", fmt, cwd=tmp_path, timeout=30)
    assert f"{device}: is a character device, not a regular file" in err


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    err = refused_limited("check", str(fifo), cwd=tmp_path, timeout=30)
    assert f"{fifo}: is a FIFO (named pipe), not a regular file" in err


@pytest.mark.parametrize("gz", [False, True])
def test_a_file_is_judged_gzip_or_not_on_the_handle_it_is_read_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool
) -> None:
    """One open per read: a file replaced between a separate gzip test and the read would
    be read as what it was not."""
    from activitykit.trace._io import read_document

    path = tmp_path / "export.json"
    data = json.dumps([ACTIVITY]).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    opened: list[Path] = []
    real = Path.open

    def counting(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting)
    assert read_document(path, 2**20, "a test document") == data
    assert opened == [path]


def test_a_huge_sparse_parquet_is_judged_from_its_footer(tmp_path: Path) -> None:
    path = _sparse(tmp_path / "big.parquet", 3 * 2**30)
    err = refused_limited("check", str(path), cwd=tmp_path, timeout=60)
    assert f"{path}: not a readable Parquet file" in err


def test_a_landscape_export_beyond_its_cap_is_refused_unread(tmp_path: Path) -> None:
    path = _sparse(tmp_path / "big.json", 3 * 2**30, b"[")
    err = refused_limited("check", str(path), cwd=tmp_path, timeout=60)
    assert f"{path}: larger than 256 MiB, the limit for a Landscape export" in err


def test_parquet_is_still_read(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    jsonl = _write(tmp_path / "t.jsonl", GOOD)
    pq.write_table(read_table(jsonl).drop_columns(["line"]), tmp_path / "t.parquet")
    assert check(tmp_path / "t.parquet").summary == check(jsonl).summary


# --- deep JSON and bad text in traces ----------------------------------------------------------
def test_a_known_field_nested_deep_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = CREATED.replace('"state":"Queued"}', '"state":"Waiting","depends_on":')
    lines = [GOOD[1], deep + "[" * DEEP + "]" * DEEP + "}"]
    err = refused(capsys, "check", str(_write(tmp_path / "t.jsonl", lines)))
    assert ":2: malformed JSON (nested deeper than 1024 levels)" in err
    # nesting the parser accepts is judged by the field's rule, briefly (no recursion)
    lines[1] = deep + "[" * 1000 + "]" * 1000 + "}"
    err = refused(capsys, "check", str(_write(tmp_path / "t.jsonl", lines)))
    assert ":2: field 'depends_on' must be a list of strings, got [[[[...]]]]" in err


@pytest.mark.parametrize("command", ["check", "report"])
def test_bad_utf8_and_lone_surrogates_are_refused_with_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    out = ["-o", str(tmp_path / "r.html")] if command == "report" else []
    bad = tmp_path / "bad.jsonl"
    lines = [*GOOD[:3], GOOD[3].replace('"a0"', '"a\udcff"'), *GOOD[4:]]
    bad.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
    err = refused(capsys, command, str(bad), *out)
    assert f"{bad}:4: not UTF-8 text (byte 0xff)" in err
    lone = _write(tmp_path / "lone.jsonl", [GOOD[0].replace('"a0"', '"a\\ud800"'), *GOOD[1:]])
    err = refused(capsys, command, str(lone), *out)
    assert f"{lone}:1: malformed JSON (no low surrogate in string)" in err


# --- CSV ------------------------------------------------------------------------------------
HEADER = "t,event,activity,computer,kind,type,state,from,to,operation_id,status,urgent"
ROWS = [
    "0,created,a0,c0,client,ExecuteScriptRequest,Queued,,,,,",
    "1,exchange,,c0,,,,,,,,true",
    "1,deliver,a0,c0,,,,,,0,,",
    "1,transition,a0,,,,,Queued,In Progress,,,",
    "2,result,a0,c0,,,,,,0,succeeded,",
    "2,transition,a0,,,,,In Progress,Succeeded,,,",
]


def test_a_csv_header_beyond_a_mebibyte_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "," + "x" * (2**20 + 10) + "\n" + ROWS[1] + "\n", encoding="utf-8")
    err = refused(capsys, "check", str(path))
    assert f"{path}:1: " in err


def test_a_csv_with_cr_line_ends_reads_as_with_lf(tmp_path: Path) -> None:
    lf, cr = tmp_path / "lf.csv", tmp_path / "cr.csv"
    lf.write_text(HEADER + "\n" + "\n".join(ROWS) + "\n", encoding="utf-8")
    cr.write_text(HEADER + "\r" + "\r".join(ROWS) + "\r", encoding="utf-8")
    got, want = check(cr), check(lf)
    assert got.summary == want.summary and got.summary["records"] == len(ROWS)


def test_a_csv_with_cr_line_ends_beyond_a_mebibyte_is_read(tmp_path: Path) -> None:
    """Blocks are cut at a CR alone too: the whole file is not one line 'beyond 1 MiB'."""
    rows = [ROWS[0], *[ROWS[1]] * 60_000]  # about 1.6 MiB
    lf, cr = tmp_path / "lf.csv", tmp_path / "cr.csv"
    lf.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    cr.write_text(HEADER + "\r" + "\r".join(rows) + "\r", encoding="utf-8")
    assert cr.stat().st_size > 2**20 + 2**19
    got, want = check(cr), check(lf)
    assert got.summary == want.summary and got.summary["records"] == len(rows)


@pytest.mark.parametrize("end", ["\r", "\r\n"])
@pytest.mark.parametrize(
    ("bad", "message"), [(b"\x00", "binary data (a NUL byte)"), (b"\xe9", "not UTF-8 text")]
)
def test_csv_errors_count_every_line_end(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    end: str,
    bad: bytes,
    message: str,
) -> None:
    """A CR alone ends a CSV line, a CRLF is one line end: also across small blocks."""
    import activitykit.trace._io as io_mod

    monkeypatch.setattr(io_mod, "BLOCK_BYTES", 64)  # cuts between CR and LF, too
    rows = [ROWS[0], *[ROWS[1]] * 40]
    path = tmp_path / "t.csv"
    text = end.join([HEADER, *rows]).encode() + end.encode()
    at = text.index(b"c0", len(HEADER) + 30 * 20)  # on some row after the first blocks
    line = text[:at].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
    path.write_bytes(text[:at] + bad + text[at + 1 :])
    err = refused(capsys, "check", str(path))
    assert f"{path}:{line}: {message}" in err


def test_a_csv_field_beyond_128_kib_is_read_on_both_paths(tmp_path: Path) -> None:
    """The csv module's own field limit (128 KiB) is not the readers' (a line's, 1 MiB)."""
    path = tmp_path / "t.csv"
    rows = [ROWS[0] + ",", ROWS[1] + "," + "x" * 200_000, *(r + "," for r in ROWS[2:])]
    path.write_text(HEADER + ",note\n" + "\n".join(rows) + "\n", encoding="utf-8")
    careful = table_from_records(read_records(path))
    fast = read_table(path)
    assert careful.num_rows == fast.num_rows == len(ROWS)
    assert careful.column("line").to_pylist() == fast.column("line").to_pylist()


def test_a_csv_error_names_the_physical_line_after_a_multiline_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    rows = [r + ',"multi\nline"' for r in ROWS[:2]] + ["zz,exchange,,c0,,,,,,,,,x"]
    path.write_text(HEADER + ",note\n" + "\n".join(rows) + "\n", encoding="utf-8")
    err = refused(capsys, "check", str(path))
    assert f"{path}:6: field 't' must be a number, got 'zz'" in err


# --- Landscape exports ------------------------------------------------------------------------
ACTIVITY = {"id": 1, "creation_time": 0, "activity_status": "succeeded", "computer_id": 5}


def _export(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.json"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * DEEP + "]" * DEEP, ":1: malformed JSON (nested deeper than 1024 levels)"),
        (
            '[{"id":1,"creation_time":1' + "0" * 400 + ',"activity_status":"succeeded"}]',
            ":1: malformed JSON (a number beyond any finite float",
        ),
        (json.dumps([{**ACTIVITY, "id": [1]}]), ":1: field 'id' must be an integer or a string"),
        (
            json.dumps([ACTIVITY, {**ACTIVITY, "id": 2, "computer_id": {"x": 1}}]),
            ":2: field 'computer_id' must be an integer or a string",
        ),
        (
            json.dumps([{**ACTIVITY, "creation_time": 1e308}, {**ACTIVITY, "id": 2}]),
            None,  # finite: read (the times are relative to the earliest)
        ),
    ],
    ids=["deep", "400-digits", "id-list", "computer-object", "huge-finite"],
)
def test_landscape_values_are_judged_by_their_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str | None
) -> None:
    path = _export(tmp_path, text)
    if message is None:
        # judged (exit 1: ACTIVITY moves Queued -> Succeeded, a T3 violation), not refused
        assert main(["check", str(path), "--input-format", "landscape"]) == 1
        out = capsys.readouterr()
        assert "Traceback" not in out.err
        assert "records: 4, activities: 2" in out.out and "end t=1e+308" in out.out
        return
    err = refused(capsys, "check", str(path), "--input-format", "landscape")
    assert f"{path}{message}" in err


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b"\xe9", "not UTF-8 text (byte 0xe9); is this a trace file?"),
        (b"\x00", "binary data (a NUL byte) where a text trace was expected"),
    ],
)
def test_bad_text_in_a_landscape_export_is_named_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: bytes, message: str
) -> None:
    text = json.dumps([ACTIVITY, {**ACTIVITY, "id": 2, "type": "Caf"}], indent=1).encode()
    at = text.index(b"Caf") + 3
    path = tmp_path / "export.json"
    path.write_bytes(text[:at] + bad + text[at:])
    line = text[:at].count(b"\n") + 1
    err = refused(capsys, "check", str(path), "--input-format", "landscape")
    assert f"{path}:{line}: {message}" in err


# --- numbers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("deliver", "result", "violations"),
    [(2**53 + 1, 2**53, {"C2": 1}), (2**53 + 1, 2**53 + 1, {}), (2**63 - 1, 2**63 - 1, {})],
)
def test_operation_ids_beyond_2_53_are_exact_in_both_drivers(
    tmp_path: Path, deliver: int, result: int, violations: dict[str, int]
) -> None:
    lines = list(GOOD)
    lines[2] = lines[2].replace('"operation_id":0', f'"operation_id":{deliver}')
    lines[5] = lines[5].replace('"operation_id":0', f'"operation_id":{result}')
    path = _write(tmp_path / "t.jsonl", lines)
    online = Checker()
    for n, rec in read_records(path):
        online.feed(rec, n)
    for report in (check(path), online.finish()):
        assert {k: v for k, v in report.summary["violations"].items() if v} == violations


@pytest.mark.parametrize(
    ("field", "line"),
    [
        ("attempt", '{"t":1,"event":"consume","activity":"a0","attempt":100000000000000000000}'),
        ("operation_id", GOOD[2].replace('"operation_id":0', '"operation_id":1' + "0" * 20)),
    ],
)
def test_an_integer_beyond_64_bits_is_named_as_such_not_rounded(
    tmp_path: Path, field: str, line: str
) -> None:
    path = _write(tmp_path / "t.jsonl", [GOOD[0], line])
    for read in (lambda: list(read_records(path)), lambda: read_table(path)):
        with pytest.raises(InputError) as exc:
            read()
        want = f"{path}:2: field {field!r} must be an integer within 64 bits, got a number beyond"
        assert want in str(exc.value) and "e+20" not in str(exc.value)


def test_landscape_ids_beyond_64_bits_are_exact_text(tmp_path: Path) -> None:
    big = 123456789012345678901234  # and big + 1: one float, two activities
    acts = [{**ACTIVITY, "id": big}, {**ACTIVITY, "id": big + 1, "computer_id": big}]
    path = _export(tmp_path, json.dumps(acts))
    names = {rec["activity"] for _, rec in read_records(path, "landscape") if "activity" in rec}
    assert names == {str(big), str(big + 1)}
    created = [rec for _, rec in read_records(path, "landscape") if rec["event"] == "created"]
    assert created[1]["computer"] == str(big)


# --- big valid traces ---------------------------------------------------------------------
def test_a_field_no_record_has_is_no_column(tmp_path: Path) -> None:
    """The fast path leaves out what the careful path leaves out (memory of empty columns)."""
    path = _write(tmp_path / "t.jsonl", [GOOD[1]] * 50 + [CREATED.replace('"t":0', '"t":1')])
    fast = read_table(path)
    assert fast.column_names == table_from_records(read_records(path)).column_names
    assert "depends_on" not in fast.column_names and "kind" in fast.column_names


def test_blocks_without_a_field_get_its_column_back_when_another_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_same_types``: blocks of exchanges only (no ``kind``, ``state``... column) joined to
    a block of ``created`` records give the careful path's columns and values."""
    import activitykit.trace._io as io_mod
    import activitykit.trace.readers as readers_mod

    monkeypatch.setattr(io_mod, "BLOCK_BYTES", 4096)
    joined: list[int] = []  # the fast path's blocks (not a fallback to the careful path)
    real = readers_mod._same_types
    monkeypatch.setattr(
        readers_mod, "_same_types", lambda parts: joined.append(len(parts)) or real(parts)
    )
    late = [CREATED.replace('"t":0', '"t":1').replace("a0", f"a{i}") for i in range(1, 40)]
    path = _write(tmp_path / "t.jsonl", [GOOD[1]] * 300 + late + [GOOD[1]] * 100)
    assert path.stat().st_size > 4 * 4096
    fast, careful = read_table(path), table_from_records(read_records(path))
    assert joined and joined[0] > 3
    assert fast.column_names == careful.column_names and "kind" in fast.column_names
    for name in fast.column_names:
        assert fast.column(name).to_pylist() == careful.column(name).to_pylist(), name


@pytest.mark.slow
def test_a_7m_record_gzip_trace_is_checked_under_3_gib(tmp_path: Path) -> None:
    line = b'{"t":0,"event":"exchange","computer":"c1"}\n'
    per = 16 * 2**20 // len(line)
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzip.compress(line * per, 9) * 20)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    proc = subprocess.run(
        [sys.executable, "-m", "activitykit", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"records: {per * 20}," in proc.stdout


# --- NaN and Infinity (json.dumps writes them) -----------------------------------------------
SCHEDULED = CREATED.replace('"state":"Queued"}', '"state":"Scheduled","deliver_after":NaN}')


def test_nan_reads_as_missing_on_both_paths(tmp_path: Path) -> None:
    """A NaN outside ``t`` is a missing field whichever path reads the line: the fast one
    (pyarrow), the careful one, or the careful one because another line sends it there."""
    plain = _write(tmp_path / "plain.jsonl", [SCHEDULED, *GOOD[1:]])
    # a record with an unknown field's object is not the kit's plain line: the careful path
    odd = _write(tmp_path / "odd.jsonl", [SCHEDULED, GOOD[1][:-1] + ',"x":{"y":[1]}}', *GOOD[2:]])
    for path in (plain, odd):
        recs = [rec for _, rec in read_records(path)]
        assert len(recs) == len(GOOD) and "deliver_after" not in recs[0]
        table = read_table(path)
        assert table.num_rows == len(GOOD)
        assert "deliver_after" not in table.column_names or table["deliver_after"].null_count == 7
        assert check(path).summary["records"] == len(GOOD)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (CREATED.replace('"t":0', '"t":NaN'), ":1: field 't' must be a finite number, got nan"),
        (
            CREATED.replace('"state":"Queued"}', '"state":"Scheduled","deliver_after":Infinity}'),
            ":1: field 'deliver_after' must be a finite number, got inf",
        ),
        (CREATED[:-1] + ',"x":NaN x}', ":1: malformed JSON"),  # still malformed: orjson's words
        (CREATED[:-1] + ',"x":[NaN,"\\ud800"]}', ":1: malformed JSON"),  # lone surrogate
    ],
    ids=["t-nan", "infinity", "malformed", "surrogate"],
)
def test_non_finite_numbers_are_refused_alike_on_both_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    path = _write(tmp_path / "t.jsonl", [line, *GOOD[1:]])
    for read in (lambda: list(read_records(path)), lambda: read_table(path)):
        with pytest.raises(InputError) as exc:
            read()
        assert f"{path}{message}" in str(exc.value)
    assert f"{path}{message}" in refused(capsys, "check", str(path))


def test_a_landscape_export_with_nan_is_judged_by_its_time_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _export(tmp_path, json.dumps([{**ACTIVITY, "delivery_time": float("nan")}]))
    assert "NaN" in path.read_text(encoding="utf-8")
    err = refused(capsys, "check", str(path), "--input-format", "landscape")
    assert f"{path}:1: field 'delivery_time' must be a finite time, got nan" in err


@pytest.mark.parametrize(
    "data",
    [
        *(b"abc\n", "é😀\n".encode(), b"\xef\xbf\xbf"),  # text
        *(b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\xe9\n", b"\xf0\x9f\x98"),
        *(b"\xf8\x88\x80\x80\x80", b"\xff"),
    ],
)
def test_the_fast_paths_utf8_check_is_pythons(data: bytes) -> None:
    """The fast path's in-place check (no decoded copy) refuses what ``bytes.decode`` does:
    overlong forms, encoded surrogates, beyond U+10FFFF, a truncated character."""
    from activitykit.trace.readers import _utf8

    try:
        data.decode("utf-8")
        want = True
    except UnicodeDecodeError:
        want = False
    assert _utf8(data) is want


def test_bad_utf8_in_an_unknown_field_is_refused_by_both_paths(tmp_path: Path) -> None:
    """pyarrow's reader does not judge a field it skips: the block's check does."""
    path = tmp_path / "t.jsonl"
    lines = [*GOOD[:2], GOOD[2][:-1] + ',"note":"caf\udce9"}', *GOOD[3:]]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
    for read in (lambda: list(read_records(path)), lambda: read_table(path)):
        with pytest.raises(InputError, match=rf"{path}:3: not UTF-8 text \(byte 0xe9\)"):
            read()


@pytest.mark.parametrize("command", ["check", "report"])
def test_a_parquet_time_of_a_temporal_type_is_refused_by_its_rule(
    tmp_path: Path, command: str
) -> None:
    """Nanosecond timestamps could not even be turned into Python values where the careful
    path reads the rows (a missing field sends it there) in a process without pandas, as
    the command's is: a traceback. A subprocess, as pandas is imported here."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "ts.parquet"
    pq.write_table(
        pa.table({
            "t": pa.array([5_676_352_542], pa.timestamp("ns")),
            "event": ["created"], "activity": ["a1"],
        }),
        path,
    )  # fmt: skip
    args = [command, str(path)] + (["-o", str(tmp_path / "r.html")] if command == "report" else [])
    err = refused_limited(*args, cwd=tmp_path)
    assert f"{path}:1: " in err


@pytest.mark.parametrize("number", ["9_999", "\u0666\u0668.\u0668", "\u0661"])
def test_a_csv_number_is_plain_ascii_digits_as_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], number: str
) -> None:
    """Python's int() and float() read digit separators and other scripts' digits; a JSON
    Lines trace cannot hold them: the same trace in CSV is refused by the same rule."""
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "\n" + ROWS[0] + "\n" + f"{number}," + ROWS[1][2:] + "\n")
    err = refused(capsys, "check", str(path))
    assert f"{path}:3: field 't' must be a number" in err


def test_a_csv_operation_id_in_other_digits_stays_text(tmp_path: Path) -> None:
    from activitykit.trace.readers import _csv_value

    assert _csv_value("operation_id", "\u0666\u0668", "t.csv", 2) == "\u0666\u0668"
    assert _csv_value("operation_id", "68", "t.csv", 2) == 68


@pytest.mark.parametrize("op", ["--5", "5" * 5000])
def test_a_csv_operation_id_beyond_conversion_is_judged_not_a_traceback(
    tmp_path: Path, op: str
) -> None:
    """``--5`` passed the digits test and ``int`` refused it; so did 5,000 digits (beyond
    the 4,300 ``int()`` converts): ValueErrors, uncaught."""
    path = tmp_path / "t.csv"
    rows = [*ROWS[:2], ROWS[2].replace(",0,,", f",{op},,"), ROWS[3]]
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "activitykit", "check", str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    if op == "--5":  # an id as text: judged
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 2
        assert f"{path}:4: field 'operation_id' must be an integer" in proc.stderr
