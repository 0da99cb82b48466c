"""Sweep grids: ``--grid dotted.key=v1,v2`` axes, their cartesian product, and run ids.

A grid axis is one scenario field (a dotted path as in ``--set``; list items by index, e.g.
``fleet.groups.0.ping_interval``) and the values it takes. Values are YAML, so ``2`` is an
int, ``2.5`` a float, ``cancel-sticky`` a string and ``{dist: exponential, mean: 20}`` a
distribution; commas inside brackets, braces or quotes do not split values.

Every run of a sweep is one grid point and one replication. Its id is a hash of the grid
point and the seed only, so the id does not depend on the order of runs, the number of
workers or which runs already exist: that is what lets a re-run skip finished runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..scenario._yaml import parse_value
from ..scenario.schema import Scenario

__all__ = [
    "MAX_REPLICATIONS",
    "MAX_RUNS",
    "GridAxis",
    "RunSpec",
    "apply_values",
    "expand",
    "parse_axis",
    "replication_seeds",
    "run_id",
]


@dataclass(frozen=True, slots=True)
class GridAxis:
    """One swept scenario field and its values, in the order given."""

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run of a sweep: a grid point (``key -> value``), a replication index, a seed."""

    run_id: str
    point: tuple[tuple[str, Any], ...]
    replication: int
    seed: int

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.point)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside [], {} or quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_axis(text: str) -> GridAxis:
    """Parse ``dotted.key=v1,v2,...`` into a ``GridAxis``; values are YAML."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or not key or not rest.strip():
        raise InputError(
            f"--grid {text!r}: expected dotted.key=v1,v2,... (e.g. server.job_handlers=1,2,4)"
        )
    if any(not part for part in key.split(".")):
        raise InputError(f"--grid {text!r}: the key {key!r} has an empty part between dots")
    values: list[Any] = []
    for raw in _split_top_level(rest):
        if not raw.strip():
            raise InputError(f"--grid {text!r}: empty value between commas")
        # the scenario loader's YAML: the same limits (nesting, recursive aliases) as --set
        values.append(parse_value(raw, f"--grid {key}: value {_shown(raw)}"))
    if len(set(map(_canonical, values))) != len(values):
        raise InputError(f"--grid {key}: a value is listed twice in {rest!r}")
    return GridAxis(key, tuple(values))


def _shown(raw: str, limit: int = 60) -> str:
    """A value as messages quote it: a long one cut, not echoed whole."""
    return repr(raw) if len(raw) <= limit else f"{raw[:limit]!r}... ({len(raw):,} characters)"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


#: Most replications of one grid point: intervals narrow with the square root of the count,
#: so beyond this a longer run does more good than another seed.
MAX_REPLICATIONS = 10_000
#: Most runs one sweep may ask for: each is a whole simulation (a second to minutes), so a
#: sweep of more would not end within days.
MAX_RUNS = 100_000


def replication_seeds(base_seed: int, n: int) -> list[int]:
    """Seeds of ``n`` replications: ``base_seed, base_seed + 1, ...``.

    Every grid point uses the same seeds (common random numbers): differences between
    configurations then come from the configuration, not from luck of the draw.
    """
    from ..scenario.schema import MAX_SEED

    if n < 1:
        raise InputError(f"--replications ({n}) must be at least 1")
    if n > MAX_REPLICATIONS:
        raise InputError(
            f"--replications ({_count(n)}) must be at most {MAX_REPLICATIONS:,} seeds per grid "
            "point; a longer duration narrows the intervals more cheaply"
        )
    if base_seed + n - 1 > MAX_SEED:
        raise InputError(
            f"--replications {n:,} from seed {base_seed} would need seeds beyond {MAX_SEED} "
            "(the largest 64-bit seed); start from a smaller --seed"
        )
    return [base_seed + i for i in range(n)]


def _count(n: int) -> str:
    """A count as messages show it: with separators, or in digits when it is enormous."""
    return f"{n:,}" if n < 10**15 else f"a number of {len(str(n))} digits"


def run_id(point: Iterable[tuple[str, Any]], seed: int) -> str:
    """A stable 12-hex-digit id of one run: the grid point (sorted by key) and the seed."""
    doc = {"point": sorted((k, _canonical(v)) for k, v in point), "seed": seed}
    return hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def expand(axes: Sequence[GridAxis], seeds: Sequence[int]) -> list[RunSpec]:
    """The cartesian product of the axes times the seeds, grid point by grid point."""
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise InputError(f"--grid: {', '.join(dup)} given more than once; list all values once")
    points = math.prod(len(a.values) for a in axes)
    if points * len(seeds) > MAX_RUNS:
        sizes = " x ".join(f"{len(a.values)} ({a.key})" for a in axes) or "1"
        raise InputError(
            f"--grid x --replications: {sizes} grid points x {len(seeds):,} replications = "
            f"{points * len(seeds):,} runs; the limit is {MAX_RUNS:,} per sweep: sweep fewer "
            "values, or split the grid over several --out directories"
        )
    specs = []
    for combo in itertools.product(*(a.values for a in axes)):
        point = tuple(zip(keys, combo, strict=True))
        for i, seed in enumerate(seeds):
            specs.append(RunSpec(run_id(point, seed), point, i, seed))
    return specs


def _set_path(doc: Any, key: str, value: Any) -> None:
    parts = key.split(".")
    node = doc
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise InputError(
                    f"{key}: {where} is not an item of a list of {len(node)} "
                    f"(use an index 0..{len(node) - 1})"
                )
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                allowed = ", ".join(sorted(node)) or "(none)"
                raise InputError(f"{key}: no field {where!r}; fields here: {allowed}")
            if last:
                node[part] = value
            else:
                node = node[part]
        else:
            raise InputError(f"{key}: {'.'.join(parts[:depth])} is a value, not a section")


def apply_values(scenario: Scenario, values: Mapping[str, Any]) -> Scenario:
    """A copy of ``scenario`` with dotted fields set, validated exactly like a scenario file
    (strict types and cross-reference checks, by ``activitykit.scenario``)."""
    from ..scenario import scenario_from_data

    if not values:
        return scenario
    doc = scenario.model_dump(mode="json")
    for key, value in values.items():
        _set_path(doc, key, value)
    shown = " ".join(f"{k}={_canonical(v)}" for k, v in values.items())
    return scenario_from_data(doc, source=f"grid point {shown}")
