"""The online checker in a second process: ``Checker.feed`` off the producer's critical path.

A simulator that checks every record spends a fifth of its time in ``Checker.feed``. On a
machine with a core to spare, ``CheckerProcess`` does the judging there: ``feed`` encodes the
record as one JSON line (orjson, as the JSON Lines trace holds it) and hands batches of lines
to a pipe; the child process parses them and feeds its own ``Checker``, in the same order, so
its verdicts are the in-process checker's verdicts record for record (line numbers included).

The interface is the ``Checker``'s, as a producer uses it: ``feed(record)`` returns the
violations known so far, empty while the records are conformant. The child judges a little
behind the producer, so a violation comes back a few thousand records after the record that
broke the rule (the ``Violation`` carries that record); ``violations`` waits until every record
fed has been judged, ``finish(end_t)`` returns the child's ``CheckReport``.

The child never outlives its producer: it ends when its pipe closes (``close``, this object's
collection, the producer's exit, or its death by any signal), a child still busy then is
killed after two seconds, and it ignores SIGINT (a Ctrl-C is the producer's to handle). A
child that dies fails the producer at its next batch with ``CheckerProcessError``; every wait
is bounded. The child is forked from the producer while it has a single thread
(``activitykit._fork``: it then starts with the producer's numpy, pyarrow and kit imports, a
third of a second of CPU that a fresh child would take from the simulation beside it); else
it is a fresh interpreter (``subprocess``, the spawn start method's way): safe when the
producer has threads (a notebook's kernel), independent of the fork server that sweeps set
up with their own preload list, and, unlike ``multiprocessing``'s spawn, it does not import
the producer's main module (which would run an unguarded script's top level again in the
child).
"""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn

import orjson

from .. import _fork
from .._cpus import usable_cpus
from ..model import Profile
from ..trace.lines import LINE_OPTIONS
from .report import CheckReport, Violation

__all__ = ["CheckerProcess", "CheckerProcessError", "can_check_in_parallel"]

#: Bytes per write to the pipe (about 2,500 records); also how often the producer looks for
#: a verdict, so a violation stops the producer within a batch or two of being found.
BATCH = 256 << 10
#: Encoded records the producer may hold while the child is busy (it starts with an import
#: of about half a second). Beyond this the producer waits for the child.
BACKLOG_BYTES = 256 << 20
#: The pipe's capacity, where Linux lets it be raised (its default is 64 KiB).
PIPE_BYTES = 1 << 20
#: Longest wait for the child without a sign of progress (s): finishing a million-activity
#: report takes seconds; a child silent this long is stuck.
STALL_SECONDS = 300.0
#: How often a wait looks at whether the child is still alive (s).
POLL_SECONDS = 0.5

_DUMPS = orjson.dumps


class CheckerProcessError(RuntimeError):
    """The checker process ended or stalled before judging every record."""


def can_check_in_parallel() -> bool:
    """May this process start a checker process that gets a core of its own?

    Not with one usable CPU, and not in a daemonic process: a pool's workers are (a sweep's
    dask workers, one per core, are), and they already fill the cores."""
    return usable_cpus() >= 2 and not multiprocessing.current_process().daemon


class CheckerProcess:
    """``Checker(profile)`` run in a child process, fed through a pipe (see the module doc).

    ``close()`` (or leaving a ``with`` block) ends the child; ``finish`` closes too, and so
    does this object's collection or the interpreter's exit.
    """

    checked_with = "activitykit.check.CheckerProcess"

    def __init__(self, profile: Profile | str = Profile.RESULT_WINS, batch: int = BATCH) -> None:
        self.batch = batch
        #: the child's peak resident set (bytes), known once ``finish`` returns
        self.peak_rss: int | None = None
        # One growing buffer: a list of per-record bytes joined per batch cost four times
        # the encoding (a fresh object per record, all alive at once).
        self._buf = bytearray()
        self._backlog: deque[bytes | memoryview] = deque()
        self._backlog_bytes = 0
        #: the first violation the child reported (empty until then): what ``feed`` returns
        self._first: list[Violation] = []
        self._tee: Callable[[bytearray], None] | None = None
        self._closed = False
        #: the run's end (its text) once the child's report was asked for (``begin_finish``):
        #: from then on the child reads no more records
        self._finishing: str | None = None
        rx, tx = os.pipe()  # records, to the child
        vrx, vtx = os.pipe()  # verdicts, from the child
        self._proc: subprocess.Popen[bytes] | _fork.Forked
        try:
            if _fork.can_fork():  # with this process's imports
                self._proc = _fork.fork(lambda: _serve(rx, vtx, str(profile)), keep=(rx, vtx))
            else:  # the child imports the kit from where this process does (spawn's sys.path)
                self._proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        _CHILD,
                        str(rx),
                        str(vtx),
                        str(profile),
                        json.dumps(sys.path),
                    ],
                    pass_fds=(rx, vtx),
                    stdin=subprocess.DEVNULL,
                )
        except BaseException:
            for fd in (tx, vrx):
                os.close(fd)
            raise
        finally:
            os.close(rx)  # the child's ends: once it exits, writes and reads here see it
            os.close(vtx)
        self._fd, self._vfd = tx, vrx
        self._end = weakref.finalize(self, _end, self._proc, tx, vrx)
        os.set_blocking(tx, False)
        try:
            import fcntl

            fcntl.fcntl(tx, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except (ImportError, AttributeError, OSError):  # not Linux, or a lower limit set
            pass

    def __enter__(self) -> CheckerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int:
        return self._proc.pid

    # -- the producer's side -------------------------------------------------------------------
    def feed(self, record: dict[str, Any]) -> list[Violation]:
        """Queue one record for judging; returns the first violation found so far, if any
        (for this record or an earlier one: see ``Violation.record``)."""
        buf = self._buf
        buf += _DUMPS(record, option=LINE_OPTIONS)
        if len(buf) < self.batch:
            return self._first
        return self._flush()

    def feed_line(self, line: bytes) -> list[Violation]:
        """``feed`` of a record already encoded as a JSON line (``trace.encode_line``): a
        producer that also writes a line-encoded trace encodes each record once."""
        buf = self._buf
        buf += line
        if len(buf) < self.batch:
            return self._first
        return self._flush()

    def tee(self, write_lines: Callable[[bytes], None]) -> None:
        """Hand every batch of lines fed to ``write_lines`` too, before it goes to the child
        (a JSON Lines writer's ``write_lines``): a producer writing its trace then makes one
        call per batch for it instead of one per record. Lines fed and not yet handed on
        when the checker closes are handed on then."""
        self._tee = write_lines

    @property
    def violations(self) -> list[Violation]:
        """Every violation so far, once the child has judged every record fed."""
        if self._finishing is not None:
            self._refuse("the checker's report was asked for: ask it (finish), not violations")
        return list(self._request(b"!sync\n", "synced")[1])

    def begin_finish(self, end_t: float | None = None) -> None:
        """Ask the child for its report now and collect it with ``finish`` later: a producer
        with work of its own left (but no records) does it while the child reports (for a
        million activities that takes seconds). No record may be fed after this."""
        end = "None" if end_t is None else repr(float(end_t))
        if self._finishing is None:
            self._queue(f"!end {end}\n".encode())  # with the records fed until now
            self._finishing = end
            self._pump(0)
        elif end != self._finishing:
            self._refuse(f"the report was asked for the end {self._finishing}, not {end}")

    def finish(self, end_t: float | None = None) -> CheckReport:
        """The child's report (``Checker.finish``); the child then ends. After
        ``begin_finish``, ``end_t`` is the one given there."""
        self.begin_finish(end_t)
        if self._buf:
            self._refuse("records were fed after the checker's report was asked")
        msg = self._answer("report")
        self.peak_rss = msg[2]
        self.close()
        return msg[1]

    def close(self) -> None:
        """End the child (at once if it is busy): closing the pipe tells it to stop."""
        if not self._closed:
            self._closed = True
            rest = bytes(self._buf)
            self._buf.clear()
            self._backlog.clear()
            try:
                if self._tee is not None and rest:
                    self._tee(rest)  # the trace keeps every record fed, checked or not
            finally:
                self._end()  # a failed write must not leave the child running

    def clear(self) -> None:
        """``Checker.clear``'s place: a producer done with its checker drops it."""
        self.close()

    # -- plumbing ------------------------------------------------------------------------------
    def _flush(self) -> list[Violation]:
        self._queue()
        self._pump(BACKLOG_BYTES)
        if select.select([self._vfd], [], [], 0.0)[0]:
            self._receive()
        return self._first

    def _refuse(self, why: str) -> NoReturn:
        """A misuse that would leave records unjudged: the child ends, the records fed go to
        the trace all the same (``close``), and the producer is told."""
        self.close()
        raise CheckerProcessError(why)

    def _queue(self, extra: bytes = b"") -> None:
        buf = self._buf
        if buf and self._finishing is not None:  # the child has stopped reading records
            self._refuse("records were fed after the checker's report was asked")
        records = bytes(buf)
        buf.clear()
        # queued for the child before the trace write: a write that fails (a full disk)
        # then hands this batch on once, not again at the next flush and at close
        if records or extra:
            self._backlog.append(records + extra)
            self._backlog_bytes += len(records) + len(extra)
        if records and self._tee is not None:
            self._tee(records)  # the records; ``extra`` is a control line

    def _pump(self, until: int) -> None:
        """Write the backlog to the pipe: what fits now, and waiting until at most ``until``
        bytes remain."""
        if self._closed:
            raise CheckerProcessError("the checker process was closed; it takes no more records")
        q, fd = self._backlog, self._fd
        while q:
            try:
                n = os.write(fd, q[0])
            except BlockingIOError:
                if self._backlog_bytes <= until:
                    return
                self._wait(writable=True)
                continue
            except BrokenPipeError:
                self._died()
            self._backlog_bytes -= n
            if n == len(q[0]):
                q.popleft()
            else:
                q[0] = memoryview(q[0])[n:]

    def _request(self, line: bytes, answer: str) -> tuple:
        """Send a control line after every record fed; wait for the child's ``answer``."""
        self._queue(line)
        self._pump(0)
        return self._answer(answer)

    def _answer(self, answer: str) -> tuple:
        """Wait for the child's ``answer`` to a control line sent."""
        while True:
            self._wait()
            msg = self._receive()
            if msg[0] == answer:
                return msg

    def _wait(self, writable: bool = False) -> None:
        """Until the pipe takes bytes (``writable``; a verdict arriving meanwhile is taken in)
        or else until a verdict is there to read. Bounded: a child that stops answering is an
        error, and so is one that died (its end of the verdict pipe reads as closed)."""
        deadline = time.monotonic() + STALL_SECONDS
        while True:
            r, w, _ = select.select([self._vfd], [self._fd] if writable else [], [], POLL_SECONDS)
            if r:
                if not writable:
                    return
                self._receive()
            if w:
                return
            if self._proc.poll() is not None and not select.select([self._vfd], [], [], 0)[0]:
                self._died()
            if time.monotonic() > deadline:
                pid = self._proc.pid
                self.close()
                raise CheckerProcessError(
                    f"the checker process (pid {pid}) gave no sign of progress for "
                    f"{STALL_SECONDS:g} s; the run's records were not all checked"
                )

    def _receive(self) -> tuple:
        """One verdict (the caller knows one is there, or the child is gone)."""
        try:
            msg = _recv(self._vfd)
        except (EOFError, OSError):
            self._died()
        if msg[0] == "violation" and not self._first:
            self._first.append(msg[1])
        elif msg[0] == "error":
            self.close()
            raise msg[1]
        return msg

    def _died(self) -> NoReturn:
        proc = self._proc
        try:
            code = proc.wait(POLL_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        how = (
            "is still running but closed its pipe"
            if code is None
            else f"was killed by signal {-code}"
            if code < 0
            else f"exited with code {code}"
        )
        self.close()
        raise CheckerProcessError(
            f"the checker process (pid {proc.pid}) {how} before judging every record; "
            "the run's records were not all checked"
        )


def _end(proc: subprocess.Popen[bytes] | _fork.Forked, tx: int, vrx: int) -> None:
    """Close the pipes (the child then stops) and reap the child; kill it if it lingers."""
    for fd in (tx, vrx):
        with contextlib.suppress(OSError):
            os.close(fd)
    try:
        proc.wait(2.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the verdict pipe: pickled messages, each after its length ---------------------------------
_LEN = struct.Struct("!Q")


def _send(fd: int, msg: tuple) -> None:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read(fd: int, n: int) -> bytes:
    parts = []
    while n:
        part = os.read(fd, n)
        if not part:
            raise EOFError("the pipe closed")
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _recv(fd: int) -> tuple:
    (n,) = _LEN.unpack(_read(fd, _LEN.size))
    return pickle.loads(_read(fd, n))


# -- the child's side ------------------------------------------------------------------------------
#: The child's program. It leaves by ``os._exit``: freeing a million slot objects one by one
#: on the way out would only make the producer wait for the child to end.
_CHILD = (
    "import json, os, sys; sys.path[:] = json.loads(sys.argv[4]); "
    "from activitykit.check.process import _serve; "
    "_serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]); os._exit(0)"
)


def _serve(records: int, verdicts: int, profile: str) -> None:
    """Judge the JSON lines arriving on ``records``; tell ``verdicts`` the first violation at
    once, and answer the control lines ``!sync`` and ``!end <t>``. Ends at the pipe's end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()  # millions of long-lived slot objects and no cycles: as the simulator does
    from .online import Checker

    checker = Checker(profile=profile)
    feed, loads, bad_json = checker.feed, orjson.loads, orjson.JSONDecodeError
    told = False
    tail = b""
    try:
        while True:
            chunk = os.read(records, PIPE_BYTES)
            if not chunk:
                return  # the producer closed the pipe, or is gone: no one to report to
            lines = (tail + chunk if tail else chunk).split(b"\n")
            tail = lines.pop()
            for line in lines:
                try:
                    rec = loads(line)
                except bad_json:  # a control line (records are JSON objects)
                    if line == b"!sync":
                        _send(verdicts, ("synced", checker.violations))
                        continue
                    if line.startswith(b"!end "):
                        arg = line[5:].decode()
                        report = checker.finish(None if arg == "None" else float(arg))
                        _send(verdicts, ("report", report, _peak_rss()))
                        return
                    raise
                if feed(rec) and not told:
                    _send(verdicts, ("violation", checker.violations[0]))
                    told = True
    except Exception as exc:
        with contextlib.suppress(OSError):  # (else the producer is gone)
            _send(verdicts, ("error", _portable(exc)))


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling whole, else a ``CheckerProcessError`` with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return CheckerProcessError(f"the checker process failed: {text}")


def _peak_rss() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes there, KiB elsewhere
