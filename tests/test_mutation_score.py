"""benchmarks/mutation_score.py: how listed equivalents are matched, and that the list fits
the current server code (an entry that matches no mutant is stale: the code moved on)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location(
        "mutation_score", ROOT / "benchmarks/mutation_score.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mutation_score", module)
    spec.loader.exec_module(module)
    return module


ms = _load()


def _mutant(function: str, *change: str) -> object:
    return ms.Mutant("activitykit.server.store", f"x_{function}__mutmut_1", function, change)


def test_function_names_from_mutmut_names() -> None:
    assert ms._function("xǁActivityStoreǁ_settle__mutmut_3") == "ActivityStore._settle"
    assert ms._function("x_neg_threshold__mutmut_1") == "neg_threshold"


def test_entries_match_by_function_change_or_pattern(tmp_path: Path) -> None:
    listed = tmp_path / "eq.toml"
    listed.write_text(
        """
[[equivalent]]
function = "A.unreachable"
reason = "never called"

[[equivalent]]
function = ["A.f", "A.g"]
change = ["-x = 1", "+x = 2"]
reason = "x is never read"

[[equivalent]]
function = "*"
pattern = ['-raise Refused\\("[^"]*"\\)', '\\+raise Refused\\("XX[^"]*XX"\\)']
reason = "free text"
""",
        encoding="utf-8",
    )
    known = ms.Equivalents(listed)
    assert _mutant("A.unreachable", "-y", "+z") in known
    assert _mutant("A.f", "-x = 1", "+x = 2") in known
    assert _mutant("A.g", "-x = 1", "+x = 2") in known
    assert _mutant("A.f", "-x = 1", "+x = None") not in known
    assert _mutant("B.g", '-raise Refused("no")', '+raise Refused("XXnoXX")') in known
    assert _mutant("B.g", '-raise Refused("no")', '+raise ValueError("no")') not in known
    assert known.unmatched([_mutant("A.f", "-x = 1", "+x = 2")]) == [
        "A.g ['-x = 1', '+x = 2']",
        "A.unreachable",
        "* pattern " + str([r.pattern for r in known.patterns[0][1]]),
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('function = "A.f"', "entry 1: field 'reason' is missing"),
        (
            'function = "A.f"\nreason = "r"\nchange = ["-a"]\npattern = ["-a"]',
            "entry 1: give change or pattern, not both",
        ),
        ('function = "A.f"\nreason = "r"\npattern = ["-("]', "entry 1: pattern:"),
    ],
)
def test_bad_entries_are_named(tmp_path: Path, entry: str, message: str) -> None:
    listed = tmp_path / "eq.toml"
    listed.write_text(f"[[equivalent]]\n{entry}\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=message.replace("(", r"\(")):
        ms.Equivalents(listed)


@pytest.mark.slow
def test_every_listed_equivalent_matches_a_current_mutant(tmp_path: Path) -> None:
    pytest.importorskip("mutmut")
    mutants = ms.build(tmp_path)
    assert ms.Equivalents(ms.EQUIVALENT).unmatched(mutants) == []
