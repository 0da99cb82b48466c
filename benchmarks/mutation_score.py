"""Mutation score of the default ``activitykit conform`` run against the server core.

mutmut (a test extra) generates the mutants of ``src/activitykit/server/store.py`` (the
reference logic: ``ReferenceSystem`` *is* an ``ActivityStore``) with its trampolines: each
mutated function checks which mutant is active at every call. That lets one process hold
both sides of the comparison: the IUT (a ``ReferenceSystem`` whose ``handle`` runs with one
mutant active) and the oracle (the same class, run with no mutant active), so the oracle
is never mutated. A mutant is *killed* when the default run (the whole catalogue and 100
stateful sequences, seed 0, the session's profile) reports a deviation or an IUT failure.
Each mutant runs in a child process with a time limit (a mutated loop may never end:
that is a kill too, reported as ``timeout``).

813 mutants take hours on two shared cores, so ``--sample N`` draws N of them at random
(``--sample-seed``), or ``--only SUBSTRING`` selects by function. Prints the score and
every surviving mutant as a diff, to be classified (killed by a new case, or equivalent
with a reason) in docs/iut-protocol.md.

    python benchmarks/mutation_score.py --sample 40
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "src/activitykit/server/store.py"
MODULE = "activitykit.server.store"


def build(tmp: Path) -> list[str]:
    """Copy the package to ``tmp`` with ``store.py`` replaced by mutmut's mutated module."""
    from mutmut.mutation.file_mutation import mutate_file_contents

    shutil.copytree(ROOT / "src/activitykit", tmp / "activitykit")
    mutated = mutate_file_contents(str(TARGET), TARGET.read_text(encoding="utf-8"))
    (tmp / "activitykit/server/store.py").write_text(mutated.code, encoding="utf-8")
    (tmp / "names.json").write_text(json.dumps(mutated.mutant_names), encoding="utf-8")
    return list(mutated.mutant_names)


def diff(tmp: Path, name: str) -> str:
    """The mutant as a diff of its function against the original."""
    code = (tmp / "activitykit/server/store.py").read_text(encoding="utf-8")
    funcs = {
        n.name: ast.get_source_segment(code, n) or ""
        for n in ast.walk(ast.parse(code))
        if isinstance(n, ast.FunctionDef)
    }
    orig = funcs.get(name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig", "")
    lines = difflib.unified_diff(
        orig.splitlines(), funcs.get(name, "").splitlines(), lineterm="", n=0
    )
    return "\n".join(line for line in list(lines)[2:] if not line.startswith("@@"))


def run_one(name: str, profile: str) -> int:
    """In the child: 1 if the default conform run catches mutant ``name``, else 0."""
    from mutmut.mutation import trampoline

    from activitykit.conformance import PythonIUT, ReferenceSystem, run_suite

    os.environ["MUTANT_UNDER_TEST"] = ""

    class Mutated:
        """The IUT: the reference with the mutant active during its own calls only."""

        def __init__(self) -> None:
            self.inner = ReferenceSystem()

        def handle(self, request: dict) -> dict:
            trampoline.set_mutant_under_test(f"{MODULE}.{name}")
            try:
                return self.inner.handle(request)
            finally:
                trampoline.set_mutant_under_test("")

    report = run_suite(PythonIUT(Mutated()), profile=profile, seed=0, shrink_seconds=0)
    return 1 if report.exit_code != 0 else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, default=40, help="mutants drawn at random (0: all)")
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--only", help="only mutants whose name contains this")
    p.add_argument("--profile", default="result-wins")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per mutant")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--tree", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        return 10 + run_one(args.one, args.profile)
    with tempfile.TemporaryDirectory(prefix="activitykit-mutation-") as d:
        tmp = Path(d)
        names = build(tmp)
        pool = [n for n in names if not args.only or args.only in n]
        if args.sample and args.sample < len(pool):
            pool = sorted(random.Random(args.sample_seed).sample(pool, args.sample))
        env = {**os.environ, "PYTHONPATH": str(tmp), "MUTANT_UNDER_TEST": ""}
        killed, survived, started = [], [], time.perf_counter()
        # Control: with no mutant active the run must pass, or every "kill" means nothing.
        control = subprocess.run(
            [sys.executable, __file__, "--one", "x_no_such__mutmut_0", "--profile", args.profile],
            env=env,
            capture_output=True,
            timeout=args.timeout,
        )
        if control.returncode != 10:
            print(f"control run failed (exit {control.returncode}): {control.stderr[-2000:]!r}")
            return 2
        for i, name in enumerate(pool, 1):
            t = time.perf_counter()
            try:
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", name, "--profile", args.profile],
                    env=env,
                    capture_output=True,
                    timeout=args.timeout,
                )
                code = proc.returncode
                verdict = {11: "killed", 10: "survived"}.get(code, f"killed (exit {code})")
            except subprocess.TimeoutExpired:
                verdict = "killed (timeout)"
            (survived if verdict == "survived" else killed).append(name)
            print(
                f"[{i}/{len(pool)}] {verdict:<18} {time.perf_counter() - t:6.1f}s  {name}",
                flush=True,
            )
        print()
        print(
            f"mutants of {TARGET.relative_to(ROOT)}: {len(names)}; run: {len(pool)} "
            f"({args.profile}, seed 0, {time.perf_counter() - started:.0f} s)"
        )
        score = len(killed) / len(pool) if pool else 1.0
        print(f"mutation score: {len(killed)}/{len(pool)} killed = {score:.1%}")
        for name in survived:
            print(f"\nsurvived: {name}\n{diff(tmp, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
