"""The report schedules (`EVENTPULSE_REPORTS`, YAML), checked whole when the scheduler starts:
every problem is reported with the file, line and column and the field, and the scheduler
refuses to start.

```yaml
schedules:
  NAME:                          # letters, digits, `_`, `-`, `.`; names the lock and the runs
    cron: "0 6 * * *"            # UTC; 5 fields, or 6 with seconds first (infrastructure/cron.py)
    period: 1d                   # the report covers [fire time - period, fire time)
    title: Daily anomaly report  # optional (default "Anomaly report")
    rule_ids: [a, b]             # optional; empty or absent: every rule
    enabled: true                # optional
    catch_up: true               # optional: after a restart, run the latest missed fire time
    notebook: path.ipynb         # optional: another report notebook, relative to this file
```
Periods are durations as rules write them (domain/rules/durations.py): a whole number with `s`,
`m`, `h`, `d` or `w` (`90m`, `12h`, `1d`, `7d`, `1w`), more than 0 and at most 3650d.

Nothing in the file makes loading raise anything but `InvalidReportSchedules`: a value YAML
cannot construct (`2024-02-30`), a file that is not UTF-8 or nested past the parser's depth is
a problem with its position too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from yaml.nodes import Node, ScalarNode, SequenceNode

from eventpulse.application.report_schedules import Schedule
from eventpulse.application.reports import DEFAULT_TITLE
from eventpulse.application.rule_ids import RULE_ID, is_rule_id
from eventpulse.domain.rules.durations import parse_duration
from eventpulse.infrastructure.cron import InvalidCron, cron_times
from eventpulse.infrastructure.yaml_nodes import InvalidYamlFile, NodeReader, Problem, compose

_TOP: Final = frozenset({"schedules"})
_SCHEDULE: Final = frozenset(
    {"cron", "period", "title", "rule_ids", "enabled", "catch_up", "notebook"}
)
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class InvalidReportSchedules(InvalidYamlFile):
    kind = "report schedules"


@dataclass(frozen=True, slots=True)
class ReportSchedules:
    source: str
    schedules: tuple[Schedule, ...]


def load_schedules(path: Path) -> ReportSchedules:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem(1, 1, "file", f"cannot read: {exc.strerror or exc}")
        raise InvalidReportSchedules(str(path), [problem]) from exc
    except UnicodeDecodeError as exc:
        problem = Problem(1, 1, "file", f"not UTF-8 (byte {exc.start})")
        raise InvalidReportSchedules(str(path), [problem]) from exc
    return parse_schedules(text, str(path), base=path.resolve().parent)


def parse_schedules(text: str, source: str, *, base: Path) -> ReportSchedules:
    """The schedules of a YAML document; `base` is the folder relative notebooks are in."""
    try:
        root, syntax = compose(text)
    except RecursionError as exc:  # nested deeper than the parser goes
        problem = Problem(1, 1, "document", "invalid YAML: nested too deep")
        raise InvalidReportSchedules(source, [problem]) from exc
    if syntax is not None:
        raise InvalidReportSchedules(source, [syntax])
    reader = _Reader()
    schedules: list[Schedule] = []
    top = reader.mapping(root, "", _TOP) if root is not None else {}
    if top is not None and "schedules" in top:
        entries = reader.mapping(top["schedules"][1], "schedules") or {}
        for name, (key_node, value) in entries.items():
            where = f"schedules.{name}"
            if not _NAME.fullmatch(name):
                reader.fail(key_node, where, "a name is letters, digits, '_', '-', '.' (1..64)")
                continue
            try:
                schedule = _schedule(reader, name, value, where, base)
            except Exception as exc:  # a check that did not expect this input: still a problem
                reader.fail(value, where, f"cannot read this schedule: {exc!r}")
                continue
            if schedule is not None:
                schedules.append(schedule)
    if reader.problems:
        raise InvalidReportSchedules(source, reader.problems)
    return ReportSchedules(source, tuple(schedules))


class _Reader(NodeReader):
    """A `NodeReader` for which a value YAML cannot construct (`2024-02-30`, a date out of
    range) is a problem at its node, like any other; one problem per node and field."""

    def fail(self, node: Node, where: str, message: str) -> None:
        here = (node.start_mark.line + 1, node.start_mark.column + 1, where)
        last = self.problems[-1] if self.problems else None
        if last is not None and (last.line, last.column, last.where) == here:
            return  # said already (a value that cannot be read is not a string either)
        super().fail(node, where, message)

    def value(self, node: Node, where: str) -> Any:
        try:
            return super().value(node, where)
        except (ValueError, OverflowError, RecursionError) as exc:
            self.fail(node, where, f"cannot read this value: {exc}")
            return None


def _schedule(reader: NodeReader, name: str, node: Node, where: str, base: Path) -> Schedule | None:
    keys = reader.mapping(node, where, _SCHEDULE)
    if keys is None:
        return None
    missing = [key for key in ("cron", "period") if key not in keys]
    for key in missing:
        reader.fail(node, where, f"missing key: {key}")
    if missing:
        return None
    before = len(reader.problems)
    cron = _cron(reader, keys["cron"][1], f"{where}.cron")
    period = _period(reader, keys["period"][1], f"{where}.period")
    title = DEFAULT_TITLE
    if "title" in keys:
        title = reader.string(keys["title"][1], f"{where}.title") or title
    rule_ids: list[str] = []
    if "rule_ids" in keys:
        rule_ids = _rule_ids(reader, keys["rule_ids"][1], f"{where}.rule_ids")
    flags = {"enabled": True, "catch_up": True}
    for flag in flags:
        if flag in keys:
            value = reader.boolean(keys[flag][1], f"{where}.{flag}")
            flags[flag] = flags[flag] if value is None else value
    notebook = None
    if "notebook" in keys:
        notebook = _notebook(reader, keys["notebook"][1], f"{where}.notebook", base)
    if len(reader.problems) > before or cron is None or period is None:
        return None
    return Schedule(
        name=name,
        cron=cron,
        period=period,
        rule_ids=tuple(rule_ids),
        title=title,
        enabled=flags["enabled"],
        notebook=notebook,
        catch_up=flags["catch_up"],
    )


def _cron(reader: NodeReader, node: Node, where: str) -> str | None:
    expression = reader.string(node, where)
    if expression is None:
        return None
    try:
        cron_times(expression)
    except InvalidCron as exc:
        reader.fail(node, where, f"invalid cron expression {expression!r}: {exc}")
        return None
    return expression.strip()


def _period(reader: NodeReader, node: Node, where: str) -> timedelta | None:
    """A period: a duration of domain/rules/durations.py (bounded, so `fire time - period`
    stays in range for every fire time)."""
    if not isinstance(node, ScalarNode):
        reader.fail(node, where, "expected a duration such as '12h', '1d' or '7d'")
        return None
    before = len(reader.problems)
    value = reader.value(node, where)
    if len(reader.problems) > before:
        return None
    try:
        seconds = parse_duration(value.strip() if isinstance(value, str) else value)
    except ValueError as exc:
        reader.fail(node, where, str(exc))
        return None
    return timedelta(seconds=seconds)


def _rule_ids(reader: NodeReader, node: Node, where: str) -> list[str]:
    if isinstance(node, ScalarNode) and reader.value(node, where) is None:
        return []  # `rule_ids:` left empty
    found = reader.strings(node, where) or []
    for i, rule_id in enumerate(found):
        if not is_rule_id(rule_id):
            at = node.value[i] if isinstance(node, SequenceNode) else node
            reader.fail(at, f"{where}[{i}]", f"not a rule id: {rule_id!r} ({RULE_ID.pattern})")
    return found


def _notebook(reader: NodeReader, node: Node, where: str, base: Path) -> Path | None:
    text = reader.string(node, where)
    if text is None:
        return None
    try:
        path = (base / text).resolve()
        found = path.suffix == ".ipynb" and path.is_file()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL in the name
        reader.fail(node, where, f"cannot use {text!r}: {exc}")
        return None
    if not found:
        reader.fail(node, where, f"no notebook (.ipynb) at {path}")
        return None
    return path
