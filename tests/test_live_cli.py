"""``activitykit live``: bad input refused before any client starts; a late SIGTERM."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from activitykit.cli import main

ROOT = Path(__file__).resolve().parent.parent
SMOKE = str(ROOT / "scenarios" / "live-smoke.yaml")


def _tree(tmp_path: Path) -> Path:
    """A directory shaped like a client tree whose program would fail if it ever ran."""
    (tmp_path / "scripts").mkdir(parents=True)
    (tmp_path / "landscape").mkdir()
    (tmp_path / "scripts" / "landscape-client").write_text("raise SystemExit('must not run')\n")
    (tmp_path / "landscape" / "__init__.py").write_text("")
    return tmp_path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--client-src", "/nonexistent"], "not a Landscape Client source tree"),
        (["--client-cmd", "no-such-landscape-client"], "program not found on PATH"),
        (["--client-src", "TREE", "--set", "workload.arrivals.0.type=RestartRequest"],
         "--allow-host-changes"),
        (["--client-src", "TREE", "--set", "workload.arrivals.0.type=ArchiveRequest"],
         "is a server activity"),
        (["--client-src", "TREE", "--set", "fleet.groups.0.urgent_exchange_interval=5"],
         "urgent_exchange_interval (5 s) must be at least 10 s"),
        (["--client-src", "TREE", "--job-handler", "my-handler"],
         "--job-handler: a job-handler needs a broker: --amqp-url or --own-broker"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_exit_2(tmp_path, capsys, extra, message) -> None:
    extra = [str(_tree(tmp_path / "tree")) if x == "TREE" else x for x in extra]
    code = main(["live", SMOKE, "--clients", "2", "--out", str(tmp_path / "out"), *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "clients").exists()  # nothing was started


def test_clients_must_not_be_negative(capsys) -> None:
    assert main(["live", SMOKE, "--clients", "-1", "--client-src", "/x"]) == 2
    assert "--clients must be at least 0" in capsys.readouterr().err


def test_clients_need_a_client_to_run(capsys) -> None:
    assert main(["live", SMOKE, "--clients", "2"]) == 2
    assert "name the client: --client-src or --client-cmd" in capsys.readouterr().err


def test_deep_run_folders_keep_socket_paths_short(tmp_path: Path) -> None:
    """Client daemons talk over UNIX sockets in their data path (at most 107 bytes)."""
    from activitykit.live.clients import ClientCommand, ClientSettings, LiveClient

    command = ClientCommand(("true",), {}, "test")
    deep = LiveClient("c1", tmp_path / ("d" * 120) / "c1", command, ClientSettings(), "u", "p")
    data = deep.data_path
    assert len(str(data / "sockets" / "manager.sock")) <= 100
    assert (deep.root / "data").resolve() == data.resolve()  # found from the run folder
    deep.write_config()
    assert f"data_path = {data}\n" in deep.config_path.read_text()
    deep.remove_short_data()
    assert not data.exists() and not (deep.root / "data").exists()
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="ak-test-") as short:
        shallow = LiveClient("c2", Path(short) / "c2", command, ClientSettings(), "u", "p")
        assert shallow.data_path == Path(short) / "c2" / "data"  # kept in the run folder


_TERM_AFTER_CLIENTS = """
import asyncio, os, signal, sys
import activitykit.live.run as L
from activitykit.cli import main

async def clients_ran(*args, **kw):
    # What live.harness leaves behind: SIGTERM handled by the loop while the clients run,
    # then set back to the default when it stops.
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: None)
    loop.remove_signal_handler(signal.SIGTERM)
    return {"end_t": 0.0, "counts": {}, "unfinished": (), "summary": {}}

def summarise(*args, **kw):  # SIGTERM arrives while the summary is computed
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("SIGTERM did not interrupt the summary")

L.run_session, L.summarise = clients_ran, summarise
sys.exit(main(["live", sys.argv[1], "--clients", "2", "--client-src", sys.argv[3],
              "--out", sys.argv[2], "--quiet"]))
"""


def test_sigterm_after_the_clients_stopped_is_the_commands_interrupt(tmp_path: Path) -> None:
    # In a child process: before the fix, the signal's default action ended it (exit -15).
    import json
    import subprocess
    import sys

    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-c", _TERM_AFTER_CLIENTS, SMOKE, str(out), str(_tree(tmp_path / "t"))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 130, proc.stderr
    assert "activitykit live: interrupted" in proc.stderr and "Traceback" not in proc.stderr
    staged = tmp_path / ".run.partial" / "run"
    assert str(staged) in proc.stderr
    assert json.loads((staged / "manifest.json").read_text())["complete"] is False
    assert not out.exists()  # nothing half-written where a complete run would be


def test_one_sigterm_interrupts_and_a_second_cannot_cut_the_clean_up_short() -> None:
    import os
    import signal

    from activitykit.live import run as live_run

    previous = signal.getsignal(signal.SIGTERM)
    try:
        live_run._term_interrupts()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGTERM)  # ignored: the stopping goes on
    finally:
        signal.signal(signal.SIGTERM, previous)
