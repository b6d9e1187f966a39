"""Partitioning: records into work units, appended to unit input files through bounded buffers.

Every record of every manifest, in the run's dataset order and each manifest's order, is checked
for duplicates (``duplicates.py``: a later occurrence is quarantined), given its number of copies
by weighting (``weights.copies_of``; one for evaluation data), and each copy is appended to the
input file of the unit that jump consistent hashing of its seeded key hash picks in its shard group.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

from pipelines.core import outputs
from pipelines.core.atomic import write_jsonl
from pipelines.core.config import RunConfig
from pipelines.core.keys import jump_bucket, order_key
from pipelines.ingest.manifest import iter_manifest, iter_manifest_rows, location
from pipelines.plan.duplicates import Duplicates
from pipelines.plan.leaks import EvalOrigins, protected_origins
from pipelines.plan.weights import copies_of

#: lines held for one unit file before they are appended to it
PARTITION_BUFFER_BYTES = 1 << 16

#: lines held for all unit files together: a run with many units (one per ``RunConfig.unit_records``
#: records) flushes every buffer when the total is reached, so the planner's memory does not grow
#: with the corpus
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


@dataclass
class Partitioned:
    """What partitioning put into the units and left out, per dataset."""

    #: seconds and samples per role (``train_hours``, ``train_samples``, ``eval_*``: hours still in
    #: seconds) and seconds per task (``task:NAME``), copies made by weighting included
    planned: dict[str, Counter]
    #: training records to which weighting gave no copy
    excluded: Counter = field(default_factory=Counter)
    #: training records quarantined as evaluation clips, per "training corpus <- evaluation corpus"
    overlaps: Counter = field(default_factory=Counter)
    #: training records sharing an origin with a training record of the other corpus, per "a = b" (kept)
    train_repeats: Counter = field(default_factory=Counter)


def _evaluation_origins(config: RunConfig) -> EvalOrigins:
    """The origins of the run's evaluation records and of the lists the run config protects, indexed."""
    out = config.local_out
    leaks = EvalOrigins(scratch=os.path.join(out, outputs.WORK))
    leaks.add_records((s.name, r) for s in config.datasets for r in iter_manifest(outputs.manifest_path(out, s.name)))
    for path in config.protected_origins:
        for dataset, key, text in protected_origins(path):
            leaks.add(dataset, key, text)
    return leaks.freeze()


def partition_records(
    config: RunConfig, dataset_tasks: dict[str, tuple[str, ...]], factors: dict[str, float],
    units_per_group: dict[str, int], progress: Callable[[str], None],
) -> Partitioned:
    """Every record of the run's manifests into the input file of its work unit (the folder is made
    afresh); the duplicates found are written to the plan's drops file."""
    out = config.local_out
    progress("partition records into work units")
    units_dir = os.path.dirname(outputs.unit_input_path(out, "x"))
    shutil.rmtree(units_dir, ignore_errors=True)  # leftovers of a planning that did not finish
    os.makedirs(units_dir)
    files = UnitFiles(out)
    result = Partitioned(
        {name: Counter({"train_hours": 0.0, "train_samples": 0, "eval_hours": 0.0, "eval_samples": 0}) for name in factors}
    )
    progress("look for duplicates within and across corpora")
    with Duplicates(
        {s.name: {None: location(s.root), **{k: location(v) for k, v in s.roots.items()}} for s in config.datasets},
        dataset_tasks,
        scratch=os.path.join(out, outputs.WORK),
    ) as duplicates:
        duplicates.find((s.name, r) for s in config.datasets for r in iter_manifest(outputs.manifest_path(out, s.name)))
        with _evaluation_origins(config) as leaks:
            plan_drops: list[dict] = []
            for spec in config.datasets:
                plan_drops += _partition_dataset(config, spec.name, dataset_tasks[spec.name], factors[spec.name],
                                                 units_per_group, duplicates, leaks, files, result)
            result.overlaps.update(leaks.overlaps)
            result.train_repeats.update(leaks.training_repeats())
    files.close()
    write_jsonl(outputs.plan_drops_path(out), plan_drops)
    return result


def _partition_dataset(
    config: RunConfig, name: str, tasks: tuple[str, ...], factor: float, units_per_group: dict[str, int],
    duplicates: Duplicates, leaks: EvalOrigins, files: UnitFiles, result: Partitioned,
) -> list[dict]:
    """One dataset's records into the units; returns the quarantine rows of its duplicates and of its
    training records that are evaluation clips (``leaks.py``)."""
    drops = []
    planned = result.planned[name]
    for row, record in iter_manifest_rows(outputs.manifest_path(config.local_out, name)):
        duplicate = duplicates.check(name, record)
        if duplicate is None:
            duplicate = leaks.check(name, record)
        if duplicate is not None:  # quarantined by the plan: the first occurrence is kept
            drops.append(duplicate.to_row())
            continue
        group = outputs.group_of(record.role, record.dataset, record.split)
        n = 1 if record.role != "train" else copies_of(factor, config.seed, record.key)
        if n == 0:
            result.excluded[name] += 1
            continue
        leaks.add_training(name, record)  # two training copies of one origin stay, counted (leaks.py)
        seconds = (record.seconds or 0.0) * n
        planned[f"{record.role}_hours"] += seconds
        planned[f"{record.role}_samples"] += n
        for task in tasks:
            planned[f"task:{task}"] += seconds
        for copy in range(n):
            # the record itself as its manifest row was read (the same JSON as its to_row()); repeats renamed
            item = row if copy == 0 else {**row, "key": f"{record.key}-r{copy}", "copy": copy}
            rank = order_key(config.seed, item["key"])
            unit = outputs.unit_id(group, jump_bucket(int(rank, 16), units_per_group[group]))
            files.add(unit, json.dumps({"order": rank, "record": item}, ensure_ascii=False) + "\n")
    return drops
