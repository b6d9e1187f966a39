"""Plan a run: ingest every dataset into its manifest, then cut the records into work units.

Both steps stream. Ingest writes each dataset's Parquet manifest in row batches; partitioning
hashes every key (seeded) into one of its shard group's units and appends the record to that unit's
input file through small buffers. A unit is the grain of parallelism, of resumption and of shard
naming: it becomes one shard (or a few, when byte bounds roll over), so the output does not depend
on the engine or on the number of workers.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import loader
from schemas.model import DatasetSchema

from . import outputs
from .atomic import read_json, write_json, write_jsonl
from .config import DatasetSpec, RunConfig
from .ingest import ingest
from .keys import order_key
from .record import ARROW_SCHEMA, Drop, Record

BATCH_ROWS = 4096
PARTITION_BUFFER_BYTES = 1 << 16


class PlanError(RuntimeError):
    pass


@dataclass(frozen=True)
class Plan:
    fingerprint: str
    config: dict
    units: list[str]
    inputs: dict[str, int]  # metadata rows seen per dataset
    ingest_drops: dict[str, int]

    @staticmethod
    def load(out: str) -> "Plan":
        return Plan(**read_json(outputs.plan_path(out)))

    def run_config(self) -> RunConfig:
        data = dict(self.config)
        data["datasets"] = tuple(DatasetSpec(**d) for d in data["datasets"])
        return RunConfig(**data)


def load_schemas(config: RunConfig) -> dict[str, DatasetSchema]:
    return {spec.name: loader.load(spec.schema) for spec in config.datasets}


def _schema_texts(config: RunConfig) -> dict[str, str]:
    return {spec.name: loader.resolve(spec.schema).read_text(encoding="utf-8") for spec in config.datasets}


def write_manifest(schema: DatasetSchema, dataset: str, root: str, out: str) -> dict:
    """Ingest one dataset into ``manifests/NAME.parquet`` (streaming); returns its counts.

    Counts: ``records``, ``drops`` and ``groups`` (records per shard group), also kept in the
    dataset's completion record so planning never re-reads a finished manifest to count it.
    """
    path = outputs.manifest_path(out, dataset)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    drops: list[dict] = []
    groups: Counter = Counter()
    batch: list[dict] = []
    temporary = path + ".partial"
    with pq.ParquetWriter(temporary, ARROW_SCHEMA, compression="zstd") as writer:
        for item in ingest(schema, dataset, root):
            if isinstance(item, Drop):
                drops.append(item.to_row())
                continue
            groups[outputs.group_of(item.role, item.dataset, item.split)] += 1
            batch.append(item.to_row())
            if len(batch) >= BATCH_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=ARROW_SCHEMA))
                batch.clear()
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=ARROW_SCHEMA))
    os.replace(temporary, path)
    write_jsonl(outputs.ingest_drops_path(out, dataset), drops)
    return {"records": sum(groups.values()), "drops": len(drops), "groups": dict(sorted(groups.items()))}


def ingest_dataset(spec: DatasetSpec, out: str) -> dict:
    """Ingest one dataset unless its manifest is already complete for the same schema and root.

    Idempotent and safe to retry (an orchestrator maps this over the datasets of a run).
    """
    schema = loader.load(spec.schema)
    fingerprint = _dataset_fingerprint(spec)
    done_path = outputs.ingest_done_path(out, spec.name)
    if os.path.exists(done_path):
        done = read_json(done_path)
        if done["fingerprint"] == fingerprint and os.path.exists(outputs.manifest_path(out, spec.name)):
            return done
    counts = write_manifest(schema, spec.name, spec.root, out)
    done = {"dataset": spec.name, "fingerprint": fingerprint, **counts}
    write_json(done_path, done)
    return done


def _dataset_fingerprint(spec: DatasetSpec) -> str:
    text = loader.resolve(spec.schema).read_text(encoding="utf-8")
    payload = json.dumps([spec.name, os.path.abspath(spec.root), text])
    return hashlib.sha256(payload.encode()).hexdigest()


def iter_manifest(path: str):
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            yield Record.from_row(row)


class _UnitFiles:
    """Appends JSON lines to many unit input files with bounded buffering."""

    def __init__(self, out: str):
        self.out = out
        self.buffers: dict[str, list[str]] = defaultdict(list)
        self.sizes: Counter = Counter()

    def add(self, unit: str, line: str) -> None:
        self.buffers[unit].append(line)
        self.sizes[unit] += len(line)
        if self.sizes[unit] >= PARTITION_BUFFER_BYTES:
            self.flush(unit)

    def flush(self, unit: str) -> None:
        path = outputs.unit_input_path(self.out, unit)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("".join(self.buffers.pop(unit)))
        self.sizes.pop(unit, None)

    def close(self) -> None:
        for unit in list(self.buffers):
            self.flush(unit)


def make_plan(config: RunConfig, progress: Callable[[str], None] = lambda _: None) -> Plan:
    """Ingest and partition, or reuse the plan already in ``config.out`` when it is the same work."""
    out = config.out
    fingerprint = config.fingerprint(_schema_texts(config))
    if os.path.exists(outputs.plan_path(out)):
        existing = Plan.load(out)
        if existing.fingerprint != fingerprint:
            raise PlanError(
                f"{out} holds a run with a different configuration or schemas; "
                "use a new output folder, or --overwrite to start over"
            )
        return existing
    group_counts: Counter = Counter()
    inputs, drops = {}, {}
    for spec in config.datasets:
        progress(f"ingest {spec.name} from {spec.root}")
        counts = ingest_dataset(spec, out)
        group_counts.update(counts["groups"])
        inputs[spec.name] = counts["records"] + counts["drops"]
        drops[spec.name] = counts["drops"]
    units_per_group = {g: math.ceil(n / config.unit_records) for g, n in sorted(group_counts.items())}
    progress("partition records into work units")
    units_dir = os.path.dirname(outputs.unit_input_path(out, "x"))
    shutil.rmtree(units_dir, ignore_errors=True)  # leftovers of a planning that did not finish
    os.makedirs(units_dir)
    files = _UnitFiles(out)
    for spec in config.datasets:
        for record in iter_manifest(outputs.manifest_path(out, spec.name)):
            group = outputs.group_of(record.role, record.dataset, record.split)
            rank = order_key(config.seed, record.key)
            unit = outputs.unit_id(group, int(rank, 16) % units_per_group[group])
            files.add(unit, json.dumps({"order": rank, "record": record.to_row()}, ensure_ascii=False) + "\n")
    files.close()
    units = [outputs.unit_id(g, n) for g, count in units_per_group.items() for n in range(count)]
    config_dict = asdict(config)
    config_dict["datasets"] = [
        {**d, "root": os.path.abspath(d["root"])} for d in config_dict["datasets"]
    ]
    plan = Plan(fingerprint, config_dict, units, inputs, drops)
    write_json(outputs.plan_path(out), asdict(plan))
    return plan
