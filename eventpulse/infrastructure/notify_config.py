"""The notification config (`EVENTPULSE_NOTIFICATIONS`, YAML; DESIGN.md §4), checked whole at
start-up: every problem is reported with the file, line and column, and the notifier refuses
to start.

```yaml
channels:
  NAME: {type: slack|email|webhook|log, ...type keys...,
         max_attempts: 5, backoff_base: 500ms, backoff_cap: 30s, timeout: 10s, concurrency: 4}
routes:
  - name: oncall                    # optional; default route-<n>
    match: {severity: [critical], rule_id: [...], tags: [...]}   # all optional
    channels: [NAME, ...]
    digest: 0s                      # > 0: one digest per channel and window
```
Type keys — slack: `webhook_url_env`; email: `smtp_host`, `smtp_port`, `starttls`, `tls`,
`username_env` + `password_env` (both or neither), `from`, `to`; webhook: `url_env`,
`secret_env`; log: none (writes each notification to the log; needs no secret).

Secrets come only from environment variables named by `*_env` keys; an inline `webhook_url`,
`url`, `secret`, `username` or `password` is refused, and so is a named variable that is unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from yaml.nodes import Node, SequenceNode

from eventpulse.domain.notifications import (
    ChannelSpec,
    NotificationPlan,
    RetryPolicy,
    Route,
    RouteMatch,
)
from eventpulse.domain.silences import SEVERITIES
from eventpulse.infrastructure.notify_channel_config import (
    CHANNEL_KEYS,
    ChannelSettings,
    read_channel_settings,
)
from eventpulse.infrastructure.yaml_nodes import InvalidYamlFile, NodeReader, Problem, compose

_TOP: Final = frozenset({"channels", "routes"})
_ROUTE: Final = frozenset({"name", "match", "channels", "digest"})
_MATCH: Final = frozenset({"severity", "rule_id", "tags"})


class InvalidNotificationConfig(InvalidYamlFile):
    kind = "notification config"


@dataclass(frozen=True, slots=True)
class NotificationConfig:
    source: str
    plan: NotificationPlan
    settings: Mapping[str, ChannelSettings] = field(default_factory=dict)


def load_config(path: Path, environ: Mapping[str, str]) -> NotificationConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem(1, 1, "file", f"cannot read: {exc.strerror or exc}")
        raise InvalidNotificationConfig(str(path), [problem]) from exc
    return parse_config(text, str(path), environ)


def parse_config(text: str, source: str, environ: Mapping[str, str]) -> NotificationConfig:
    root, syntax = compose(text)
    if syntax is not None:
        raise InvalidNotificationConfig(source, [syntax])
    reader = NodeReader()
    specs: dict[str, ChannelSpec] = {}
    settings: dict[str, ChannelSettings] = {}
    routes: list[Route] = []
    top = reader.mapping(root, "", _TOP) if root is not None else {}
    if top is not None:
        defined: set[str] = set()
        if "channels" in top:
            defined = _channels(reader, top["channels"][1], environ, specs, settings)
        if "routes" in top:
            routes = _routes(reader, top["routes"][1], specs, defined)
    if reader.problems:
        raise InvalidNotificationConfig(source, reader.problems)
    return NotificationConfig(source, NotificationPlan(specs, tuple(routes)), settings)


def _channels(
    reader: NodeReader,
    node: Node,
    environ: Mapping[str, str],
    specs: dict[str, ChannelSpec],
    settings: dict[str, ChannelSettings],
) -> set[str]:
    """Read every channel into `specs` and `settings`; the names defined, valid or not."""
    defined = reader.mapping(node, "channels") or {}
    for name, (_, value) in defined.items():
        where = f"channels.{name}"
        keys = reader.mapping(value, where)
        if keys is None:
            continue
        if "type" not in keys:
            reader.fail(value, where, f"missing key: type (one of {', '.join(CHANNEL_KEYS)})")
            continue
        kind = reader.string(keys["type"][1], f"{where}.type")
        if kind is None:
            continue
        if kind not in CHANNEL_KEYS:
            known = ", ".join(CHANNEL_KEYS)
            reader.fail(keys["type"][1], f"{where}.type", f"unknown channel type (one of {known})")
            continue
        read = read_channel_settings(reader, kind, value, keys, where, environ)
        retry = _retry(reader, keys, where)
        concurrency = 4
        if "concurrency" in keys:
            concurrency = (
                reader.integer(keys["concurrency"][1], f"{where}.concurrency", 1, 256) or 4
            )
        if read is not None and retry is not None:
            specs[name] = ChannelSpec(name, kind, retry, concurrency)
            settings[name] = read
    return set(defined)


def _retry(
    reader: NodeReader, keys: dict[str, tuple[Node, Node]], where: str
) -> RetryPolicy | None:
    default = RetryPolicy()
    attempts = default.max_attempts
    if "max_attempts" in keys:
        attempts = reader.integer(keys["max_attempts"][1], f"{where}.max_attempts", 1, 100) or 0
    durations: dict[str, float | None] = {}
    for key, fallback in (
        ("backoff_base", default.base_s),
        ("backoff_cap", default.cap_s),
        ("timeout", default.timeout_s),
    ):
        durations[key] = reader.seconds(keys[key][1], f"{where}.{key}") if key in keys else fallback
    base, cap, timeout = durations["backoff_base"], durations["backoff_cap"], durations["timeout"]
    if not attempts or base is None or cap is None or timeout is None:
        return None
    if cap < base:
        reader.fail(keys["backoff_cap"][1], f"{where}.backoff_cap", "must be >= backoff_base")
        return None
    return RetryPolicy(attempts, base, cap, timeout)


def _routes(
    reader: NodeReader, node: Node, channels: dict[str, ChannelSpec], defined: set[str]
) -> list[Route]:
    routes: list[Route] = []
    names: set[str] = set()
    for index, item in enumerate(reader.sequence(node, "routes") or []):
        where = f"routes[{index}]"
        keys = reader.mapping(item, where, _ROUTE)
        if keys is None:
            continue
        name = f"route-{index + 1}"
        if "name" in keys:
            name = reader.string(keys["name"][1], f"{where}.name") or name
            if name in names:
                reader.fail(keys["name"][1], f"{where}.name", "duplicate route name")
        names.add(name)
        match = _match(reader, keys["match"][1], f"{where}.match") if "match" in keys else None
        targets = _targets(reader, keys, item, where, channels, defined)
        digest = 0.0
        if "digest" in keys:
            digest = reader.seconds(keys["digest"][1], f"{where}.digest", allow_zero=True) or 0.0
        if targets is not None:
            routes.append(Route(name, targets, match or RouteMatch(), digest))
    return routes


def _targets(
    reader: NodeReader,
    keys: dict[str, tuple[Node, Node]],
    item: Node,
    where: str,
    channels: dict[str, ChannelSpec],
    defined: set[str],
) -> tuple[str, ...] | None:
    if "channels" not in keys:
        reader.fail(item, where, "missing key: channels")
        return None
    node = keys["channels"][1]
    names = reader.strings(node, f"{where}.channels")
    if names is None:
        return None
    if not names:
        reader.fail(node, f"{where}.channels", "expected at least one channel")
        return None
    known = True
    for i, name in enumerate(names):
        if name in channels:
            continue
        known = False
        if name not in defined:  # a defined but invalid channel is reported at its own line
            at = node.value[i] if isinstance(node, SequenceNode) else node
            listed = ", ".join(sorted(defined)) or "none defined"
            reader.fail(at, f"{where}.channels[{i}]", f"unknown channel {name!r} ({listed})")
    return tuple(dict.fromkeys(names)) if known else None


def _match(reader: NodeReader, node: Node, where: str) -> RouteMatch | None:
    keys = reader.mapping(node, where, _MATCH)
    if keys is None:
        return None
    found: dict[str, frozenset[str]] = {}
    for key, (_, value) in keys.items():
        items = reader.strings(value, f"{where}.{key}")
        if items is None:
            continue
        if key == "severity":
            for i, severity in enumerate(items):
                if severity not in SEVERITIES:
                    expected = ", ".join(SEVERITIES)
                    reader.fail(value, f"{where}.severity[{i}]", f"expected one of {expected}")
        found[key] = frozenset(items)
    return RouteMatch(
        found.get("severity", frozenset()),
        found.get("rule_id", frozenset()),
        found.get("tags", frozenset()),
    )
