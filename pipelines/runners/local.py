"""The simplest engine: every unit in this process, one after another (for debugging)."""
from __future__ import annotations

from pipelines.prepare.units import UnitProcessor


def run(out: str, units: list[str], workers: int, options: dict) -> None:
    processor = UnitProcessor(out, options.get("remote"))
    for unit in units:
        processor(unit)
