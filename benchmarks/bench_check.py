"""Benchmark: `activitykit check` on a ~2M-record trace against a bare `json.loads` loop.

Writes a conformant trace (client and server activities interleaved, every record kind) with
``activitykit.check.synth.synth_trace``, then times, on the same file:

- baseline: a plain Python loop that only ``json.loads`` every line (in this process);
- check: the installed ``activitykit check`` CLI as a subprocess (interpreter start-up,
  imports, reading, every rule and the report included).

Prints both times, the ratio check/baseline (goal <= 0.5) and the peak resident memory of
the check process (goal < 1.5 GiB). Usage:

    python benchmarks/bench_check.py                # ~2M records in a temp dir
    python benchmarks/bench_check.py --records 200000
    python benchmarks/bench_check.py --path trace.jsonl --keep

Where the check's time goes (process times, 2M records, 2 shared cores): reading the blocks
into columns is still the larger part. The kit's own lines take the plain-line reader
(``trace._fast._plain_jsonl``): about 0.14 s of CPU per 8 MiB block on a loaded machine
(0.02 s for the pattern that vouches for every line, 0.03 s gathering the values' bytes,
the rest finding keys and values by their quotes and building the columns); measured
earlier per 16 MiB, pyarrow's JSON reader (still the reader of a block with any other line)
took 0.26-0.3 s to the plain reader's 0.2 s, and the ``json.loads`` loop 0.65-0.95 s. Then
validating the columns (0.02 s a block),
the rules (about 1.2 s of CPU: the deliver/result clauses on a worker while the
transitions' facts are gathered, the transitions judged in two halves at once), the imports
(0.4-0.5 s) and joining the blocks (0.2 s, its columns on both cores). glibc's malloc is
told to reuse freed memory (``cli.check._keep_freed_memory``): a third fewer page faults
and a third less system time. polars' NDJSON reader turns a number in a text field into
text, and arro3's (arrow-rs) reads the text "1" as the number 1 and 2.5 as the integer 2
(and is slower), so neither is a drop-in. What remains serial: the imports, the join, and
the rules' own gathering of facts after the last block; below 0.5 on 2 cores needs the
rules judged block by block while the next blocks parse (``check.batch`` carrying each
activity's state from block to block).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from activitykit.check.synth import synth_trace

#: Records per activity in synth_trace traces (measured); sizes the activity count.
RECORDS_PER_ACTIVITY = 6.5


def write_trace(path: Path, records: int, seed: int) -> int:
    """Write at least ``records`` records (whole epochs); returns the count written."""
    dumps = json.JSONEncoder(separators=(", ", ": "), ensure_ascii=False).encode
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for rec in synth_trace(int(records / RECORDS_PER_ACTIVITY) + 1, seed=seed):
            fh.write(dumps(rec))
            fh.write("\n")
            n += 1
    return n


def baseline(path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of a plain loop that parses every line with json.loads."""
    loads = json.loads
    start, cpu = time.perf_counter(), time.process_time()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            loads(line)
    return time.perf_counter() - start, time.process_time() - cpu


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def find_cli() -> list[str]:
    exe = Path(sys.executable).with_name("activitykit")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("activitykit")
    return [found] if found else [sys.executable, "-m", "activitykit"]


def run_check(path: Path) -> tuple[float, float, int, str]:
    """(wall, CPU, exit code, output) of the installed CLI checking ``path``."""
    cmd = [*find_cli(), "check", str(path), "--limit", "5"]
    start, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    return elapsed, _children_cpu() - cpu, proc.returncode, (proc.stdout + proc.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=2_000_000, help="trace size (default 2M)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--path", type=Path, help="write the trace here (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the trace file")
    ap.add_argument(
        "--reuse", action="store_true", help="use the trace at --path as it is if it exists"
    )
    ap.add_argument("--repeat", type=int, default=1, help="time each side this many times (best)")
    args = ap.parse_args(argv)

    tmp = None
    if args.path is None:
        tmp = tempfile.mkdtemp(prefix="bench_check_")
        path = Path(tmp) / "trace.jsonl"
    else:
        path = args.path
    try:
        t0 = time.perf_counter()
        if args.reuse and path.exists():
            with open(path, "rb") as fh:
                n = sum(1 for _ in fh)
            how = "reused"
        else:
            n = write_trace(path, args.records, args.seed)
            how = f"written in {time.perf_counter() - t0:.1f} s"
        size = path.stat().st_size
        print(f"trace: {path} ({n:,} records, {size / 2**20:.1f} MiB), {how}")
        bases = [baseline(path) for _ in range(args.repeat)]
        base, base_cpu = min(b[0] for b in bases), min(b[1] for b in bases)
        runs = [run_check(path) for _ in range(args.repeat)]
        chk, chk_cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        code, out = runs[-1][2], runs[-1][3]
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: KiB
        print(out.strip().splitlines()[-1] if out.strip() else "(no output)")
        print(f"baseline json.loads loop: {base:8.2f} s  ({n / base / 1e6:.2f} M records/s)")
        print(
            f"activitykit check:        {chk:8.2f} s  ({n / chk / 1e6:.2f} M records/s), "
            f"exit {code}"
        )
        print(f"ratio check/baseline:     {chk / base:8.2f}  (goal <= 0.5)")
        print(
            f"CPU seconds (user+sys):   baseline {base_cpu:.2f}, check {chk_cpu:.2f} "
            f"(ratio {chk_cpu / base_cpu:.2f}; the check parses a block on every core)"
        )
        print(f"load average at the end:  {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"peak memory of check:     {peak / 2**30:8.2f} GiB  (goal < 1.5 GiB)")
        if code != 0:
            print("the synthetic trace should be conformant; check reported:", file=sys.stderr)
            print(out, file=sys.stderr)
            return 1
        return 0
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif args.path is None and args.keep:
            print(f"kept {path}")


if __name__ == "__main__":
    sys.exit(main())
