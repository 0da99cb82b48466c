"""What can end any command besides its input: its standard output, memory, path lengths.

These are failures of the place a command runs in, not of what it was given, and every
command meets them the same way, so the command line's entry handles them once:

- standard output that cannot take the output (a full disk, ``>&-``, a read-only fd): a
  message on stderr and exit 2; a reader that went away (``| head -1``, EPIPE): quiet,
  exit 141 as a tool killed by SIGPIPE. ``install_stdout`` makes the errors of fd 1
  recognisable (``StdoutError``): the same errno from a trace file on a full disk is
  another matter and keeps its own message.
- memory that ran out (``MemoryError``, under ``ulimit -v`` or a container's limit): what
  the command was doing, the limit, what to try. Run and sweep directories are replaced
  only when complete, so the previous results are intact.
"""

from __future__ import annotations

import errno
import io
import os
import resource
import sys
from types import TracebackType

__all__ = ["StdoutError", "flush_stdout", "install_stdout", "out_of_memory", "stdout_failed"]

#: Exit code of a command whose reader went away: a shell's code for death by SIGPIPE.
EXIT_PIPE = 128 + 13


class StdoutError(OSError):
    """Writing the command's standard output failed (the errno of that write)."""


class _Stdout(io.FileIO):
    """fd 1, whose write errors are ``StdoutError``; ``discard`` drops what still comes."""

    _discard = False

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self._discard:
            return len(data)
        try:
            return super().write(data) or 0
        except OSError as exc:
            raise StdoutError(exc.errno, exc.strerror) from None

    def discard(self) -> None:
        """Once the failure is reported, what is still buffered goes nowhere (the exit's
        flush would otherwise fail again, with Python's own "Exception ignored")."""
        self._discard = True


class _ClosedStdout(io.RawIOBase):
    """Standard output of a process started with fd 1 closed: every write fails."""

    _discard = False

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self._discard:
            return len(data)
        raise StdoutError(errno.EBADF, "standard output is closed")

    def discard(self) -> None:
        self._discard = True


def install_stdout() -> None:
    """Make ``sys.stdout`` a text stream over fd 1 whose write errors are ``StdoutError``.

    Only where the command owns its process (``entry``). A process started with fd 1
    closed gets /dev/null on fd 1, so that the next file opened cannot take that number
    and receive what a child process prints, and a ``sys.stdout`` that refuses writes.
    """
    old = sys.stdout
    raw: io.RawIOBase
    if old is None:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 1:
            os.dup2(fd, 1)
            os.close(fd)
        raw, encoding, errors, lines = _ClosedStdout(), "utf-8", "strict", False
    else:
        try:
            old.flush()
            fd = old.fileno()
        except (OSError, ValueError):  # not a file (an embedding's stream): leave it
            return
        raw = _Stdout(fd, "w", closefd=False)
        encoding, errors, lines = old.encoding, old.errors or "strict", old.line_buffering
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw), encoding=encoding, errors=errors, line_buffering=lines
    )


def flush_stdout() -> None:
    """Write out what is buffered, so that a failure is reported by the command (the flush
    at the interpreter's exit could only print "Exception ignored")."""
    if sys.stdout is not None:
        sys.stdout.flush()


def _discard_stdout() -> None:
    stream = sys.stdout
    raw = getattr(getattr(stream, "buffer", None), "raw", None)
    if isinstance(raw, _Stdout | _ClosedStdout):
        raw.discard()


def stdout_failed(command: str, exc: StdoutError) -> int:
    """Report a failed write to standard output; the exit code."""
    _discard_stdout()
    if exc.errno == errno.EPIPE:  # the reader has all it wanted
        return EXIT_PIPE
    reason = exc.strerror or os.strerror(exc.errno or 0)
    if exc.errno == errno.EBADF:
        hint = "give it one (> FILE, or | less)"
    else:
        hint = "free some space, or send it elsewhere (> FILE on another disk)"
    print(
        f"{command}: error: cannot write to standard output ({reason}): the output is "
        f"incomplete; {hint}",
        file=sys.stderr,
    )
    return 2


# --- memory -------------------------------------------------------------------------------
#: What a command was doing, by the package of the innermost frame of the kit at the
#: failure (longest prefix first).
_DOING: tuple[tuple[str, str], ...] = (
    ("activitykit.sim", "simulating"),
    ("activitykit.trace", "reading or writing the trace"),
    ("activitykit.check", "checking the trace"),
    ("activitykit.reports", "computing the summary or drawing the report"),
    ("activitykit.analysis", "analysing the trace"),
    ("activitykit.scenario", "loading the scenario"),
    ("activitykit.experiments", "running the sweep's runs"),
    ("activitykit.conformance", "running the conformance suite"),
    ("activitykit.live", "running the live fleet"),
    ("activitykit.runner", "running the scenario"),
    ("activitykit", "preparing the command"),
)
#: What may help, per command.
_TRY = {
    "run": "fewer computers, a shorter duration or lower arrival rates (activitykit "
    "scenario validate shows the expected size), output.report: false",
    "sweep": "fewer workers (each holds one run), smaller runs, or a smaller grid",
    "check": "a smaller trace (the checker holds every record's fields in memory)",
    "report": "a smaller run, or report.html without --compare",
    "calibrate": "a smaller fleet or a shorter duration",
    "live": "a smaller fleet or a shorter duration",
}


def _doing(tb: TracebackType | None) -> str:
    module = None
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(name, str) and name.startswith("activitykit"):
            module = name
        tb = tb.tb_next
    if module is None:
        return "starting"
    text = next(text for prefix, text in _DOING if module.startswith(prefix))
    return f"{text} (in {module})"


def _limit() -> str:
    """The process's memory limit as text, or that there is none."""
    limits = []
    for which, flag in ((resource.RLIMIT_AS, "-v"), (resource.RLIMIT_DATA, "-d")):
        soft, _ = resource.getrlimit(which)
        if soft != resource.RLIM_INFINITY:
            limits.append(f"{soft / 2**30:.3g} GiB (ulimit {flag})")
    if not limits:
        return "no memory limit is set for this process: the machine's memory ran out"
    return "the process may use at most " + " and ".join(limits)


def out_of_memory(command: str, exc: MemoryError) -> int:
    """Report that memory ran out; the exit code."""
    doing = _doing(exc.__traceback__)
    # the traceback's frames hold what filled the memory: let it go before saying anything
    exc.__traceback__ = None
    del exc
    sub = command.partition(" ")[2]
    hint = _TRY.get(sub, "a smaller input")
    print(
        f"{command}: error: ran out of memory while {doing}; {_limit()}. Try {hint}, or "
        "allow the process more memory. Run and sweep directories are replaced only when "
        "complete: earlier results are intact.",
        file=sys.stderr,
    )
    return 2
