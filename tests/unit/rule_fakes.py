"""An in-memory RuleRepository with the PostgreSQL adapter's semantics, and a recording
announcer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from eventpulse.application.rules import Document, Edit, RuleVersion, StoredRule
from eventpulse.domain.errors import Conflict, NotFound
from tests.unit.fakes import T0


@dataclass
class _Row:
    created_at: datetime
    deleted: bool = False
    versions: list[RuleVersion] = field(default_factory=list)


class FakeRuleRepository:
    """Rules in a dict; a clock that ticks one second per stored version."""

    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}
        self._now = T0
        self._revision = 1

    async def revision(self) -> int:
        return self._revision

    def _tick(self) -> datetime:
        self._now += timedelta(seconds=1)
        return self._now

    def _live(self, rule_id: str) -> StoredRule | None:
        row = self.rows.get(rule_id)
        if row is None or row.deleted:
            return None
        last = row.versions[-1]
        return StoredRule(rule_id, last.version, last.document, row.created_at, last.created_at)

    def _store(self, rule_id: str, document: Document, note: str | None) -> StoredRule:
        self._revision += 1
        row = self.rows[rule_id]
        version = len(row.versions) + 1
        row.versions.append(RuleVersion(rule_id, version, document, note, self._tick()))
        live = self._live(rule_id)
        assert live is not None
        return live

    async def create(self, rule_id: str, document: Document, note: str | None) -> StoredRule:
        row = self.rows.get(rule_id)
        if row is not None and not row.deleted:
            raise Conflict(f"a rule with id {rule_id!r} already exists")
        if row is None:
            self.rows[rule_id] = _Row(self._now + timedelta(seconds=1))
        else:
            row.deleted = False
            row.created_at = self._now + timedelta(seconds=1)
        return self._store(rule_id, document, note)

    async def change(self, rule_id: str, edit: Edit, note: str | None) -> tuple[StoredRule, bool]:
        live = self._live(rule_id)
        if live is None:
            raise NotFound(f"no rule {rule_id!r}")
        document = edit(live.document)
        if document == live.document:
            return live, False
        return self._store(rule_id, document, note), True

    async def delete(self, rule_id: str) -> int:
        live = self._live(rule_id)
        if live is None:
            raise NotFound(f"no rule {rule_id!r}")
        self.rows[rule_id].deleted = True
        self._revision += 1
        return live.version

    async def get(self, rule_id: str) -> StoredRule | None:
        return self._live(rule_id)

    async def live(self, limit: int, after: str | None) -> list[StoredRule]:
        ids = sorted(i for i in self.rows if after is None or i > after)
        found = [self._live(i) for i in ids]
        return [rule for rule in found if rule is not None][:limit]

    async def versions(self, rule_id: str, limit: int, after: int) -> list[RuleVersion] | None:
        row = self.rows.get(rule_id)
        if row is None:
            return None
        return [v for v in row.versions if v.version > after][:limit]


class RecordingAnnouncer:
    """Records announcements; answers `laggards` (none by default) as the workers that lag."""

    def __init__(self, laggards: list[str] | None = None) -> None:
        self.announced: list[tuple[str, int | None]] = []
        self.revisions: list[int] = []
        self.laggards = laggards or []

    async def announce(self, rule_id: str, version: int | None, revision: int) -> list[str]:
        self.announced.append((rule_id, version))
        self.revisions.append(revision)
        return self.laggards
