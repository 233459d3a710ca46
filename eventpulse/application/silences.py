"""Managing silences: create, read, list and (soft) delete, and the repository port they need.

A silence resource is `{"silence_id", "matchers", "starts_at", "ends_at", "comment",
"created_by", "created_at"}`; `matchers` is exactly what the table's `matchers` jsonb holds
(`Silence.matchers()`), which the notifier reads. Times are answered in UTC.

A list holds the silences not yet over (`ends_at > now`: active and future ones) unless
`include_expired`; deleted silences are never listed nor found. It is in (created_at,
silence_id) order and paged like the other lists (application/queries.py), with its own
cursor kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from uuid import UUID, uuid4

from eventpulse.application.queries import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    encode_cursor,
)
from eventpulse.domain.errors import FieldError, InvalidInput, NotFound
from eventpulse.domain.silences import Silence, silence_from_document

_CURSOR_KIND: Final = "s"


@dataclass(frozen=True, slots=True)
class StoredSilence:
    silence: Silence
    created_at: datetime

    def resource(self) -> dict[str, Any]:
        s = self.silence
        return {
            "silence_id": s.silence_id,
            "matchers": s.matchers(),
            "starts_at": s.starts_at,
            "ends_at": s.ends_at,
            "comment": s.comment,
            "created_by": s.created_by,
            "created_at": self.created_at,
        }


class SilenceRepository(Protocol):
    """The stored silences (PostgreSQL `silences`); deleted ones are invisible to reads."""

    async def add(self, silence: Silence, created_at: datetime) -> None: ...

    async def get(self, silence_id: str) -> StoredSilence | None: ...

    async def list(
        self, *, ending_after: datetime | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[StoredSilence]:
        """At most `limit` silences with `ends_at > ending_after` (any when None), in
        (created_at, silence_id) order strictly after `after`."""
        ...

    async def delete(self, silence_id: str, at: datetime) -> bool:
        """Mark deleted; False when there is no such (undeleted) silence."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid4())


class ManageSilences:
    def __init__(
        self,
        repository: SilenceRepository,
        *,
        clock: Callable[[], datetime] = _utc_now,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._new_id = new_id

    async def create(self, document: Any) -> StoredSilence:
        """Validate and store; `InvalidInput` names every field at fault."""
        now = self._clock()
        errors = _unstorable(document)
        try:
            silence = silence_from_document(document, self._new_id(), now)
        except InvalidInput as exc:
            raise InvalidInput(exc.errors + errors, "invalid silence") from None
        try:
            silence = replace(
                silence,
                starts_at=silence.starts_at.astimezone(UTC),
                ends_at=silence.ends_at.astimezone(UTC),
            )
        except OverflowError:
            errors.append(FieldError("ends_at", "out of range once converted to UTC"))
        if not errors and silence.ends_at <= now:
            errors.append(FieldError("ends_at", "must be in the future"))
        if errors:
            raise InvalidInput(errors, "invalid silence")
        await self._repository.add(silence, now)
        return StoredSilence(silence, now)

    async def get(self, silence_id: str) -> StoredSilence:
        found = await self._repository.get(silence_id) if _is_uuid(silence_id) else None
        if found is None:
            raise NotFound(f"no silence {silence_id!r}")
        return found

    async def list(
        self,
        *,
        include_expired: bool = False,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[StoredSilence]:
        errors = []
        if not 1 <= limit <= MAX_LIMIT:
            errors.append(FieldError("limit", f"must be between 1 and {MAX_LIMIT}"))
        after = None if cursor is None else decode_cursor(cursor, _CURSOR_KIND)
        if cursor is not None and (after is None or not _is_uuid(after[1])):
            errors.append(FieldError("cursor", "expected the next_cursor of a previous page"))
        if errors:
            raise InvalidInput(errors, "invalid query")
        ending_after = None if include_expired else self._clock()
        rows = await self._repository.list(ending_after=ending_after, limit=limit + 1, after=after)
        # One row more than the page holds was asked for: it tells whether one follows.
        items, last = rows[:limit], rows[limit - 1] if len(rows) > limit else None
        if last is None:
            return Page(items, None)
        return Page(items, encode_cursor(_CURSOR_KIND, last.created_at, last.silence.silence_id))

    async def delete(self, silence_id: str) -> None:
        if not (_is_uuid(silence_id) and await self._repository.delete(silence_id, self._clock())):
            raise NotFound(f"no silence {silence_id!r}")


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def _unstorable(document: Any) -> list[FieldError]:
    """Text PostgreSQL cannot store (NUL characters), by field, so it is a 422 and not a 500."""
    if not isinstance(document, Mapping):
        return []
    errors: list[FieldError] = []
    _find_nul(document.get("matchers"), "matchers", errors)
    for name in ("comment", "created_by"):
        _find_nul(document.get(name), name, errors)
    return errors


def _find_nul(value: Any, path: str, errors: list[FieldError]) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            errors.append(FieldError(path, "must not contain a NUL character"))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if "\x00" in str(key):
                errors.append(FieldError(path, "must not contain a NUL character"))
            else:
                _find_nul(item, f"{path}.{key}", errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _find_nul(item, f"{path}[{index}]", errors)
