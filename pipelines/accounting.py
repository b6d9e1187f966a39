"""Counters that add up with ``+``: gathered per shard while it is written, merged once at the end."""
from __future__ import annotations

from collections import Counter
from typing import Iterable


class Counters:
    """Named families of counters, e.g. ``samples_by_dataset['clotho'] += 1``. JSON-serialisable."""

    def __init__(self, data: dict[str, dict[str, float]] | None = None):
        self.data: dict[str, Counter] = {k: Counter(v) for k, v in (data or {}).items()}

    def add(self, family: str, name: str, amount: float = 1) -> None:
        self.data.setdefault(family, Counter())[name] += amount

    def __add__(self, other: "Counters") -> "Counters":
        merged = Counters(self.to_dict())
        for family, counter in other.data.items():
            merged.data.setdefault(family, Counter()).update(counter)
        return merged

    def get(self, family: str) -> dict[str, float]:
        return dict(self.data.get(family, {}))

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {
            family: {name: _tidy(value) for name, value in sorted(counter.items())}
            for family, counter in sorted(self.data.items())
        }

    @staticmethod
    def merge(items: Iterable["Counters"]) -> "Counters":
        total = Counters()
        for item in items:
            total = total + item
        return total


def _tidy(value: float) -> float:
    return round(value, 3) if isinstance(value, float) else value


def count_sample(counters: Counters, dataset: str, split: str, seconds: float, views) -> None:
    """Add one written sample to its shard's statistics."""
    counters.add("samples_by_dataset", dataset)
    counters.add("seconds_by_dataset", dataset, seconds)
    counters.add("samples_by_split", f"{dataset}/{split}")
    for view in views:
        counters.add("views_by_task", view.task)
        counters.add("seconds_by_task", view.task, seconds)
        counters.add("views_by_prompt", view.prompt)
