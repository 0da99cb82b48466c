"""Cross-reference checks: what one field alone cannot know.

The pydantic schema checks each value against its own rule (type, range). A scenario can
still be wrong as a whole: a type name that is not in the catalog, a group nobody defined, a
bulk that waits for itself, a server activity aimed at a group of computers. ``problems``
finds all of these at once and returns each with the path of the field at fault, so the
loader can point at the line of the file. No defaults live here (they are in ``schema``).

The sums over the whole scenario against the schema's limits (what one run can do) are in
``limits``; ``Problem`` itself is in ``problem``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from ..model import Kind, UnknownActivityTypeError, activity_type
from ._yaml import Path
from .limits import check_limits
from .problem import Problem, format_path
from .schema import (
    Arrival,
    Batch,
    Bulk,
    Chain,
    ChainStep,
    FleetGroup,
    Scenario,
)

__all__ = ["Problem", "format_path", "problems"]


def _closest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=2, cutoff=0.5)
    if close:
        return f"; did you mean {' or '.join(map(repr, close))}?"
    return f"; known: {', '.join(map(repr, known))}" if known else ""


def _find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle in a small dependency graph as ``[a, b, a]``, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in edges:
        if start not in state and (found := visit(start)):
            return found
    return None


def _waits_for(t: Bulk | ChainStep) -> list[tuple[Path, str]]:
    """What a bulk or chain step waits for, each name with its field (``depends_on[j]``,
    ``progress_of``)."""
    refs: list[tuple[Path, str]] = [
        (("depends_on", j), name) for j, name in enumerate(t.depends_on)
    ]
    if t.progress_of is not None:
        refs.append((("progress_of",), t.progress_of))
    return refs


class _Checker:
    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.found: list[Problem] = []
        self.groups: dict[str, FleetGroup] = {}
        for group in scenario.fleet.groups:
            self.groups.setdefault(group.name, group)
        self.fleet_size = sum(g.computers for g in scenario.fleet.groups)

    def add(self, loc: Path, message: str) -> None:
        self.found.append(Problem(loc, message))

    # --- fleet and server ---------------------------------------------------------------
    def fleet(self) -> None:
        seen: set[str] = set()
        for i, group in enumerate(self.s.fleet.groups):
            loc: Path = ("fleet", "groups", i)
            if group.name in seen:
                self.add(
                    (*loc, "name"),
                    f"duplicate group name {group.name!r}; give every group its own name",
                )
            seen.add(group.name)
            if group.start_phase_spread is not None and group.registration_spread > 0:
                self.add(
                    (*loc, "start_phase_spread"),
                    "start_phase_spread only applies when registration_spread is 0 (computers "
                    "registering during the run start their cycle then); set one of the two",
                )
            for type_name in group.handlers:
                kind = self.type_kind((*loc, "handlers", type_name), type_name)
                if kind is Kind.SERVER:
                    self.add(
                        (*loc, "handlers", type_name),
                        f"{type_name} is a server activity type; fleet handlers describe "
                        "client work (put it under server.handlers)",
                    )
        for type_name in self.s.server.handlers:
            kind = self.type_kind(("server", "handlers", type_name), type_name)
            if kind is Kind.CLIENT:
                self.add(
                    ("server", "handlers", type_name),
                    f"{type_name} is a client activity type; server.handlers describe "
                    "job-handler work (put it under fleet.groups[].handlers)",
                )
        for i, si in enumerate(self.s.server.set_intervals):
            if si.group is not None and si.group not in self.groups:
                self.add(
                    ("server", "set_intervals", i, "group"),
                    f"unknown group {si.group!r}{_closest(si.group, list(self.groups))}",
                )
        busy = self.s.faults.server_busy
        if busy.backoff_max < busy.backoff_initial:
            self.add(
                ("faults", "server_busy", "backoff_max"),
                f"backoff_max ({busy.backoff_max}) must be >= backoff_initial "
                f"({busy.backoff_initial})",
            )

    def type_kind(self, loc: Path, name: str) -> Kind | None:
        try:
            return activity_type(name).kind
        except UnknownActivityTypeError as exc:
            self.add(loc, str(exc))
            return None

    # --- workload -----------------------------------------------------------------------
    def workload(self) -> None:
        w = self.s.workload
        names: dict[str, Path] = {}
        sections: list[tuple[str, Sequence[Arrival | Batch | Bulk | Chain]]] = [
            ("arrivals", w.arrivals),
            ("batches", w.batches),
            ("bulks", w.bulks),
            ("chains", w.chains),
        ]
        for section, entries in sections:
            for i, entry in enumerate(entries):
                loc: Path = ("workload", section, i, "name")
                if entry.name in names:
                    self.add(
                        loc,
                        f"duplicate workload name {entry.name!r} (also "
                        f"{format_path(names[entry.name][:-1])}); names are unique across "
                        "arrivals, batches, bulks and chains",
                    )
                else:
                    names[entry.name] = loc
        for i, arrival in enumerate(w.arrivals):
            loc = ("workload", "arrivals", i)
            kind = self.template(loc, arrival, waits=False)
            self.target(loc, arrival.group, kind)
            if arrival.stop is not None and arrival.stop <= arrival.start:
                self.add(
                    (*loc, "stop"),
                    f"stop ({arrival.stop}) must be after start ({arrival.start})",
                )
        for i, batch in enumerate(w.batches):
            loc = ("workload", "batches", i)
            kind = self.template(loc, batch, waits=False)
            self.target(loc, batch.group, kind)
        self.bulks(names)
        for i, chain in enumerate(w.chains):
            self.chain(("workload", "chains", i), chain)

    def template(
        self, loc: Path, t: Arrival | Batch | Bulk | ChainStep, *, waits: bool
    ) -> Kind | None:
        kind = self.type_kind((*loc, "type"), t.type)
        if t.state == "Scheduled" and t.deliver_after is None:
            self.add(
                (*loc, "state"),
                "state Scheduled needs deliver_after (seconds after creation)",
            )
        if t.state != "Scheduled":
            if t.deliver_after is not None:
                self.add(
                    (*loc, "deliver_after"),
                    f"deliver_after only applies to state Scheduled (state is {t.state})",
                )
            if t.deliver_delay_window > 0:
                self.add(
                    (*loc, "deliver_delay_window"),
                    f"deliver_delay_window only applies to state Scheduled (state is {t.state})",
                )
        if not waits:
            if t.state == "Waiting":
                self.add(
                    (*loc, "state"),
                    "state Waiting needs depends_on or progress_of, which only bulks and "
                    "chain steps have; use Queued, Scheduled or Blocked here",
                )
            return kind
        assert isinstance(t, Bulk | ChainStep)
        has_deps = bool(t.depends_on) or t.progress_of is not None
        if t.state == "Waiting" and not has_deps:
            self.add(
                (*loc, "state"),
                "state Waiting needs depends_on or progress_of (what it waits for)",
            )
        if has_deps and t.state not in ("Waiting", "Blocked"):
            self.add(
                (*loc, "depends_on" if t.depends_on else "progress_of"),
                f"only a Waiting (or Blocked) activity waits for others; state is {t.state}",
            )
        if t.threshold is not None and t.progress_of is None:
            self.add((*loc, "threshold"), "threshold needs progress_of (whose progress)")
        if t.progress_of is not None and t.threshold is None:
            self.add(
                (*loc, "threshold"),
                f"progress_of {t.progress_of!r} needs a threshold in [0, 1]",
            )
        return kind

    def target(self, loc: Path, group: str | None, kind: Kind | None) -> None:
        """A client activity needs computers; a server activity must not name a group."""
        if group is not None:
            if kind is Kind.SERVER:
                self.add(
                    (*loc, "group"),
                    "a server activity runs on a job-handler, not on computers; remove group",
                )
                return
            if group not in self.groups:
                self.add(
                    (*loc, "group"), f"unknown group {group!r}{_closest(group, list(self.groups))}"
                )
                return
            if self.groups[group].computers == 0:
                self.add((*loc, "group"), f"group {group!r} has no computers")
        elif kind is Kind.CLIENT and self.fleet_size == 0:
            self.add((*loc, "type"), "a client activity needs computers; the fleet has none")

    def bulks(self, names: Mapping[str, Path]) -> None:
        bulks = self.s.workload.bulks
        bulk_names = {b.name for b in bulks}
        edges: dict[str, list[str]] = {}
        for i, bulk in enumerate(bulks):
            loc: Path = ("workload", "bulks", i)
            kind = self.template(loc, bulk, waits=True)
            if kind is Kind.SERVER:
                self.add(
                    (*loc, "type"),
                    f"{bulk.type} is a server activity type; a bulk operation creates one "
                    "client activity per computer",
                )
            else:
                self.target(loc, bulk.group, kind)
            size = self.groups[bulk.group].computers if bulk.group in self.groups else None
            if bulk.group is None:
                size = self.fleet_size
            if bulk.count is not None and size is not None and bulk.count > size:
                where = f"group {bulk.group!r}" if bulk.group else "the fleet"
                self.add(
                    (*loc, "count"), f"count ({bulk.count}) exceeds {where} ({size} computers)"
                )
            refs = _waits_for(bulk)
            edges[bulk.name] = []
            earlier = {b.name: b for b in bulks[:i]}
            for sub, ref in refs:
                if ref in bulk_names:
                    edges[bulk.name].append(ref)
                    if ref not in earlier:
                        self.add(
                            (*loc, *sub),
                            f"bulk {ref!r} is listed after this one; a bulk waits only for "
                            "bulks listed before it (move it up)",
                        )
                    elif earlier[ref].at > bulk.at:
                        self.add(
                            (*loc, *sub),
                            f"bulk {ref!r} is created at {earlier[ref].at}, after this one "
                            f"(at {bulk.at}); a bulk waits only for bulks created at or before it",
                        )
                elif ref in names:
                    self.add(
                        (*loc, *sub),
                        f"{ref!r} is {format_path(names[ref][1:3])}, not a bulk; bulks wait "
                        "only for other bulks",
                    )
                else:
                    self.add(
                        (*loc, *sub), f"unknown bulk {ref!r}{_closest(ref, sorted(bulk_names))}"
                    )
        self.cycle(("workload", "bulks"), bulks, edges)

    def cycle(
        self, loc: Path, entries: Sequence[Bulk | ChainStep], edges: Mapping[str, Sequence[str]]
    ) -> None:
        """A dependency cycle among ``entries`` (at ``loc``), blamed on its first entry."""
        cycle = _find_cycle(edges)
        if cycle:
            first = next(i for i, e in enumerate(entries) if e.name == cycle[0])
            self.add(
                (*loc, first, "depends_on"),
                f"dependency cycle: {' -> '.join(cycle)}; nothing in it could ever start",
            )

    def chain(self, loc: Path, chain: Chain) -> None:
        steps: dict[str, ChainStep] = {}
        kinds: list[Kind | None] = []
        edges: dict[str, list[str]] = {}
        for j, step in enumerate(chain.steps):
            if step.name in steps:
                self.add(
                    (*loc, "steps", j, "name"),
                    f"duplicate step name {step.name!r} in chain {chain.name!r}",
                )
            steps.setdefault(step.name, step)
        for j, step in enumerate(chain.steps):
            sloc: Path = (*loc, "steps", j)
            kinds.append(self.template(sloc, step, waits=True))
            edges.setdefault(step.name, [])
            earlier = {s.name for s in chain.steps[:j]}
            refs = _waits_for(step)
            for sub, ref in refs:
                if ref not in steps:
                    self.add(
                        (*sloc, *sub),
                        f"unknown step {ref!r} in chain {chain.name!r}{_closest(ref, list(steps))}",
                    )
                    continue
                edges[step.name].append(ref)
                if ref not in earlier:
                    self.add(
                        (*sloc, *sub),
                        f"step {ref!r} comes later in the chain; a step waits only for steps "
                        "listed before it (reorder the steps)",
                    )
            if step.progress_of in steps:
                target = steps[step.progress_of]
                try:
                    reports = activity_type(target.type).reports_progress
                except UnknownActivityTypeError:
                    continue  # already reported on the target's own type field
                if not reports:
                    self.add(
                        (*sloc, "progress_of"),
                        f"step {target.name!r} ({target.type}) reports no progress; "
                        "progress_of needs a type that does (e.g. SyncPocketRequest), "
                        "or use depends_on",
                    )
        self.cycle((*loc, "steps"), chain.steps, edges)
        if Kind.CLIENT in kinds or chain.group is None:
            if Kind.CLIENT in kinds:
                self.target(loc, chain.group, Kind.CLIENT)
        elif all(k is Kind.SERVER for k in kinds):
            self.add(
                (*loc, "group"),
                "every step is a server activity, so the chain runs on no computer; remove group",
            )

    # --- headline ----------------------------------------------------------------------
    def headline(self) -> None:
        """Headline and objective figures must be figures a run reports."""
        from ..reports.names import HEADLINE_FIGURES

        known = list(HEADLINE_FIGURES)
        named = [(("headline", "figures", i), f) for i, f in enumerate(self.s.headline.figures)]
        named += [
            (("headline", "objectives", i, "figure"), o.figure)
            for i, o in enumerate(self.s.headline.objectives)
        ]
        for loc, figure in named:
            if figure not in HEADLINE_FIGURES:
                self.add(loc, f"unknown figure {figure!r}" + _closest(figure, known))


def problems(scenario: Scenario) -> list[Problem]:
    """Every cross-reference problem of ``scenario``, in file order of sections."""
    checker = _Checker(scenario)
    checker.fleet()
    checker.workload()
    check_limits(checker)
    checker.headline()
    return checker.found
