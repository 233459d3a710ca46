"""Reading a YAML document node by node, so that every problem names its line and column.

`yaml.compose` keeps each node's position (`start_mark`); `NodeReader` converts nodes to
values while collecting `Problem`s instead of stopping at the first one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from eventpulse.domain.errors import EventPulseError

_SECONDS: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    column: int
    where: str
    message: str

    def render(self, source: str) -> str:
        return f"{source}:{self.line}:{self.column}: {self.where}: {self.message}"


class InvalidYamlFile(EventPulseError):
    """A configuration file's problems, each with its `file:line:col`; `kind` names the file."""

    kind = "configuration"

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {problem.render(source)}" for problem in problems)
        super().__init__(f"invalid {self.kind} {source}:\n{lines}")


def compose(text: str) -> tuple[Node | None, Problem | None]:
    """The document's root node, or the syntax error with its position."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, Problem(line, column, "document", f"invalid YAML: {exc.problem}")
    except yaml.YAMLError as exc:
        return None, Problem(1, 1, "document", f"invalid YAML: {exc}")


class NodeReader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, node: Node, where: str, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(mark.line + 1, mark.column + 1, where, message))

    def mapping(
        self, node: Node, where: str, allowed: frozenset[str] | None = None
    ) -> dict[str, tuple[Node, Node]] | None:
        """Key → (key node, value node); unknown keys (outside `allowed`) are problems."""
        if not isinstance(node, MappingNode):
            self.fail(node, where, f"expected a mapping, got {_kind(node)}")
            return None
        found: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node, where)
            if not isinstance(key, str):
                self.fail(key_node, where, "keys must be strings")
                continue
            inner = f"{where}.{key}" if where else key
            if key in found:
                self.fail(key_node, inner, "duplicate key")
            elif allowed is not None and key not in allowed:
                self.fail(key_node, inner, f"unknown key (expected one of {_list(allowed)})")
            else:
                found[key] = (key_node, value_node)
        return found

    def sequence(self, node: Node, where: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.fail(node, where, f"expected a list, got {_kind(node)}")
            return None
        return list(node.value)

    def value(self, node: Node, where: str) -> Any:
        try:
            return SafeConstructor().construct_object(node, deep=True)
        except ConstructorError as exc:
            self.fail(node, where, str(exc.problem))
            return None

    def string(self, node: Node, where: str) -> str | None:
        value = self.value(node, where) if isinstance(node, ScalarNode) else None
        if not isinstance(value, str) or not value.strip():
            self.fail(node, where, "expected a non-empty string")
            return None
        return value

    def integer(self, node: Node, where: str, minimum: int, maximum: int) -> int | None:
        value = self.value(node, where) if isinstance(node, ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(node, where, "expected a whole number")
            return None
        if not minimum <= value <= maximum:
            self.fail(node, where, f"expected a number from {minimum} to {maximum}")
            return None
        return value

    def boolean(self, node: Node, where: str) -> bool | None:
        value = self.value(node, where) if isinstance(node, ScalarNode) else None
        if not isinstance(value, bool):
            self.fail(node, where, "expected true or false")
            return None
        return value

    def seconds(self, node: Node, where: str, *, allow_zero: bool = False) -> float | None:
        """A duration: a number of seconds, or a string such as `500ms`, `2s`, `5m`, `1h`."""
        value = self.value(node, where) if isinstance(node, ScalarNode) else None
        seconds: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str) and (found := _SECONDS.fullmatch(value.strip())):
            seconds = float(found[1]) * _UNIT[found[2]]
        if seconds is None or seconds < 0 or (seconds == 0 and not allow_zero):
            lowest = "0s or more" if allow_zero else "more than 0s"
            self.fail(node, where, f"expected a duration such as '500ms', '30s', '5m' ({lowest})")
            return None
        return seconds

    def strings(self, node: Node, where: str) -> list[str] | None:
        """A list of non-empty strings; a single string counts as a list of one."""
        if isinstance(node, ScalarNode):
            one = self.string(node, where)
            return None if one is None else [one]
        items = self.sequence(node, where)
        if items is None:
            return None
        found = [self.string(item, f"{where}[{i}]") for i, item in enumerate(items)]
        return [item for item in found if item is not None] if None not in found else None

    def env(self, node: Node, where: str, environ: Mapping[str, str]) -> str | None:
        """The value of the environment variable this node names."""
        name = self.string(node, where)
        if name is None:
            return None
        value = environ.get(name)
        if not value:
            self.fail(node, where, f"environment variable {name} is not set")
            return None
        return value


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "a scalar"


def _list(names: frozenset[str]) -> str:
    return ", ".join(sorted(names))
