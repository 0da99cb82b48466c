"""Mutation score of the default ``activitykit conform`` run against the reference system.

mutmut (a test extra) generates the mutants of every module of the ``activitykit.server``
package (the reference logic: ``ReferenceSystem`` *is* an ``ActivityStore``), with its
trampolines: each mutated function checks which mutant is active at every call. That lets
one process hold both sides of the comparison: the IUT (a ``ReferenceSystem`` whose
``handle`` runs with one mutant active) and the oracle (the same class, run with no mutant
active), so the oracle is never mutated.

A mutant is *killed* at a seed when the default run at that seed (the whole catalogue,
then 100 stateful sequences) reports a deviation or an IUT failure under either profile
(an IUT implements one; a bug in the other profile's rule is a bug too). Each mutant runs in
a child process with a time limit (``--timeout``; a kill, ``timeout``), and a request that
takes over ``REQUEST_SECONDS`` is an IUT failure, as the subprocess harness's per-request
timeout would report a loop that never ends.

What keeps the cost down: the catalogue runs first, case by case, and its first failure
ends the child; the catalogue does not depend on the seed, so that kill holds at every seed.
Only a mutant the stateful stage alone told apart (and, unless ``--survivors-one-seed``, a
survivor) is run again at the other seeds. Mutants of a function listed whole (unreachable
from protocol v1) are counted equivalent without running; ``--skip-listed`` skips the other
listed ones too.

Mutants that behave like the original are listed, each with the reason, in
``benchmarks/mutation_equivalent.toml`` (matched by function and changed line, so the list
survives renumbering and moving a function to another module of the package); the score
counts the others. 890 mutants take hours on two shared cores, so they are drawn in a
random order (``--sample-seed``): ``--sample N`` takes the first N, ``--budget SECONDS``
stops drawing after that long (the sample is cut there, still random), ``--offset N``
starts later in the order, and ``--merge FILE`` (a ``--json`` of an earlier part) scores
parts together; ``--only SUBSTRING`` and ``--mutant KEY`` select.

    python benchmarks/mutation_score.py --sample 40 --seeds 0-4 --jobs 2
    python benchmarks/mutation_score.py --sample 0 --budget 1800 --skip-listed --json a.json
    python benchmarks/mutation_score.py --no-run --seeds 0-4 --merge a.json --merge b.json
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src/activitykit/server"
EQUIVALENT = Path(__file__).with_name("mutation_equivalent.toml")
PROFILES = ("result-wins", "cancel-sticky")


@dataclass(frozen=True)
class Mutant:
    module: str  # activitykit.server.store
    name: str  # mutmut's name: xǁActivityStoreǁ_settle__mutmut_3
    function: str  # ActivityStore._settle
    change: tuple[str, ...]  # the diff lines: "-old", "+new" (stripped)

    @property
    def key(self) -> str:
        return f"{self.module}.{self.name}"


def _function(name: str) -> str:
    """``ActivityStore._settle`` for mutmut's ``xǁActivityStoreǁ_settle__mutmut_3``."""
    base = name.rsplit("__mutmut_", 1)[0]
    if base.startswith("xǁ"):
        cls, _, meth = base[2:].partition("ǁ")
        return f"{cls}.{meth}"
    return base.removeprefix("x_")


def _functions(code: str) -> dict[str, str]:
    """Every function's source in ``code``, by name."""
    lines = code.splitlines()
    return {
        n.name: "\n".join(lines[n.lineno - 1 : n.end_lineno])
        for n in ast.walk(ast.parse(code))
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _change(funcs: dict[str, str], name: str) -> tuple[str, ...]:
    """The mutant's changed lines against the original function: "-old", "+new"."""
    orig = funcs.get(name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig", "")
    lines = difflib.unified_diff(
        orig.splitlines(), funcs.get(name, "").splitlines(), lineterm="", n=0
    )
    out = []
    for line in list(lines)[2:]:
        if line.startswith("@@"):
            continue
        # The mutated copy's def line carries its own name; that is not the change.
        if "__mutmut_" in line and line.lstrip("+- ").startswith("def "):
            continue
        out.append(line[0] + line[1:].strip())
    return tuple(out)


def build(tmp: Path) -> list[Mutant]:
    """Copy the package to ``tmp`` with every module of ``activitykit.server`` replaced by
    mutmut's mutated version of it; return the mutants."""
    from mutmut.mutation.file_mutation import mutate_file_contents

    shutil.copytree(ROOT / "src/activitykit", tmp / "activitykit")
    mutants = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT / "src")
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        mutated = mutate_file_contents(str(path), path.read_text(encoding="utf-8"))
        (tmp / rel).write_text(mutated.code, encoding="utf-8")
        funcs = _functions(mutated.code)
        mutants += [
            Mutant(module, n, _function(n), _change(funcs, n)) for n in mutated.mutant_names
        ]
    return mutants


class Equivalents:
    """The listed mutants: by function and changed lines, by function and a pattern of the
    changed lines (one class of edit, e.g. any key of a record the protocol drops), or (no
    ``change``/``pattern``) every mutant of a function the protocol cannot reach. ``function``
    is one name (``"*"``: any) or a list of them."""

    def __init__(self, path: Path) -> None:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        self.exact: dict[tuple[str, tuple[str, ...]], str] = {}
        self.whole: dict[str, str] = {}
        #: (function or "*" for any, one regular expression per changed line)
        self.patterns: list[tuple[str, tuple[re.Pattern[str], ...]]] = []
        for i, entry in enumerate(doc.get("equivalent", []), 1):
            for field in ("function", "reason"):
                if field not in entry:
                    raise SystemExit(f"{path.name}: entry {i}: field {field!r} is missing")
            if "change" in entry and "pattern" in entry:
                raise SystemExit(f"{path.name}: entry {i}: give change or pattern, not both")
            # One entry may name several functions: the same edit, the same reason.
            names = entry["function"]
            names = [names] if isinstance(names, str) else list(names)
            if "change" in entry:
                for f in names:
                    self.exact[(f, tuple(entry["change"]))] = entry["reason"]
            elif "pattern" in entry:
                try:
                    regexes = tuple(re.compile(r) for r in entry["pattern"])
                except re.error as exc:
                    raise SystemExit(f"{path.name}: entry {i}: pattern: {exc}") from None
                self.patterns += [(f, regexes) for f in names]
            else:
                self.whole |= dict.fromkeys(names, entry["reason"])

    def unmatched(self, mutants: list[Mutant]) -> list[str]:
        """Entries no mutant matches: a function renamed or moved to another class."""
        out = [
            f"{f} {list(c)}"
            for f, c in self.exact
            if not any(m.function == f and m.change == c for m in mutants)
        ]
        names = {m.function for m in mutants}
        out += [f for f in self.whole if f not in names]
        out += [
            f"{fn} pattern {[r.pattern for r in regexes]}"
            for fn, regexes in self.patterns
            if not any(self._fits(fn, regexes, m) for m in mutants)
        ]
        return out

    @staticmethod
    def _fits(fn: str, regexes: tuple[re.Pattern[str], ...], m: Mutant) -> bool:
        return (
            fn in ("*", m.function)
            and len(regexes) == len(m.change)
            and all(r.fullmatch(line) for r, line in zip(regexes, m.change, strict=True))
        )

    def __contains__(self, m: Mutant) -> bool:
        if m.function in self.whole or (m.function, m.change) in self.exact:
            return True
        return any(self._fits(fn, regexes, m) for fn, regexes in self.patterns)


class _RequestTimeout(Exception):
    """One request of the mutated IUT ran past ``REQUEST_SECONDS`` (a loop that never ends)."""


#: What the subprocess harness allows one request (``--timeout`` 5 s, 10 s for the first):
#: a mutant stuck in a loop is stopped here, as a hung IUT is, instead of at the child's limit.
REQUEST_SECONDS = 10.0


def _on_alarm(signum: int, frame: object) -> None:
    raise _RequestTimeout(f"a request took over {REQUEST_SECONDS:g} s")


def run_one(key: str, seeds: list[int], catalogue: bool) -> dict:
    """In the child: which seeds' default runs catch mutant ``key``. With ``catalogue`` the
    catalogue runs first, case by case, and its first kill ends the child (the catalogue does
    not depend on the seed, so it kills at every seed); then the stateful stage at each seed."""
    import signal

    from mutmut.mutation import trampoline

    from activitykit.conformance import CASES, PythonIUT, ReferenceSystem, run_suite

    signal.signal(signal.SIGALRM, _on_alarm)

    class Mutated:
        """The IUT: the reference with the mutant active during its own calls only."""

        def __init__(self) -> None:
            # Built with the mutant active too: a mutant of a constructor is the IUT's.
            trampoline.set_mutant_under_test(key)
            try:
                self.inner = ReferenceSystem()
            finally:
                trampoline.set_mutant_under_test("")

        def handle(self, request: dict) -> dict:
            trampoline.set_mutant_under_test(key)
            signal.setitimer(signal.ITIMER_REAL, REQUEST_SECONDS)
            try:
                return self.inner.handle(request)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                trampoline.set_mutant_under_test("")

    trampoline.set_mutant_under_test("")
    if catalogue:
        for profile in PROFILES:
            for case in CASES.values():
                report = run_suite(
                    PythonIUT(Mutated()), profile=profile, cases=[case], stateful=False
                )
                if report.exit_code != 0:
                    return {"killed": seeds, "by": f"{case.name} ({profile})", "stage": "catalogue"}
    killed: dict[int, str] = {}
    for seed in seeds:
        for profile in PROFILES:
            report = run_suite(
                PythonIUT(Mutated()), profile=profile, cases=[], seed=seed, shrink_seconds=0
            )
            if report.exit_code != 0:
                killed[seed] = f"stateful ({profile})"
                break
    by = sorted(set(killed.values()))
    return {"killed": sorted(killed), "by": ", ".join(by), "stage": "stateful"}


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def _run_all(
    jobs: int,
    items: list[Mutant],
    fn: Callable[[Mutant], dict],
    done: Callable[[Mutant, dict, int], None],
    stop: Callable[[], bool] = lambda: False,
) -> list[Mutant]:
    """``fn`` over ``items``, ``jobs`` at a time, calling ``done`` as each ends; no new item
    starts once ``stop()`` is true. Returns the items started, in order."""
    started: list[Mutant] = []
    pending: dict[Future[dict], Mutant] = {}
    todo = iter(items)
    with ThreadPoolExecutor(max(1, jobs)) as ex:
        while True:
            while len(pending) < max(1, jobs) and not stop():
                m = next(todo, None)
                if m is None:
                    break
                pending[ex.submit(fn, m)] = m
                started.append(m)
            if not pending:
                return started
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                done(pending.pop(f), f.result(), len(started) - len(pending))


def _line(m: Mutant) -> str:
    return f"{m.key.rsplit('.', 1)[0]}.{m.function} #{m.name.rsplit('_', 1)[1]}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, default=40, help="mutants drawn at random (0: all)")
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--only", help="only mutants whose function contains this")
    p.add_argument(
        "--mutant", action="append", default=[], help="only this mutant (its key; repeatable)"
    )
    p.add_argument("--seeds", default="0", help="conform seeds, e.g. 0-4 (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="mutants run at once")
    p.add_argument(
        "--timeout", type=float, default=900.0, help="seconds per child (one mutant, one phase)"
    )
    p.add_argument(
        "--budget",
        type=float,
        help="seconds: start no new mutant of the first seed after this; the sample is cut to "
        "those started (drawn in random order, so still a random sample)",
    )
    p.add_argument(
        "--skip-listed",
        action="store_true",
        help="do not run listed equivalents (faster; the check that none is killed is skipped)",
    )
    p.add_argument(
        "--survivors-one-seed",
        action="store_true",
        help="run the first seed's survivors on no other seed (faster; then 'the same set "
        "on every seed' is checked for the killed mutants only)",
    )
    p.add_argument(
        "--offset", type=int, default=0, help="skip the first N of the random order (split a run)"
    )
    p.add_argument("--json", type=Path, help="write every mutant's result here")
    p.add_argument(
        "--merge",
        type=Path,
        action="append",
        default=[],
        help="also count the mutants a --json of an earlier run recorded (same code), and do "
        "not run them again unless --mutant names them (repeatable)",
    )
    p.add_argument("--no-run", action="store_true", help="run nothing: score the --merge files")
    p.add_argument(
        "--no-control",
        action="store_true",
        help="skip the control run (no mutant active: every run must pass), e.g. when the run "
        "of a --merge file made it",
    )
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--no-catalogue", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    seeds = _seeds(args.seeds)
    if args.one:
        print(json.dumps(run_one(args.one, seeds, catalogue=not args.no_catalogue)))
        return 0
    known = Equivalents(EQUIVALENT)
    with tempfile.TemporaryDirectory(prefix="activitykit-mutation-") as d:
        tmp = Path(d)
        mutants = build(tmp)
        stale = known.unmatched(mutants)
        for entry in stale:
            print(f"{EQUIVALENT.name}: matches no mutant (renamed or moved?): {entry}")
        pool = [m for m in mutants if not args.only or args.only in m.function]
        if args.mutant:
            pool = [m for m in pool if m.key in args.mutant]
        # A random order: a run cut short by --budget still holds a random sample.
        order = random.Random(args.sample_seed)
        pool = order.sample(pool, args.sample if 0 < args.sample < len(pool) else len(pool))
        pool = [] if args.no_run else pool[args.offset :]
        by_key = {m.key: m for m in mutants}
        merged: dict[str, dict] = {}
        for path in args.merge:
            for row in json.loads(path.read_text(encoding="utf-8")):
                if row["key"] not in by_key:
                    print(f"{path}: {row['key']} is no mutant of the current code: left out")
                    continue
                merged[row["key"]] = {k: row[k] for k in ("killed", "by", "stage", "seconds")}
                merged[row["key"]]["ran"] = row.get("ran", [])
        env = {**os.environ, "PYTHONPATH": str(tmp), "MUTANT_UNDER_TEST": ""}

        def child(key: str, run_seeds: list[int], catalogue: bool = True) -> dict:
            text = ",".join(map(str, run_seeds))
            cmd = [sys.executable, __file__, "--one", key, "--seeds", text]
            cmd += [] if catalogue else ["--no-catalogue"]
            t = time.perf_counter()
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                return {
                    "killed": run_seeds,
                    "by": "timeout",
                    "stage": "timeout",
                    "seconds": args.timeout,
                }
            try:
                out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
            except (IndexError, ValueError):
                out = {"killed": run_seeds, "by": f"child exit {proc.returncode}"}
            if proc.returncode != 0:
                tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
                out = {"killed": run_seeds, "by": f"child exit {proc.returncode} {tail}"}
            out.setdefault("stage", "crash")
            out["seconds"] = time.perf_counter() - t
            return out

        started = time.perf_counter()
        # Control: with no mutant active every run must pass, or a "kill" means nothing.
        control = (
            child("activitykit.server.x_no_such__mutmut_0", seeds[:1])
            if pool and not args.no_control
            else {"killed": [], "seconds": 0.0}
        )
        if control["killed"]:
            print(f"control run failed: {control}")
            return 2
        if control["seconds"]:
            print(
                f"control run (no mutant, seed {seeds[0]}): {control['seconds']:.1f} s", flush=True
            )
        results: dict[str, dict] = {}
        # Mutants of a function listed whole are unreachable from protocol v1: not run.
        unreachable = [m for m in pool if m.function in known.whole]
        for m in unreachable:
            results[m.key] = {"killed": [], "by": "", "stage": "not run", "seconds": 0.0, "ran": []}
        for m in pool:
            if m.key in merged and m.key not in args.mutant:
                results[m.key] = merged[m.key]
        todo = [
            m
            for m in pool
            if m.key not in results
            and m not in unreachable
            and not (args.skip_listed and m in known)
        ]
        for m in pool:
            if args.skip_listed and m in known and m.key not in results and m not in todo:
                results[m.key] = {
                    "killed": [],
                    "by": "",
                    "stage": "not run",
                    "seconds": 0.0,
                    "ran": [],
                }
        first, rest = seeds[0], seeds[1:]

        def report(i: int, n: int, m: Mutant, out: dict, what: str) -> None:
            eq = " (listed equivalent)" if m in known else ""
            verdict = f"killed {out['by']}" if out["killed"] else "survived" + eq
            print(f"[{what} {i}/{n}] {out['seconds']:6.1f}s  {_line(m)}: {verdict}", flush=True)
            if not out["killed"] and m not in known and what.startswith("seed"):
                print("    " + "\n    ".join(m.change), flush=True)

        # Phase 1: every mutant at the first seed (catalogue, then the stateful stage).
        def over_budget() -> bool:
            return args.budget is not None and time.perf_counter() - started > args.budget

        def record(m: Mutant, out: dict, i: int) -> None:
            out["ran"] = seeds if out["stage"] == "catalogue" else [first]
            results[m.key] = out
            report(i, len(todo), m, out, f"seed {first}")

        ran = _run_all(args.jobs, todo, lambda m: child(m.key, [first]), record, over_budget)
        if len(ran) < len(todo):
            # Cut the sample where the budget stopped the draw (the unreachable ones too).
            pool = pool[: pool.index(todo[len(ran)])]
            print(f"budget reached: the sample is the first {len(pool)} drawn", flush=True)
        # Phase 2: the other seeds, for what only the stateful stage told apart (a catalogue
        # kill holds at every seed) and, unless told otherwise, the unlisted survivors.
        again = [
            m
            for m in pool
            if m.key in results
            and results[m.key]["stage"] in ("stateful", "timeout", "crash")
            and not set(results[m.key].get("ran", [])) >= set(seeds)
            and (results[m.key]["killed"] or (m not in known and not args.survivors_one_seed))
        ]
        if rest and again:
            text = ",".join(map(str, rest))
            print(f"\nseeds {text}: {len(again)} mutants", flush=True)

            def merge(m: Mutant, out: dict, i: int) -> None:
                r = results[m.key]
                r["killed"] = sorted(set(r["killed"]) | set(out["killed"]))
                r["by"] = ", ".join(x for x in (r["by"], out["by"]) if x)
                r["seconds"] += out["seconds"]
                r["ran"] = sorted(set(r["ran"]) | set(rest))
                report(i, len(again), m, out, f"seeds {text}")

            _run_all(args.jobs, again, lambda m: child(m.key, rest, catalogue=False), merge)
        for m in pool:
            if results[m.key]["stage"] == "catalogue":
                results[m.key]["killed"] = seeds
        # Earlier runs' records, for the mutants not run now.
        here = {m.key for m in pool}
        pool += [by_key[k] for k in merged if k not in here]
        results = merged | results
        equivalent = [m for m in pool if m in known]
        counted = [m for m in pool if m not in equivalent]
        killed = [m for m in counted if first in results[m.key]["killed"]]
        checked = [m for m in counted if set(results[m.key]["ran"]) >= set(seeds)]
        uneven = [m for m in checked if set(results[m.key]["killed"]) not in (set(), set(seeds))]
        wrongly = [m for m in equivalent if results[m.key]["killed"]]
        elapsed = time.perf_counter() - started
        print()
        print(
            f"mutants of {PACKAGE.relative_to(ROOT)}/: {len(mutants)}; sample: {len(pool)} "
            f"(sample seed {args.sample_seed}"
            + (f", {len(merged)} from {len(args.merge)} earlier runs" if merged else "")
            + f"); listed equivalent: {len(equivalent)} "
            f"({sum(m.function in known.whole for m in equivalent)} in unreachable functions, "
            "not run); "
            f"seeds {args.seeds}; {elapsed:.0f} s with {args.jobs} jobs"
        )
        times: dict[str, list[float]] = {}
        for m in pool:
            r = results[m.key]
            if r["stage"] != "not run":
                times.setdefault(r["stage"], []).append(r["seconds"])
        print(
            "seconds per mutant: "
            + "; ".join(
                f"{stage} {len(ts)}x, median {sorted(ts)[len(ts) // 2]:.1f}, max {max(ts):.1f}"
                for stage, ts in sorted(times.items())
            )
        )
        score = len(killed) / len(counted) if counted else 1.0
        print(
            f"mutation score (seed {first}): {len(killed)}/{len(counted)} "
            f"non-equivalent mutants killed = {score:.1%}"
        )
        if rest:
            print(
                f"killed on some seeds of {args.seeds} but not all: {len(uneven)} "
                f"(of {len(checked)} checked on every seed)"
                + "".join(f"\n  {m.key} {results[m.key]['killed']}" for m in uneven)
            )
        for m in wrongly:
            print(f"listed equivalent but killed (remove it from the list): {m.key}")
        for m in counted:
            if first not in results[m.key]["killed"]:
                print(f"\nsurvived: {m.key}  ({m.function})\n" + "\n".join(m.change))
        if args.json:
            rows = [
                {
                    "key": m.key,
                    "function": m.function,
                    "change": list(m.change),
                    "listed": m in known,
                    **results[m.key],
                }
                for m in pool
            ]
            args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    # The score leans on the list of equivalents: a list that no longer fits the code fails.
    return 1 if wrongly or stale else 0


if __name__ == "__main__":
    sys.exit(main())
