"""Partitioning: records into work units, appended to unit input files through bounded buffers."""
from __future__ import annotations

import math
from collections import Counter, defaultdict

from pipelines.core import outputs
from pipelines.core.config import RunConfig


#: lines held for one unit file before they are appended to it, and for all of them together: a run
#: with many units (one per ~1,800 records) flushes every buffer when the total is reached, so the
#: planner's memory does not grow with the corpus
PARTITION_BUFFER_BYTES = 1 << 16


UNIT_BUFFERS_BYTES = 1 << 26


class UnitFiles:
    """Appends JSON lines to many unit input files, buffered per file and in total (each file gets
    its lines in the order they were added, however the buffers were flushed)."""

    def __init__(self, out: str):
        self.out = out
        self.buffers: dict[str, list[str]] = defaultdict(list)
        self.sizes: Counter = Counter()
        self.total = 0

    def add(self, unit: str, line: str) -> None:
        self.buffers[unit].append(line)
        self.sizes[unit] += len(line)
        self.total += len(line)
        if self.sizes[unit] >= PARTITION_BUFFER_BYTES:
            self.flush(unit)
        elif self.total >= UNIT_BUFFERS_BYTES:
            self.flush_all()

    def flush(self, unit: str) -> None:
        path = outputs.unit_input_path(self.out, unit)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("".join(self.buffers.pop(unit)))
        self.total -= self.sizes.pop(unit, 0)

    def flush_all(self) -> None:
        for unit in list(self.buffers):
            self.flush(unit)

    close = flush_all  # at the end of planning: everything written


def count_units(config: RunConfig, expected: dict[str, float]) -> dict[str, int]:
    units = {}
    for group, count in sorted(expected.items()):
        n = max(1, math.ceil(count / config.unit_records))
        if group == "train" and config.shards_multiple_of:
            n = math.ceil(n / config.shards_multiple_of) * config.shards_multiple_of
        units[group] = n
    return units
