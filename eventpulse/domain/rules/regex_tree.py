"""The parse tree of a regular expression, and the characters its parts can match.

Support for `backtracking`: node helpers over the tree `re` itself builds, and `CharMasks`, which
represents a set of characters as a bit mask over a sample alphabet (Latin-1, the pattern's own
characters and a few others), so that "can these two parts match the same character?" is one
`&`. Conservative by design: `.` is taken to match newlines too, and when the pattern ignores
case anywhere every comparison folds case.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

# `re` has no public parse tree. `re._parser` (Python 3.11+; `sre_parse` before, a deprecated
# alias since) is the very parser `re.compile` uses, so the tree checked is the one that runs.
# It is private, so `backtracking` refuses any node kind it does not know: a future change can
# only make patterns fail the check, never let an unchecked one through.
try:
    _parser: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - Python < 3.11
    _parser = importlib.import_module("sre_parse")

Node = tuple[Any, Any]
"""One item of a parsed sequence: (opcode, argument)."""

CHAR_OPS: Final = frozenset({"LITERAL", "NOT_LITERAL", "ANY", "IN", "CATEGORY"})
REPEAT_OPS: Final = frozenset({"MAX_REPEAT", "MIN_REPEAT"})

_IGNORECASE: Final = 2
_EXTRA_CHARS: Final = "\u00a0\u2028\u200b\u0130\u0131\u017f\u212a\u0663\u4e2d\U0001f600"
_LINEBREAKS: Final = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def parse(pattern: str) -> Any:
    """The parse tree `re.compile` builds for `pattern` (a SubPattern: `.data`, `.state`)."""
    return _parser.parse(pattern)


def op_name(op: Any) -> str:
    return str(op.name)


def children(op: Any, av: Any) -> list[list[Node]]:
    """The sub-sequences directly inside one node."""
    name = op_name(op)
    if name == "SUBPATTERN":
        return [av[3].data]
    if name == "BRANCH":
        return [branch.data for branch in av[1]]
    if name in REPEAT_OPS:
        return [av[2].data]
    return []


class CharMasks:
    """Which sample characters each part of one parsed pattern can match, as bit masks."""

    def __init__(self, tree: Any) -> None:
        fold = bool(tree.state.flags & _IGNORECASE) or _adds_ignorecase(tree.data)
        alphabet = _alphabet(tree.data, fold)
        self._variants = [_case_variants(char) if fold else (char,) for char in alphabet]
        self._everything = (1 << len(alphabet)) - 1
        self._masks: dict[tuple[str, str], int] = {}

    def of_item(self, op: Any, av: Any) -> int:
        """The characters one single-character item (a literal, a set, `.`) matches."""
        name = op_name(op)
        if name == "ANY":
            return self._everything
        key = (name, repr(av))
        if key not in self._masks:
            bits = 0
            for index, variants in enumerate(self._variants):
                if any(_char_matches(name, av, variant) for variant in variants):
                    bits |= 1 << index
            self._masks[key] = bits
        return self._masks[key]

    def anywhere(self, items: list[Node]) -> int:
        """Every character the sequence may match, at any position."""
        bits = 0
        for op, av in items:
            if op_name(op) in CHAR_OPS:
                bits |= self.of_item(op, av)
            for child in children(op, av):
                bits |= self.anywhere(child)
        return bits

    def first(self, items: list[Node]) -> tuple[int, bool]:
        """The characters the sequence may start with, and whether it may match nothing."""
        bits = 0
        for op, av in items:
            item_bits, may_be_empty = self._first_of(op, av)
            bits |= item_bits
            if not may_be_empty:
                return bits, False
        return bits, True

    def _first_of(self, op: Any, av: Any) -> tuple[int, bool]:
        name = op_name(op)
        if name in CHAR_OPS:
            return self.of_item(op, av), False
        if name == "AT":
            return 0, True
        if name == "BRANCH":
            bits, may_be_empty = 0, False
            for branch in av[1]:
                branch_bits, branch_empty = self.first(branch.data)
                bits, may_be_empty = bits | branch_bits, may_be_empty or branch_empty
            return bits, may_be_empty
        if name == "SUBPATTERN":
            return self.first(av[3].data)
        bits, may_be_empty = self.first(av[2].data)
        return bits, may_be_empty or av[0] == 0


def _adds_ignorecase(items: list[Node]) -> bool:
    for op, av in items:
        if op_name(op) == "SUBPATTERN" and av[1] & _IGNORECASE:
            return True
        if any(_adds_ignorecase(child) for child in children(op, av)):
            return True
    return False


def _literals(items: list[Node]) -> set[str]:
    found: set[str] = set()
    for op, av in items:
        name = op_name(op)
        if name in {"LITERAL", "NOT_LITERAL"}:
            found.add(chr(av))
        elif name == "IN":
            found |= _literals(av)
        elif name == "RANGE":
            found |= {chr(av[0]), chr(av[1])}
        for child in children(op, av):
            found |= _literals(child)
    return found


def _alphabet(items: list[Node], fold: bool) -> tuple[str, ...]:
    # Two ranges overlap only if one holds an end of the other, and the ends are included.
    chars = {chr(code) for code in range(256)} | set(_EXTRA_CHARS) | _literals(items)
    if fold:
        chars |= {variant for char in chars for variant in _case_variants(char)}
    return tuple(sorted(chars))


def _case_variants(char: str) -> tuple[str, ...]:
    variants = {char, char.lower(), char.upper(), char.casefold(), char.swapcase()}
    return tuple(variant for variant in variants if len(variant) == 1)


def _char_matches(name: str, av: Any, char: str) -> bool:
    if name == "LITERAL":
        return char == chr(av)
    if name == "NOT_LITERAL":
        return char != chr(av)
    if name == "CATEGORY":
        return _in_category(op_name(av), char)
    if name == "RANGE":
        return bool(av[0] <= ord(char) <= av[1])
    if name == "IN":
        negate = bool(av) and op_name(av[0][0]) == "NEGATE"
        hit = any(_char_matches(op_name(op), item, char) for op, item in av[negate:])
        return hit != negate
    raise ValueError(f"unsupported regular expression construct ({name.lower()})")


def _in_category(category: str, char: str) -> bool:
    # Unicode meanings, a superset of the ASCII ones: overlaps found here are never too few.
    kind = category.removeprefix("CATEGORY_").removeprefix("UNI_").removeprefix("LOC_")
    negate = kind.startswith("NOT_")
    kind = kind.removeprefix("NOT_")
    if kind == "DIGIT":
        hit = char.isdecimal()
    elif kind == "SPACE":
        hit = char.isspace()
    elif kind == "WORD":
        hit = char.isalnum() or char == "_"
    else:  # LINEBREAK
        hit = char in _LINEBREAKS
    return hit != negate
