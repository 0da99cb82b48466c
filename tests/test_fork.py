"""``activitykit._fork``: helper processes forked with this process's imports, when safe."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from activitykit import _fork


def _can_fork_in_a_fresh_process(before: str = "") -> str:
    code = f"{before}\nfrom activitykit import _fork\nprint(_fork.can_fork())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_a_process_with_a_second_thread_or_a_closed_stdin_may_not_fork() -> None:
    assert _can_fork_in_a_fresh_process() == str(sys.platform == "linux")
    # a pipe could get descriptor 0, which the child's stdin on /dev/null would replace
    assert _can_fork_in_a_fresh_process("import os; os.close(0)") == "False"
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not _fork.can_fork()
    finally:
        stop.set()
        t.join()


def _answer(fd: int) -> str:
    with os.fdopen(fd, "rb") as fh:
        return fh.read().decode()


def test_the_child_holds_only_the_descriptors_it_keeps() -> None:
    keep_r, keep_w = os.pipe()
    other_r, other_w = os.pipe()

    def target() -> None:
        held = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
        stdin = os.readlink("/proc/self/fd/0")
        os.write(keep_w, f"{held} {stdin}".encode())

    child = _fork.fork(target, keep=(keep_w,))
    os.close(keep_w)
    try:
        held, stdin = _answer(keep_r).rsplit(" ", 1)
        assert child.wait(30) == 0
    finally:
        os.close(other_r)
        os.close(other_w)
    fds = [int(x) for x in held.strip("[]").split(",")]
    # 0-2, the kept pipe's end and the directory listing's own descriptor; not the other pipe
    assert other_r not in fds and other_w not in fds and keep_w in fds
    assert len(fds) == 5
    assert stdin == os.devnull


def test_a_child_that_raises_exits_1_with_its_traceback_on_stderr() -> None:
    code = (
        "from activitykit import _fork\n"
        "def boom(): raise RuntimeError('in the child')\n"
        "print(_fork.fork(boom, keep=()).wait(30))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "1"
    assert "RuntimeError: in the child" in done.stderr


def test_wait_is_bounded_and_kill_ends_the_child() -> None:
    child = _fork.fork(lambda: time.sleep(60), keep=())
    try:
        assert child.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(0.05)
    finally:
        child.kill()
    assert child.wait(10) == -9
    assert child.poll() == -9  # reaped once, remembered


def test_the_child_ignores_ctrl_c_and_drops_the_parents_signal_handlers() -> None:
    import signal

    r, w = os.pipe()

    def target() -> None:
        ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        default = signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        os.write(w, f"{ignored} {default}".encode())

    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        child = _fork.fork(target, keep=(w,))
    finally:
        signal.signal(signal.SIGTERM, previous)
    os.close(w)
    assert _answer(r) == "True True"
    assert child.wait(30) == 0
