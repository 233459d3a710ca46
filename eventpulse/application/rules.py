"""Managing rules: versioned create, replace, enable/disable and delete, and the ports they need.

Every change stores a new immutable version (1, 2, 3, …) of the rule's normalised document
(`RuleSpec.to_document()`); a write that leaves the document as it is stores nothing and
answers the live version (so applying the same file twice is harmless). After a change is
committed it is announced on the reload channel.

Deleting hides the rule from reads and lists; its versions stay readable. Creating a rule under
a deleted id revives it with the next version number, never `1` again: anomaly ids derive from
(rule id, version), so a (rule id, version) pair must never name two different documents.

A rule resource is the document plus `rule_id`, `version`, `created_at` (when the rule was
created, or re-created after a delete) and `updated_at` (when its live version was stored).
Documents sent back may carry those fields and a version's `note`: they are set aside before
validation, so GET → edit → PUT works; any other unknown field is refused by `parse_rule`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from eventpulse.application.messages import MessageTemplates
from eventpulse.application.rule_ids import derived_rule_id, is_rule_id, random_suffix
from eventpulse.domain.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    ReloadNotConfirmed,
)
from eventpulse.domain.rules import parse_rule

Document = dict[str, Any]

RESOURCE_FIELDS: Final = ("rule_id", "version", "created_at", "updated_at", "note")
MAX_PAGE: Final = 500
_DERIVED_ID_ATTEMPTS: Final = 5


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A live rule: its id and live version, with that version's document."""

    rule_id: str
    version: int
    document: Document
    created_at: datetime
    updated_at: datetime

    def resource(self) -> dict[str, Any]:
        return _resource(
            self.rule_id,
            self.version,
            self.document,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


@dataclass(frozen=True, slots=True)
class RuleVersion:
    """One immutable version of a rule, as stored."""

    rule_id: str
    version: int
    document: Document
    note: str | None
    created_at: datetime

    def resource(self) -> dict[str, Any]:
        return _resource(
            self.rule_id, self.version, self.document, created_at=self.created_at, note=self.note
        )


def _resource(rule_id: str, version: int, document: Document, **fields: Any) -> dict[str, Any]:
    """A rule resource: id and version, the document, then the resource's own fields."""
    return {"rule_id": rule_id, "version": version} | document | fields


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next_cursor: str | None


Edit = Callable[[Document], Document]


class RuleRepository(Protocol):
    """Rules and their versions (PostgreSQL `rules` + `rule_versions`).

    Each write is atomic and serialised per rule: the rule row and its new version commit
    together, and concurrent writers of one rule get distinct, consecutive versions.
    """

    async def create(self, rule_id: str, document: Document, note: str | None) -> StoredRule:
        """Version 1 of a new rule, or the next version of a deleted one; `Conflict` when a
        live rule has this id."""
        ...

    async def change(self, rule_id: str, edit: Edit, note: str | None) -> tuple[StoredRule, bool]:
        """Store `edit(live document)` as the next version, unless it equals the live one;
        the rule and whether a version was stored. `NotFound` when no live rule has this id."""
        ...

    async def delete(self, rule_id: str) -> int:
        """Hide a live rule (its versions stay); its last version. `NotFound` if none."""
        ...

    async def get(self, rule_id: str) -> StoredRule | None: ...

    async def live(self, limit: int, after: str | None) -> list[StoredRule]:
        """Live rules by ascending `rule_id` (code point order), those after `after`."""
        ...

    async def versions(self, rule_id: str, limit: int, after: int) -> list[RuleVersion] | None:
        """Versions above `after`, ascending; None when the id was never used."""
        ...

    async def revision(self) -> int:
        """The revision of the whole rule set: it grows with every stored change."""
        ...


class RuleChangeAnnouncer(Protocol):
    """The reload channel (invariant 7)."""

    async def announce(self, rule_id: str, version: int | None, revision: int) -> list[str]:
        """Tell the workers that the rules changed (`version`: the live version after the
        change, None after a delete), then wait until every live worker runs `revision` or
        later; the laggards (empty: all confirmed)."""
        ...


class SilentAnnouncer:
    """Announces nothing and waits for nobody (tools that run without workers)."""

    async def announce(self, rule_id: str, version: int | None, revision: int) -> list[str]:
        return []


class ManageRules:
    """The rules use cases, shared by the API (and later the notebooks)."""

    def __init__(
        self,
        repository: RuleRepository,
        announcer: RuleChangeAnnouncer,
        *,
        templates: MessageTemplates | None = None,
        suffix: Callable[[], str] = random_suffix,
    ) -> None:
        """`templates` checks `message` templates (a refused one is a 422 at `message`);
        without it templates are stored unchecked and `render_anomaly` refuses them later."""
        self._repository = repository
        self._announcer = announcer
        self._templates = templates
        self._suffix = suffix

    async def create(self, body: Any, note: str | None = None) -> StoredRule:
        """A new rule, under the body's `rule_id` or one derived from its name."""
        document, given_id = _validated(body, self._templates)
        if given_id is not None:
            rule = await self._repository.create(given_id, document, note)
        else:
            rule = await self._create_derived(document, note)
        await self._announce(rule.rule_id, rule)
        return rule

    async def _create_derived(self, document: Document, note: str | None) -> StoredRule:
        for attempt in range(_DERIVED_ID_ATTEMPTS):
            rule_id = derived_rule_id(document["name"], self._suffix())
            try:
                return await self._repository.create(rule_id, document, note)
            except Conflict:
                if attempt == _DERIVED_ID_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def replace(self, rule_id: str, body: Any, note: str | None = None) -> StoredRule:
        _existing_id(rule_id)
        document, _ = _validated(body, self._templates, path_id=rule_id)
        return await self._change(rule_id, lambda _: document, note)

    async def set_enabled(self, rule_id: str, enabled: bool) -> StoredRule:
        _existing_id(rule_id)
        note = "enabled" if enabled else "disabled"
        return await self._change(rule_id, lambda live: live | {"enabled": enabled}, note)

    async def _change(self, rule_id: str, edit: Edit, note: str | None) -> StoredRule:
        rule, _ = await self._repository.change(rule_id, edit, note)
        # Announced even when nothing changed: repeating a write whose reload timed out waits
        # for the laggards again.
        await self._announce(rule_id, rule)
        return rule

    async def delete(self, rule_id: str) -> None:
        _existing_id(rule_id)
        await self._repository.delete(rule_id)
        await self._announce(rule_id, None)

    async def _announce(self, rule_id: str, rule: StoredRule | None) -> None:
        """Announce the stored change; `ReloadNotConfirmed` names the workers that lag."""
        revision = await self._repository.revision()
        version = None if rule is None else rule.version
        laggards = await self._announcer.announce(rule_id, version, revision)
        if laggards:
            resource = None if rule is None else rule.resource()
            raise ReloadNotConfirmed(laggards, resource)

    async def get(self, rule_id: str) -> StoredRule:
        _existing_id(rule_id)
        rule = await self._repository.get(rule_id)
        if rule is None:
            raise NotFound(f"no rule {rule_id!r}")
        return rule

    async def versions(self, rule_id: str, limit: int = 100, cursor: str | None = None) -> Page:
        """A page of a rule's versions, oldest first, deleted rules included."""
        _existing_id(rule_id)
        after = _version_cursor(cursor)
        found = await self._repository.versions(rule_id, _page_size(limit) + 1, after)
        if found is None:
            raise NotFound(f"no rule {rule_id!r}")
        return _page(found, limit, lambda version: str(version.version))

    async def list(self, limit: int = 100, cursor: str | None = None) -> Page:
        """A page of live rules; `next_cursor` (the last id) continues it, None at the end."""
        if cursor is not None and not is_rule_id(cursor):
            raise InvalidInput([FieldError("cursor", "expected a cursor from a previous page")])
        rules = await self._repository.live(_page_size(limit) + 1, cursor)
        return _page(rules, limit, lambda rule: rule.rule_id)


def _validated(
    body: Any, templates: MessageTemplates | None, path_id: str | None = None
) -> tuple[Document, str | None]:
    """The normalised document and the `rule_id` the body names; every fault at once."""
    if not isinstance(body, Mapping):
        raise InvalidInput([FieldError("rule", "expected an object")], "invalid rule")
    errors: list[FieldError] = []
    given_id = body.get("rule_id")
    if given_id is not None and not is_rule_id(given_id):
        errors.append(FieldError("rule_id", "expected 1..64 of a-z 0-9 _ . - (first a-z 0-9)"))
        given_id = None
    elif path_id is not None and given_id not in (None, path_id):
        errors.append(FieldError("rule_id", f"does not match the rule in the path ({path_id})"))
    document = {key: value for key, value in body.items() if key not in RESOURCE_FIELDS}
    try:
        document = parse_rule(document).to_document()
    except InvalidInput as invalid:
        errors.extend(invalid.errors)
    else:
        errors.extend(
            FieldError(path, "contains a NUL character (\\u0000), which cannot be stored")
            for path in _nul_paths(document, "")
        )
        errors.extend(template_errors(document, templates))
    if errors:
        raise InvalidInput(errors, "invalid rule")
    return document, given_id


def template_errors(document: Document, templates: MessageTemplates | None) -> list[FieldError]:
    """The `message` template's fault, if `templates` refuses it."""
    message = document.get("message")
    if templates is None or not isinstance(message, str):
        return []
    problem = templates.check(message)
    return [] if problem is None else [FieldError("message", problem)]


def _existing_id(rule_id: str) -> None:
    """An id no rule can have (a NUL, a slash…) names no rule: 404 before any query."""
    if not is_rule_id(rule_id):
        raise NotFound(f"no rule {rule_id!r}")


def _nul_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        return [path or "rule"] if "\x00" in value else []
    if isinstance(value, Mapping):
        found = [f"{path}.{key}".lstrip(".") for key in value if "\x00" in str(key)]
        for key, item in value.items():
            found += _nul_paths(item, f"{path}.{key}".lstrip("."))
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _nul_paths(item, f"{path}[{i}]")]
    return []


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput([FieldError("limit", f"must be between 1 and {MAX_PAGE}")])
    return limit


def _version_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
        raise InvalidInput([FieldError("cursor", "expected a cursor from a previous page")])
    return int(cursor)


def _page(found: list[Any], limit: int, key: Callable[[Any], str]) -> Page:
    items = found[:limit]
    return Page(items, key(items[-1]) if len(found) > limit else None)
