"""Safe YAML with line numbers: the data of a file plus where each value was written.

PyYAML's ``safe_load`` forgets positions, so a schema error could only name a field. Here
the document is composed into nodes first (SafeLoader: no python tags, no code), the nodes
are walked once to record the line of every key and list item, and only then constructed
into plain data. The result is ``(data, marks)`` with ``marks`` mapping a path tuple such as
``("fleet", "groups", 0, "ping_interval")`` to its 1-based line.

Duplicate keys in one mapping are refused: YAML would silently keep the last one, and a
scenario that says two different things about the same setting is a mistake.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import InputError

__all__ = ["Marks", "Path", "load_yaml", "parse_value"]

#: Values one document may expand to. Aliases let a few lines stand for exponentially many
#: values ("billion laughs"); a real scenario has a few hundred.
MAX_VALUES = 100_000

#: A path into the data: mapping keys (str) and list indexes (int).
Path = tuple[str | int, ...]
Marks = dict[Path, int]


def _problem_line(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if mark is None:
        return None, problem
    return mark.line + 1, f"{problem} (line {mark.line + 1}, column {mark.column + 1})"


def _walk(node: yaml.Node, path: Path, marks: Marks, source: str, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise InputError(
            f"the document expands to more than {MAX_VALUES:,} values (through YAML aliases?); "
            "write the scenario out plainly",
            source=source,
            line=node.start_mark.line + 1,
        )
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key == "<<":  # merge key: the merged mapping's keys land in this one
                _walk(value_node, path, marks, source, budget)
                continue
            if key in seen:
                raise InputError(
                    f"duplicate key {key!r} (first at line {seen[key]}); write each setting once",
                    source=source,
                    line=line,
                )
            seen[key] = line
            child = (*path, key) if isinstance(key, str) else path
            marks.setdefault(child, line)
            _walk(value_node, child, marks, source, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            marks.setdefault(child, item.start_mark.line + 1)
            _walk(item, child, marks, source, budget)


def load_yaml(text: str, source: str) -> tuple[Any, Marks]:
    """Parse ``text`` safely; return its data and the line of every path in it.

    Raises ``InputError`` naming ``source``, the line and column for syntax errors, tags that
    would construct Python objects, and duplicate keys.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        marks: Marks = {}
        if node is None:
            return None, marks
        _walk(node, (), marks, source, [MAX_VALUES])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        line, message = _problem_line(exc)
        if isinstance(exc, yaml.constructor.ConstructorError):
            message += "; scenario files are plain data (no !!python or other tags)"
        raise InputError(f"YAML error: {message}", source=source, line=line) from None
    except yaml.YAMLError as exc:  # e.g. a reader error for bytes that are not text
        raise InputError(f"YAML error: {exc}", source=source) from None
    finally:
        loader.dispose()
    return data, marks


def parse_value(text: str, source: str) -> Any:
    """Parse the value of a ``--set key=value`` as YAML (``5``, ``true``, ``null``, ``[a, b]``)."""
    if text == "":
        return ""
    data, _ = load_yaml(text, source)
    return data
