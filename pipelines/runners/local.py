"""The simplest engine: every item (a unit, an ingest task) in this process, one after another (for debugging)."""
from __future__ import annotations

from typing import Callable


def run(make: Callable, items: list[str], workers: int, options: dict, label: str = "") -> None:
    processor = make(options["out"])
    for item in items:
        processor(item)
