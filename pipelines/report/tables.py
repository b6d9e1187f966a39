"""What the terminal and the HTML page both show: ``Section``s of titled ``Table``s (cells already
formatted as text) and ``Chart`` data, and the formats of the cells that hold hours and counts."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    align: str = ""  # one letter per column, "l" or "r"; default: first left, others right

    def alignment(self) -> str:
        return self.align or "l" + "r" * (len(self.columns) - 1)


@dataclass
class Chart:
    """Data for one figure. ``bars``: horizontal bars per category, series stacked (or side by side);
    ``histograms``: one small bar chart per series over the same ordered buckets."""

    title: str
    kind: str  # "bars" or "histograms"
    categories: list[str]
    series: dict[str, list[float]]
    unit: str = ""
    stacked: bool = True


@dataclass
class Section:
    """One titled part of the report: a note, then tables (terminal and HTML) and charts (HTML only)."""

    id: str
    title: str
    note: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


def hours_cell(seconds: float | None) -> str:
    """Seconds as hours with three decimals, "–" when not measured."""
    return "–" if seconds is None else f"{seconds / 3600:,.3f}"


def count_cell(value: float | None) -> str:
    """A count with thousands separators, "–" when not measured."""
    return "–" if value is None else f"{int(value):,}"
