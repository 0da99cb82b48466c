"""Clauses evaluated over columns: the batch driver's views of records.

A clause of ``activitykit.check.rules`` reads facts by name (``v.state``, ``v.deliver_t``);
over a ``View`` each fact is a numpy array gathered on first use for the records the view
covers, so a clause selecting a few rows (``when``) pays only for those. ``Row`` is one
record of a view as Python values, names decoded: what a violation message reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from . import rules as R

__all__ = ["Row", "View", "judge"]


class View:
    """The facts of some records as columns, each gathered on first use (``facts[name]``
    maps the base indexes to an array, or to a dict of several facts at once)."""

    def __init__(self, facts: Mapping[str, Any], base: np.ndarray, decode: Mapping[str, Any]):
        self._facts, self._base, self._decode = facts, base, decode
        self.size = len(base)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        got = self._facts[name](self._base)
        if isinstance(got, dict):
            self.__dict__.update(got)
            return got[name]
        self.__dict__[name] = got
        return got

    def sub(self, positions: np.ndarray) -> View:
        return View(self._facts, self._base[positions], self._decode)

    def at(self, j: int) -> Row:
        return Row(self, j)


class Row:
    """One record of a view as Python scalars with names decoded: what messages read."""

    def __init__(self, view: View, j: int) -> None:
        self._view, self._j = view, j

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._view, name)[self._j]
        if name in self._view._decode:
            return self._view._decode[name](value)
        return value.item() if isinstance(value, np.generic) else value


def judge(
    clauses: Iterable[R.Clause], view: View, ctx: R.Context, found: list[tuple[str, int, str]]
) -> list[tuple[str, int, str]]:
    """Append ``(rule, table row, message)`` for every record of ``view`` a clause finds;
    returns ``found``."""
    if not view.size:
        return found
    for clause in clauses:
        v = view
        if clause.when is not None:
            sel = np.flatnonzero(clause.when(view, ctx))
            if not len(sel):
                continue
            v = view.sub(sel)
        broken = np.broadcast_to(clause.broken(v, ctx), (v.size,))
        for j in np.flatnonzero(broken):
            row = v.at(int(j))
            found.append((clause.rule, int(row.row), clause.message(row, ctx)))
    return found
