"""An in-memory SilenceRepository with the PostgreSQL adapter's semantics."""

from __future__ import annotations

from datetime import datetime

from eventpulse.application.silences import StoredSilence
from eventpulse.domain.silences import Silence


class FakeSilenceRepository:
    def __init__(self) -> None:
        self.rows: dict[str, StoredSilence] = {}
        self.deleted: dict[str, datetime] = {}

    async def add(self, silence: Silence, created_at: datetime) -> None:
        self.rows[silence.silence_id] = StoredSilence(silence, created_at)

    async def get(self, silence_id: str) -> StoredSilence | None:
        return None if silence_id in self.deleted else self.rows.get(silence_id)

    async def list(
        self, *, ending_after: datetime | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[StoredSilence]:
        live = [s for key, s in self.rows.items() if key not in self.deleted]
        if ending_after is not None:
            live = [s for s in live if s.silence.ends_at > ending_after]
        ordered = sorted(live, key=lambda s: (s.created_at, s.silence.silence_id))
        if after is not None:
            ordered = [s for s in ordered if (s.created_at, s.silence.silence_id) > after]
        return ordered[:limit]

    async def delete(self, silence_id: str, at: datetime) -> bool:
        if silence_id not in self.rows or silence_id in self.deleted:
            return False
        self.deleted[silence_id] = at
        return True
