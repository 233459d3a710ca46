"""The rule set a worker runs, reloaded on announcement or resync and swapped atomically.

A `RuleSet` is immutable: the enabled live rules at one revision of the stored rules (the
revision grows with every change, whoever makes it). `LiveRules` holds the current one behind a
single reference, swapped whole. The evaluation loop pins the set for a whole step (`pinned`),
and a swap waits for the step in progress to end: each step runs under exactly one rule set,
and once a worker has reported a revision, no step that started earlier is still running — so
every event accepted after a change was confirmed is evaluated by the new rule set.

After every load the worker reports the revision and versions it now runs, which is what the
API waits for when it publishes a change.

Two paths lead to a reload: the announcement on the reload channel (fast path) and the periodic
resync, which compares the stored revision with the one held (it repairs a missed message).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from eventpulse.domain.errors import InvalidInput
from eventpulse.domain.rules import RuleSpec, parse_rule

log = logging.getLogger("eventpulse.rules")


@dataclass(frozen=True, slots=True)
class ActiveRule:
    """One enabled rule version, parsed."""

    rule_id: str
    version: int
    spec: RuleSpec


@dataclass(frozen=True, slots=True)
class RuleSet:
    revision: int
    rules: tuple[ActiveRule, ...] = ()
    refused: tuple[str, ...] = field(default=())
    """Stored rules that no longer parse (their ids): skipped, logged, reported."""

    def versions(self) -> dict[str, int]:
        return {rule.rule_id: rule.version for rule in self.rules}


NOT_LOADED: Final = 0
"""The revision of the set a worker holds before its first load (stored revisions start at 1)."""
EMPTY = RuleSet(revision=NOT_LOADED)


@dataclass(frozen=True, slots=True)
class StoredRuleSet:
    """What the store holds at one revision: the enabled live rules' documents."""

    revision: int
    documents: tuple[tuple[str, int, Mapping[str, Any]], ...]


class RuleSetSource(Protocol):
    """The stored rules (PostgreSQL), read by a worker."""

    def revision(self) -> int:
        """The current revision: a cheap read, for the periodic resync."""
        ...

    def load(self) -> StoredRuleSet:
        """The enabled live rules and the revision they are at, read in one snapshot."""
        ...


class WorkerReports(Protocol):
    """Where a worker says which rules it runs (the API reads it to confirm a reload)."""

    def report(self, revision: int, versions: Mapping[str, int]) -> None: ...


def parse_rule_set(stored: StoredRuleSet) -> RuleSet:
    """Parse every document; a stored rule that no longer parses is left out and named."""
    rules: list[ActiveRule] = []
    refused: list[str] = []
    for rule_id, version, document in stored.documents:
        try:
            spec = parse_rule(dict(document))
        except InvalidInput as invalid:
            log.error(
                "rule %s v%d no longer parses, not run: %s",
                rule_id,
                version,
                "; ".join(f"{e.field}: {e.message}" for e in invalid.errors),
            )
            refused.append(rule_id)
            continue
        rules.append(ActiveRule(rule_id, version, spec))
    rules.sort(key=lambda rule: rule.rule_id)
    return RuleSet(stored.revision, tuple(rules), tuple(refused))


class LiveRules:
    """The current rule set of one worker (thread-safe: one reference, swapped whole)."""

    def __init__(self, source: RuleSetSource, reports: WorkerReports) -> None:
        self._source = source
        self._reports = reports
        self._current = EMPTY
        self._loading = threading.Lock()
        self._in_use = threading.Lock()

    @property
    def current(self) -> RuleSet:
        return self._current

    @contextmanager
    def pinned(self) -> Iterator[RuleSet]:
        """The current set, which no swap replaces until the block ends."""
        with self._in_use:
            yield self._current

    def reload(self, *, force: bool = False) -> bool:
        """Load the stored rules if their revision moved (or `force`), swap, report. Whether
        the set changed. Store or report failures propagate; the old set stays in force."""
        with self._loading:
            held = self._current
            if not force and self._source.revision() == held.revision:
                return False
            loaded = parse_rule_set(self._source.load())
            with self._in_use:  # between two evaluation steps
                self._current = loaded
            if loaded.versions() != held.versions():
                log.info(
                    "rule set revision %d: %s",
                    loaded.revision,
                    ", ".join(f"{r}@v{v}" for r, v in loaded.versions().items()) or "no rules",
                )
            self._reports.report(loaded.revision, loaded.versions())
            return True
