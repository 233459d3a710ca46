"""Regular expressions that cannot stall a worker.

`re` backtracks without a time limit, and a rule's regex runs on every event. So a rule may only
use a checked subset (see `backtracking` for the shapes refused and why), and a search only ever
reads the first `MAX_SCAN_CHARS` characters of its input: the input is treated as ending there,
so `$` can match at that point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from eventpulse.domain.rules import backtracking, regex_tree

MAX_PATTERN_LENGTH: Final = 500
MAX_SCAN_CHARS: Final = 4096


@dataclass(frozen=True, slots=True)
class SafeRegex:
    """A checked pattern; constructing one runs the checks (ValueError when refused)."""

    pattern: str
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", _checked(self.pattern))

    def search(self, text: str) -> re.Match[str] | None:
        """The first match within the first `MAX_SCAN_CHARS` characters of `text`."""
        return self._compiled.search(text, 0, MAX_SCAN_CHARS)


def compile_safe(pattern: object) -> SafeRegex:
    """`pattern` as a SafeRegex; ValueError with a readable reason when it is refused."""
    if not isinstance(pattern, str):
        raise ValueError("expected a regular expression string")
    return SafeRegex(pattern)


def _checked(pattern: str) -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    except (OverflowError, RecursionError):
        raise ValueError("invalid regular expression: too complex") from None
    backtracking.check_tree(regex_tree.parse(pattern), unbounded_from=MAX_SCAN_CHARS)
    return compiled
