"""The results table: each measured rate next to its raw baseline, the ratio and the target."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    label: str
    value: float
    unit: str
    baseline_label: str = ""
    baseline: float | None = None
    target: str = ""
    passed: bool | None = None
    higher_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0 or math.isnan(self.value):
            return None
        return self.value / self.baseline


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        self.notes.append(text)


def number(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "—"
    if unit == "ms":
        text = f"{value:.2f}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def ratio_text(row: Row) -> str:
    ratio = row.ratio
    return "—" if ratio is None else f"{ratio:.2f}x"


def verdict(row: Row) -> str:
    if row.passed is None:
        return ""
    return "yes" if row.passed else "NO"


HEADERS = ["measurement", "result", "raw baseline", "baseline", "ratio", "target", "met"]


def cells(row: Row) -> list[str]:
    return [
        row.label,
        number(row.value, row.unit),
        row.baseline_label,
        number(row.baseline, row.unit) if row.baseline is not None else "",
        ratio_text(row),
        row.target,
        verdict(row),
    ]


def markdown_table(results: Results) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in results.rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells(row)) + " |")
    return "\n".join(lines)


def print_table(results: Results, title: str) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a product dependency
        print(title)
        print(markdown_table(results))
        return
    table = Table(title=title)
    for header in HEADERS:
        justify = "left" if header in {"measurement", "raw baseline", "target"} else "right"
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for row in results.rows:
        style = "red" if row.passed is False else None
        table.add_row(*cells(row), style=style)
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
    for text in results.notes:
        console.print(f"- {text}", highlight=False)
