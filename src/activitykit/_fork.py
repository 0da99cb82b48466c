"""Helper processes forked from this one, where that is safe: they start with its imports.

A run's checker process and its report worker each used to start a fresh interpreter and
import again what this process had imported already: numpy, pyarrow, the scenario and trace
code (0.3 s of the checker's start, 0.6 s of the worker's 2 s). On a two-core machine that
time is taken from the simulation running beside them. A fork shares those imports (their
pages stay shared until one side writes to them: memory a child's peak resident set counts
as its own, though the machine holds it once).

A fork is safe only while this process runs one Python thread: a lock that another thread
held at that moment (the import lock, a file's buffer) would stay held in the child for
ever. So ``can_fork`` asks for that, and for Linux (macOS system libraries do not survive
a fork); where it says no (a notebook's kernel has threads of its own), the callers start
a fresh interpreter as before. Native threads of numpy's BLAS and of pyarrow's allocator
are not Python threads: both libraries reset themselves in a forked child (the report
worker has always forked its figure workers with them loaded).

Not ``multiprocessing``'s fork context: its children inherit every descriptor (a child
holding a copy of another child's pipe keeps that child from seeing its end), it forbids
children of daemonic processes, and its exit handlers join children that this kit already
waits for with a bound. ``fork`` closes every descriptor but the ones named, and the child
always leaves by ``os._exit``: the parent's buffers, finalizers and exit handlers are the
parent's alone.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Collection

__all__ = ["Forked", "can_fork", "fork"]


def can_fork() -> bool:
    """May a helper be forked from this process now (see the module docstring)?

    Also not with one of descriptors 0-2 closed (a daemon's stdin, say): a pipe could then
    get its number, and the child's stdin, which is put on /dev/null, would replace it."""
    if not (
        sys.platform == "linux"
        and threading.active_count() == 1
        and threading.current_thread() is threading.main_thread()
    ):
        return False
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)
    except OSError:
        return False
    return True


class Forked:
    """A forked child, as much of ``subprocess.Popen`` as the kit's callers use: ``pid``,
    ``returncode``, ``poll``, ``wait`` (``subprocess.TimeoutExpired`` when it lasts) and
    ``kill``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone, its status unknown (0, as
                self.returncode = 0  # subprocess.Popen says then)
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"forked child {self.pid}", timeout or 0.0)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def fork(target: Callable[[], object], keep: Collection[int]) -> Forked:
    """Run ``target()`` in a forked child with descriptors 0-2 and ``keep`` only (stdin on
    /dev/null); the child exits with 0 when it returns, 1 when it raises (the traceback on
    stderr). Call only when ``can_fork()``.

    The child starts as a spawned helper would: Ctrl-C ignored (it is the parent's to
    handle), every other signal the parent handles in Python back to its default, and the
    objects it inherits frozen (a collection there could run a finalizer of the parent's,
    closing a descriptor number the child has reused)."""
    for stream in (sys.stdout, sys.stderr):  # else the child holds a copy of what is buffered
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()
    pid = os.fork()
    if pid:
        return Forked(pid)
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for sig in signal.valid_signals():
            with contextlib.suppress(OSError, ValueError):
                if sig != signal.SIGINT and callable(signal.getsignal(sig)):
                    signal.signal(sig, signal.SIG_DFL)
        gc.freeze()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        kept = {0, 1, 2, *keep}
        # The open descriptors, as /proc lists them (not every number up to the limit: that
        # is a billion close calls where the limit is unlimited and close_range is missing).
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd not in kept:
                with contextlib.suppress(OSError):  # (the listing's own, closed already)
                    os.close(fd)
        target()
        code = 0
    except BaseException:
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(code)
