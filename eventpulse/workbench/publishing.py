"""Publishing a rule from a notebook: the diff against the live version, then the outcome.

Publishing goes through the application's `ManageRules` with the real reload announcer, as
the rules API does: the new version is stored, announced on the reload channel, and the call
returns once every live worker reports running it (invariant 7). When some do not confirm in
time the change still stands; `PublishNotConfirmed` (the API's 504) names them.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from eventpulse.domain.errors import ReloadNotConfirmed
from eventpulse.infrastructure.redis_worker_status import WorkerReport


@dataclass(frozen=True)
class RuleDiff:
    """The candidate's normalised document against the live version's (unified diff of YAML)."""

    rule_id: str | None
    live_version: int | None
    lines: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.live_version is None or bool(self.lines)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        if self.live_version is None:
            return f"RuleDiff({self.rule_id or 'a new rule'}: new rule)\n{self.text}"
        if not self.lines:
            return f"RuleDiff({self.rule_id}@{self.live_version}: no change)"
        return f"RuleDiff({self.rule_id}@{self.live_version} → candidate)\n{self.text}"

    def _repr_html_(self) -> str:
        head = html.escape(repr(self).split("\n", 1)[0])
        colours = {"+": "#1a7f37", "-": "#cf222e", "@": "#8250df"}
        body = "".join(
            f'<span style="color:{colours.get(line[:1], "inherit")}">{html.escape(line)}</span>\n'
            for line in self.lines
        )
        return f"<div><strong>{head}</strong><pre>{body}</pre></div>"


def rule_diff(
    rule_id: str | None, live: dict[str, Any] | None, live_version: int | None, new: dict[str, Any]
) -> RuleDiff:
    after = _yaml(new)
    if live is None:
        return RuleDiff(rule_id, None, tuple(f"+{line}" for line in after))
    lines = difflib.unified_diff(
        _yaml(live),
        after,
        fromfile=f"{rule_id}@{live_version} (live)",
        tofile="candidate",
        lineterm="",
    )
    return RuleDiff(rule_id, live_version, tuple(lines))


def _yaml(document: dict[str, Any]) -> list[str]:
    body = {k: v for k, v in document.items() if k != "rule_id"}
    return yaml.safe_dump(body, sort_keys=False, allow_unicode=True).splitlines()


@dataclass(frozen=True)
class Publication:
    """A published rule: the version stored, what changed, and the workers now running it."""

    rule_id: str
    version: int
    previous_version: int | None
    diff: RuleDiff
    workers: tuple[WorkerReport, ...]
    note: str | None

    @property
    def stored_new_version(self) -> bool:
        return self.version != self.previous_version

    def confirmation(self) -> str:
        if not self.workers:
            return "no live worker: the rule is stored; workers run it as soon as they start"
        names = ", ".join(
            f"{w.worker} (runs v{w.versions.get(self.rule_id, '?')}, revision {w.revision})"
            for w in self.workers
        )
        return f"confirmed by {names}"

    def __repr__(self) -> str:
        what = "published" if self.stored_new_version else "unchanged (already live)"
        return f"Publication({self.rule_id}@{self.version} {what}; {self.confirmation()})"

    def _repr_html_(self) -> str:
        what = "published" if self.stored_new_version else "unchanged: this version is live"
        note = f" — note: {html.escape(self.note)}" if self.note else ""
        return (
            f'<div><p style="color:#1a7f37"><strong>✔ {html.escape(self.rule_id)}@'
            f"{self.version} {what}</strong>{note}</p>"
            f"<p>{html.escape(self.confirmation())}</p>{self.diff._repr_html_()}</div>"
        )


class PublishNotConfirmed(ReloadNotConfirmed):
    """The version is stored and announced, but some live workers did not confirm running it
    in time (what the API answers with 504). The change stands: they load it at their next
    resync, and publishing the same rule again waits for them again."""

    def __init__(
        self, laggards: Sequence[str], rule: dict[str, Any] | None, diff: RuleDiff
    ) -> None:
        super().__init__(list(laggards), rule)
        self.diff = diff

    def __str__(self) -> str:
        stored = "the change"
        if self.rule is not None:
            stored = f"{self.rule.get('rule_id')}@{self.rule.get('version')}"
        return (
            f"{stored} is stored, but these workers did not confirm running it in time "
            f"(the API would answer 504): {', '.join(self.laggards)}. The change stands: they "
            "load it at their next resync; publishing the same rule again waits for them again."
        )
