"""YAML to plain Python, remembering the line of every value, so errors can name it.

`load(text, name)` returns the data and a map from a path (`("timeline", 2,
"expect")`) to its 1-based line. Duplicate keys are errors: YAML would keep the
last one silently, and a scenario author would never know.
"""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[str | int, ...]


class YamlProblem(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load(text: str) -> tuple[Any, dict[Path, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise YamlProblem(line, f"not valid YAML: {exc.problem}") from None
    lines: dict[Path, int] = {}
    if node is None:
        return None, lines
    return _build(node, (), lines, yaml.SafeLoader("")), lines


def _build(node: yaml.Node, path: Path, lines: dict[Path, int], loader: yaml.SafeLoader) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # merge keys (<<: *anchor)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                raise YamlProblem(key_node.start_mark.line + 1, "keys must be plain values")
            if key in out:
                raise YamlProblem(key_node.start_mark.line + 1, f"duplicate key {key!r}")
            out[key] = _build(value_node, (*path, str(key)), lines, loader)
            lines[(*path, str(key))] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def line_of(lines: dict[Path, int], loc: tuple[Any, ...]) -> int:
    """The line of the deepest part of `loc` that exists in the file."""
    parts: Path = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    while parts and parts not in lines:
        parts = parts[:-1]
    return lines.get(parts, 1)
