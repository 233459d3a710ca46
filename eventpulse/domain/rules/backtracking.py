"""Static checks of a regular expression's parse tree for shapes that make `re` backtrack badly.

Python's `re` is a backtracking engine with no time limit, so a rule's regex runs on every event
only if its parse tree passes these checks (`check_tree` raises ValueError naming the risk):

- no backreferences, conditional groups, lookarounds, possessive quantifiers or atomic groups
  (the accepted language stays small enough to reason about);
- no nested quantifier: a repeat (max > 1) whose body holds an unbounded repeat (`(a+)+`,
  `(\\w+\\.)+`), an unbounded repeat whose body holds any variable-count repeat (`(a?)*`,
  `(a{1,3})+`), or a bounded repeat whose body's choices multiply past `MAX_CHOICES`
  (`(a?){30}`; `(\\d{1,3}\\.){3}` is fine);
- no alternation inside an unbounded repeat whose branches can start with the same character
  or be empty (`(a|ab)+`); disjoint branches such as `(GET|POST)+` pass;
- no variable-count repeats in sequence that can match the same characters with nothing in
  between that the first cannot also match, when two of them are unbounded (`.*a.*b`,
  `\\d+.\\d+`, `\\s*(.*)`, `a*a*`: cubic, 10 to 70 seconds on 4096 characters with CPython 3.11)
  or their choices multiply past a limit. `\\d+\\.\\d+` and `\\w+@\\w+` pass: the separator
  closes the first repeat.

A repeat whose maximum reaches the scanned input length counts as unbounded. What remains is at
worst quadratic in the scanned length: one unbounded repeat, tried from every start position.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

from eventpulse.domain.rules.regex_tree import CHAR_OPS, REPEAT_OPS, CharMasks, Node
from eventpulse.domain.rules.regex_tree import children as _children
from eventpulse.domain.rules.regex_tree import op_name as _name

MAX_CHOICES: Final = 10_000
"""Most backtracking choices per start position that bounded repeats may create together."""
MAX_CHOICES_BESIDE_UNBOUNDED: Final = 4
"""The same, when they overlap an unbounded repeat (which already costs the input length)."""

_KNOWN_OPS: Final = CHAR_OPS | REPEAT_OPS | {"AT", "SUBPATTERN", "BRANCH"}
_REFUSED_OPS: Final = {
    "GROUPREF": "backreferences are not allowed",
    "GROUPREF_IGNORE": "backreferences are not allowed",
    "GROUPREF_EXISTS": "conditional groups are not allowed",
    "ASSERT": "lookahead and lookbehind assertions are not allowed",
    "ASSERT_NOT": "lookahead and lookbehind assertions are not allowed",
    "POSSESSIVE_REPEAT": "possessive quantifiers and atomic groups are not allowed",
    "ATOMIC_GROUP": "possessive quantifiers and atomic groups are not allowed",
}

NESTED: Final = "catastrophic backtracking risk: nested quantifier"
ALTERNATION: Final = "catastrophic backtracking risk: overlapping alternatives inside a repeat"
SEQUENCE: Final = (
    "catastrophic backtracking risk: quantifiers in sequence can match the same text "
    "(like '.*a.*b'); split the pattern into several conditions"
)

Entry = tuple[int, int, int]
"""A variable repeat that may still be matching: (its character mask, unbounded repeats in its
chain, bounded choices in its chain)."""


def check_tree(tree: Any, *, unbounded_from: int) -> None:
    """Raise ValueError when the parsed pattern has a construct or shape listed above."""
    _refuse_constructs(tree.data)
    checker = _Checker(CharMasks(tree), unbounded_from)
    checker.check_repeats(tree.data)
    checker.walk(tree.data, ())


def _refuse_constructs(items: list[Node]) -> None:
    for op, av in items:
        name = _name(op)
        if name in _REFUSED_OPS:
            raise ValueError(_REFUSED_OPS[name])
        if name not in _KNOWN_OPS:
            raise ValueError(f"unsupported regular expression construct ({name.lower()})")
        for child in _children(op, av):
            _refuse_constructs(child)


class _Checker:
    def __init__(self, masks: CharMasks, unbounded_from: int) -> None:
        self.masks = masks
        self.unbounded_from = unbounded_from

    def unbounded(self, high: int) -> bool:
        return high >= self.unbounded_from

    # -- nested quantifiers and alternation ----------------------------------------------------

    def check_repeats(self, items: list[Node]) -> None:
        for op, av in items:
            if _name(op) in REPEAT_OPS:
                self._check_repeat(av[0], av[1], av[2].data)
            for child in _children(op, av):
                self.check_repeats(child)

    def _check_repeat(self, low: int, high: int, body: list[Node]) -> None:
        if high <= 1:
            return
        if _holds_repeat(body, lambda lo, hi: self.unbounded(hi)):
            raise ValueError(NESTED)
        if self.unbounded(high):
            if _holds_repeat(body, lambda lo, hi: lo != hi):
                raise ValueError(NESTED)
            if self._holds_ambiguous_branch(body):
                raise ValueError(ALTERNATION)
        elif high * math.log(self.choices(body)) > math.log(MAX_CHOICES):
            raise ValueError(NESTED)

    def _ambiguous(self, branches: list[Any]) -> bool:
        """Whether two branches can start alike, or one can match nothing."""
        seen = 0
        for branch in branches:
            bits, may_be_empty = self.masks.first(branch.data)
            if may_be_empty or bits & seen:
                return True
            seen |= bits
        return False

    def _holds_ambiguous_branch(self, items: list[Node]) -> bool:
        for op, av in items:
            if _name(op) == "BRANCH" and self._ambiguous(av[1]):
                return True
            if any(self._holds_ambiguous_branch(child) for child in _children(op, av)):
                return True
        return False

    def choices(self, items: list[Node]) -> int:
        """Ways a sequence without unbounded repeats can match one stretch of text (capped)."""
        total = 1
        for op, av in items:
            name = _name(op)
            if name in REPEAT_OPS:
                total *= self._repeat_choices(av[0], av[1], av[2].data)
            elif name == "SUBPATTERN":
                total *= self.choices(av[3].data)
            elif name == "BRANCH":
                counts = [self.choices(branch.data) for branch in av[1]]
                total *= sum(counts) if self._ambiguous(av[1]) else max(counts)
            total = _saturate(total)
        return total

    def _repeat_choices(self, low: int, high: int, body: list[Node]) -> int:
        inner = self.choices(body)
        return _saturate((high - low + 1) * (inner ** min(high, 64) if inner > 1 else 1))

    # -- repeats in sequence -------------------------------------------------------------------

    def walk(self, items: list[Node], open_: tuple[Entry, ...]) -> tuple[Entry, ...]:
        """Follow the sequence; `open_` holds the variable repeats that may still be matching."""
        for op, av in items:
            name = _name(op)
            if name in CHAR_OPS:
                open_ = _through(open_, self.masks.of_item(op, av))
            elif name == "SUBPATTERN":
                open_ = self.walk(av[3].data, open_)
            elif name == "BRANCH":
                open_ = _merge(*(self.walk(branch.data, open_) for branch in av[1]))
            elif name in REPEAT_OPS:
                open_ = self._walk_repeat(av[0], av[1], av[2].data, open_)
        return open_

    def _walk_repeat(
        self, low: int, high: int, body: list[Node], open_: tuple[Entry, ...]
    ) -> tuple[Entry, ...]:
        if high == 0:
            return open_
        inner = self.walk(body, open_)
        unbounded = self.unbounded(high)
        own = 1 if unbounded else self._repeat_choices(low, high, body)
        if own == 1 and not unbounded:
            return inner
        overlapping = _through(open_, self.masks.first(body)[0])
        chained = sum(entry[1] for entry in overlapping) + unbounded
        choices = _saturate(math.prod(entry[2] for entry in overlapping) * own)
        if overlapping and _too_costly(chained, choices):
            raise ValueError(SEQUENCE)
        entry = (self.masks.anywhere(body), chained, choices)
        return _merge(open_ if low == 0 else (), inner, (entry,))


def _holds_repeat(items: list[Node], test: Callable[[int, int], bool]) -> bool:
    for op, av in items:
        if _name(op) in REPEAT_OPS and test(av[0], av[1]):
            return True
        if any(_holds_repeat(child, test) for child in _children(op, av)):
            return True
    return False


def _too_costly(unbounded: int, choices: int) -> bool:
    """Whether chained repeats cost too much per start position: each unbounded one multiplies
    the work by the input length, each bounded one by its number of choices."""
    if unbounded:
        return unbounded > 1 or choices > MAX_CHOICES_BESIDE_UNBOUNDED
    return choices > MAX_CHOICES


def _saturate(value: int) -> int:
    return min(value, MAX_CHOICES + 1)


def _through(open_: tuple[Entry, ...], bits: int) -> tuple[Entry, ...]:
    """The open repeats that can also consume a character of `bits` (the others are closed)."""
    return tuple(entry for entry in open_ if entry[0] & bits)


def _merge(*groups: tuple[Entry, ...]) -> tuple[Entry, ...]:
    return tuple(dict.fromkeys(entry for group in groups for entry in group))
