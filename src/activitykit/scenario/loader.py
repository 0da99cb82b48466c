"""Scenario files in, validated ``Scenario`` out; every refusal names file, line and field.

Loading runs in three steps, each of which may refuse the input with an ``InputError``:

1. YAML, safely and with line numbers (``_yaml``): syntax errors, tags, duplicate keys.
2. The schema (``schema.Scenario``) in strict mode, so ``computers: "100"`` or
   ``ping_interval: true`` are type errors rather than silent conversions.
3. Cross-references (``validate.problems``): type names, groups, dependencies, cycles.

The file must be valid by itself; ``--set`` overrides are then applied to its data and the
result is checked again, so an error caused by an override names that ``--set`` argument.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import InputError
from ._yaml import MAX_DEPTH, Marks, Path, load_yaml, parse_value, read_bounded
from .schema import Scenario
from .validate import Problem, format_path, problems

__all__ = ["dump_effective", "load_scenario", "loads_scenario", "scenario_from_data"]

#: Errors listed per refusal; more than this is noise (fix the first ones and rerun).
_MAX_ERRORS = 20
#: Context flag: the loader runs the cross-reference checks itself, with field locations.
DEFER = {"defer_cross_checks": True}


def load_scenario(path: str | FsPath, overrides: Sequence[str] = ()) -> Scenario:
    """Read, validate and return the scenario in ``path`` with ``--set``-style overrides."""
    path = FsPath(path)
    return loads_scenario(read_bounded(path), source=str(path), overrides=overrides)


def loads_scenario(text: str, source: str = "<string>", overrides: Sequence[str] = ()) -> Scenario:
    """Like ``load_scenario`` for YAML text; ``source`` names it in error messages.

    A document without any setting (empty, or only comments) is refused: it is almost always
    the wrong file or an unsaved one, and running all defaults would hide that.
    """
    data, marks = load_yaml(text, source)
    if data is None:
        raise InputError(
            "the file has no settings (it is empty or only comments); to run every default on "
            "purpose, write at least a name, e.g. 'name: defaults'",
            source=source,
        )
    return scenario_from_data(data, source=source, marks=marks, overrides=overrides)


def scenario_from_data(
    data: Any,
    *,
    source: str = "<data>",
    marks: Marks | None = None,
    overrides: Sequence[str] = (),
) -> Scenario:
    """Validate plain data (as YAML or JSON would give) into a ``Scenario``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(
            f"a scenario is a mapping of sections (name, fleet, server, workload, ...), "
            f"not {_type_name(data)}",
            source=source,
            line=1,
        )
    marks = marks or {}
    scenario = _validate(data, lambda loc: _file_where(source, marks, loc))
    if not overrides:
        return scenario
    data = copy.deepcopy(data)
    effective = scenario.model_dump(mode="json")
    touched: dict[Path, str] = {}
    for arg in overrides:
        touched[_apply_override(data, arg, effective)] = arg
    return _validate(data, lambda loc: _override_where(touched, loc))


def dump_effective(scenario: Scenario) -> str:
    """The scenario as YAML with every default filled in; loading it gives ``scenario`` back."""
    body = yaml.safe_dump(
        scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=100
    )
    header = (
        "# Effective scenario: the file with every default filled in (activitykit scenario "
        "show).\n# Loading this file gives exactly the same scenario.\n"
    )
    return header + body


# --- validation and error messages ------------------------------------------------------
def _validate(data: dict[str, Any], where: typing.Callable[[Path], str]) -> Scenario:
    try:
        scenario = Scenario.model_validate_json(
            json.dumps(data, default=_json_default), strict=True, context=DEFER
        )
    except ValidationError as exc:
        lines = [
            where(path) + _describe(err, path, allowed)
            for err in exc.errors(include_url=False)
            for path, allowed in [_locate(err["loc"])]
        ]
        _refuse(lines)
    found: list[Problem] = problems(scenario)
    if found:
        _refuse([f"{where(p.loc)}{p}" for p in found])
    return scenario


def _refuse(lines: list[str]) -> typing.NoReturn:
    if len(lines) > _MAX_ERRORS:
        lines = [*lines[:_MAX_ERRORS], f"... and {len(lines) - _MAX_ERRORS} more"]
    if len(lines) > 1:
        lines = [f"{len(lines)} problems:", *lines]
    raise InputError("\n".join(lines))


def _file_where(source: str, marks: Marks, loc: Path) -> str:
    for n in range(len(loc), 0, -1):
        line = marks.get(loc[:n])
        if line is not None:
            return f"{source}:{line}: "
    return f"{source}: "


def _override_where(touched: Mapping[Path, str], loc: Path) -> str:
    blamed = [arg for path, arg in touched.items() if _related(path, loc)]
    return f"--set {' --set '.join(map(_shown, blamed or touched.values()))}: "


def _related(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _describe(err: Mapping[str, Any], path: Path, allowed: list[str] | None) -> str:
    kind = err["type"]
    name = format_path(path)
    if kind == "extra_forbidden":
        parent = format_path(path[:-1])
        where = "at the top level" if len(path) == 1 else f"in {parent}"
        keys = ", ".join(allowed or [])
        return f"{name}: unknown key {path[-1]!r} {where}; allowed keys: {keys}"
    if kind == "missing":
        return f"{name}: required field missing"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    value = err.get("input")
    if kind not in (
        "model_type",
        "model_attributes_type",
        "dict_type",
        "list_type",
    ) and not isinstance(value, dict | list):
        msg += f" (got {_show(value)})"
        if isinstance(value, str) and _looks_numeric(value):
            msg += "; YAML read it as text: write plain digits such as 1000000 or 1.0e+6"
    return f"{name}: {msg}"


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace("_", ""))
    except ValueError:
        return False
    return True


def _type_name(value: Any) -> str:
    return {list: "a list", str: "text", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _json_default(value: Any) -> Any:
    """YAML types JSON lacks (dates, sets, bytes): pass them on as text for a clear type error."""
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(map(str, value))
    return str(value)


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _locate(loc: Iterable[str | int]) -> tuple[Path, list[str] | None]:
    """Map a pydantic error location onto the data: (path in the data, allowed keys).

    Pydantic adds entries that are not in the file (the tag of a tagged union such as
    ``fixed``, or ``function-after[...]``); they are dropped. For an unknown key the keys the
    enclosing section allows are returned too.
    """
    tp: Any = Scenario
    path: list[str | int] = []
    elems = list(loc)
    for i, elem in enumerate(elems):
        tp = _unwrap(tp)
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            members = _members(tp)
            tagged = [m for m in members if _is_model(m) and _tag(m) == elem]
            if tagged:
                tp = tagged[0]
                continue
            if len(members) == 1:
                tp = members[0]
            else:
                fits = [m for m in members if _is_model(m) and elem in m.model_fields]
                tp = fits[0] if fits else tp
        origin = typing.get_origin(tp)
        if _is_model(tp) and isinstance(elem, str):
            if elem in tp.model_fields:
                path.append(elem)
                tp = tp.model_fields[elem].annotation
            elif i == len(elems) - 1:
                path.append(elem)
                return tuple(path), list(tp.model_fields)
        elif origin is list and isinstance(elem, int):
            path.append(elem)
            tp = typing.get_args(tp)[0]
        elif origin is dict and isinstance(elem, str):
            path.append(elem)
            tp = typing.get_args(tp)[1]
    return tuple(path), None


def _members(tp: Any) -> list[Any]:
    """The non-null members of a union, nested unions (``Dist | None``) flattened."""
    out: list[Any] = []
    for arg in typing.get_args(tp):
        arg = _unwrap(arg)
        if typing.get_origin(arg) in (typing.Union, types.UnionType):
            out += _members(arg)
        elif arg is not type(None):
            out.append(arg)
    return out


def _tag(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("dist")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return args[0] if args else None


# --- --set overrides ----------------------------------------------------------------------
def _shown(arg: str, limit: int = 100) -> str:
    """A ``--set`` argument as messages quote it: long ones cut, not echoed whole."""
    return arg if len(arg) <= limit else f"{arg[:limit]}... ({len(arg):,} characters)"


def _apply_override(data: dict[str, Any], arg: str, effective: dict[str, Any]) -> Path:
    """Apply ``dotted.key=value`` to ``data`` in place; return the path it set."""
    full, arg = arg, _shown(arg)
    key, sep, text = full.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise InputError(
            f"--set {arg}: expected dotted.key=value, e.g. duration=7200 or "
            "fleet.groups.0.computers=500"
        )
    if len(parts) > MAX_DEPTH:
        raise InputError(
            f"--set {arg}: the key has {len(parts)} parts; no scenario field is deeper "
            f"than about 10 (limit {MAX_DEPTH})"
        )
    path: Path = tuple(int(p) if p.isdigit() else p for p in parts)
    value = parse_value(text, f"--set {arg}")
    node: Any = data
    for depth, part in enumerate(path):
        here = format_path(path[:depth]) if depth else "the scenario"
        last = depth == len(path) - 1
        if isinstance(node, list):
            if not isinstance(part, int) or not 0 <= part < len(node):
                raise InputError(
                    f"--set {arg}: {here} is a list of {len(node)} entries; use an index "
                    f"0..{len(node) - 1} (got {part!r})"
                    if node
                    else f"--set {arg}: {here} is an empty list; add the entry in the file"
                )
        elif isinstance(node, dict):
            part = str(part)
            if not last and part not in node:
                node[part] = copy.deepcopy(_lookup(effective, path[: depth + 1]))
        else:
            raise InputError(f"--set {arg}: {here} is a value ({_show(node)}), not a section")
        if last:
            node[part] = value
        else:
            node = node[part]
    return path


def _lookup(effective: Any, path: Path) -> Any:
    """The effective (defaulted) value at ``path``, or an empty section if there is none."""
    node = effective
    for part in path:
        if isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return {}
    return node if isinstance(node, dict | list) else {}
