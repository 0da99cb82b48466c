"""Safe YAML with line numbers: the data of a file plus where each value was written.

PyYAML's ``safe_load`` forgets positions, so a schema error could only name a field. Here
the document is composed into nodes first (SafeLoader: no python tags, no code), the nodes
are walked once to record the line of every key and list item, and only then constructed
into plain data. The result is ``(data, marks)`` with ``marks`` mapping a path tuple such as
``("fleet", "groups", 0, "ping_interval")`` to its 1-based line.

Duplicate keys in one mapping are refused: YAML would silently keep the last one, and a
scenario that says two different things about the same setting is a mistake. So are
documents no scenario needs and that would exhaust the parser: nesting deeper than
``MAX_DEPTH`` (PyYAML composes recursively, so a few hundred brackets overflow Python's
stack), aliases that contain themselves, and more than ``MAX_VALUES`` values.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from .._files import read_text_bounded
from ..errors import InputError

__all__ = ["MAX_FILE_BYTES", "Marks", "Path", "load_yaml", "parse_value", "read_bounded"]

#: Values one document may expand to. Aliases let a few lines stand for exponentially many
#: values ("billion laughs"); a real scenario has a few hundred.
MAX_VALUES = 100_000

#: Bytes a scenario file may have. The bundled ones have a few kilobytes; a file of this size
#: already holds more than MAX_VALUES values. Only this much is ever read, so /dev/zero or a
#: log file passed by mistake is refused at once instead of filling memory.
MAX_FILE_BYTES = 1024 * 1024

#: Levels of nesting one document may have. The deepest field of a scenario
#: (``workload.chains[i].steps[j].handler.duration.mean``) is at level 8; a --set value
#: adds its key's levels to that.
MAX_DEPTH = 32

#: A path into the data: mapping keys (str) and list indexes (int).
Path = tuple[str | int, ...]
Marks = dict[Path, int]


def _problem_line(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if mark is None:
        return None, problem
    return mark.line + 1, f"{problem} (line {mark.line + 1}, column {mark.column + 1})"


def _too_deep(source: str, line: int) -> InputError:
    return InputError(
        f"nested more than {MAX_DEPTH} levels deep; a scenario needs at most about 10 "
        "(sections, lists of entries, distributions): is a bracket or an indentation wrong?",
        source=source,
        line=line,
    )


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses tags, and nesting beyond ``MAX_DEPTH`` before its recursion
    runs out."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self._source = source
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        self._depth += 1
        try:
            event = self.peek_event()
            if self._depth > MAX_DEPTH + 1:  # the document node itself is level 0
                raise _too_deep(self._source, event.start_mark.line + 1)
            # A tag makes what plain data is not (!!binary: bytes, !!set: a set, !custom:
            # nothing) or forces a form on text that does not have it (!!int abc); !!str
            # only keeps text as text (name: !!str 2024), as quotes do.
            tag = getattr(event, "tag", None)
            if tag is not None and tag != "tag:yaml.org,2002:str":
                raise _tagged(tag, self._source, event.start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _tagged(tag: str, source: str, line: int) -> InputError:
    shown = tag.replace("tag:yaml.org,2002:", "!!")
    return InputError(
        f"the YAML tag {shown} is not allowed: scenario values are plain text, numbers, "
        "true/false, null, lists and mappings, written without tags; remove it (quotes, "
        "or !!str, keep a value such as '2024' as text)",
        source=source,
        line=line,
    )


def _walk(
    node: yaml.Node,
    path: Path,
    marks: Marks,
    source: str,
    budget: list[int],
    within: frozenset[int] = frozenset(),
) -> None:
    line = node.start_mark.line + 1
    if id(node) in within:  # an alias that points at one of the nodes enclosing it
        raise InputError(
            "a YAML alias refers to a value that contains it (a recursive alias): the data "
            "would be infinite; write the value out instead of the alias",
            source=source,
            line=line,
        )
    # aliases nest without composing anew, so the composer's depth check is not enough
    if len(path) > MAX_DEPTH:
        raise _too_deep(source, line)
    within = within | {id(node)}
    budget[0] -= 1
    if budget[0] < 0:
        raise InputError(
            f"the document expands to more than {MAX_VALUES:,} values (through YAML aliases?); "
            "write the scenario out plainly",
            source=source,
            line=line,
        )
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key == "<<":  # merge key: the merged mapping's keys land in this one
                _walk(value_node, path, marks, source, budget, within)
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
            _walk(value_node, child, marks, source, budget, within)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            marks.setdefault(child, item.start_mark.line + 1)
            _walk(item, child, marks, source, budget, within)


def _unprintable(exc: yaml.reader.ReaderError, text: str, source: str) -> InputError:
    """A character YAML does not allow (a NUL byte, a control character), with its line."""
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    char = exc.character if isinstance(exc.character, int) else ord(exc.character)
    what = " (a NUL byte: is this a binary file?)" if char == 0 else ""
    return InputError(
        f"YAML error: the character U+{char:04X}{what} at column {column} is not allowed in "
        "YAML text",
        source=source,
        line=line,
    )


#: Plain values YAML reads by their form, and what the form is called.
_FORMS = {
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true/false",
    "tag:yaml.org,2002:timestamp": "a date",
}


def _unreadable_scalar(
    loader: _Loader, root: yaml.Node, source: str, cause: Exception
) -> InputError:
    """The value that has the form of an integer, number or date without being one (YAML
    reads ``2024-13-45`` as a date, ``-0x_`` as a hexadecimal integer), with its line.

    Only on failure: constructing the document stops at the first bad value without
    saying where it is, so each such value is constructed again on its own.
    """
    pending, seen = [root], set()
    while pending:
        node = pending.pop()
        if id(node) in seen:  # an alias: the same node again
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            pending.extend(n for pair in reversed(node.value) for n in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(reversed(node.value))
        elif node.tag in _FORMS:
            try:
                loader.yaml_constructors[node.tag](loader, node)
            except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
                reason = f" ({exc})" if isinstance(exc, ValueError) else ""
                return InputError(
                    f"{node.value!r} has the form of {_FORMS[node.tag]} but is not a valid "
                    f"one{reason}; quote it if it is meant as text",
                    source=source,
                    line=node.start_mark.line + 1,
                )
    # no value alone fails: the cause is all there is to say (constructing failed elsewhere)
    return InputError(
        f"YAML error: a value cannot be read ({type(cause).__name__}: {cause})", source=source
    )


def load_yaml(text: str, source: str) -> tuple[Any, Marks]:
    """Parse ``text`` safely; return its data and the line of every path in it.

    Raises ``InputError`` naming ``source``, the line and column for syntax errors, tags that
    would construct Python objects, and duplicate keys.
    """
    try:
        loader = _Loader(text, source)  # its reader refuses characters YAML excludes
    except yaml.reader.ReaderError as exc:
        raise _unprintable(exc, text, source) from None
    try:
        node = loader.get_single_node()
        marks: Marks = {}
        if node is None:
            return None, marks
        _walk(node, (), marks, source, [MAX_VALUES])
        try:
            data = loader.construct_document(node)
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise _unreadable_scalar(loader, node, source, exc) from None
    except yaml.MarkedYAMLError as exc:
        line, message = _problem_line(exc)
        raise InputError(f"YAML error: {message}", source=source, line=line) from None
    except yaml.reader.ReaderError as exc:
        raise _unprintable(exc, text, source) from None
    except yaml.YAMLError as exc:
        raise InputError(f"YAML error: {exc}", source=source) from None
    finally:
        loader.dispose()
    return data, marks


def read_bounded(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of the file at ``path``, refused beyond ``MAX_FILE_BYTES`` (read no more);
    a pipe is read (``cat s.yaml | activitykit run /dev/stdin``)."""
    return read_text_bounded(
        path, MAX_FILE_BYTES, "a scenario file", note=" (real ones have a few KiB)"
    )


def parse_value(text: str, source: str) -> Any:
    """Parse the value of a ``--set key=value`` as YAML (``5``, ``true``, ``null``, ``[a, b]``)."""
    if text == "":
        return ""
    data, _ = load_yaml(text, source)
    return data
