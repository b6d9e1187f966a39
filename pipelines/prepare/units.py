"""One work unit, start to finish: read its records, run the stages, write its shards, record it.

This is what every engine runs: a ``UnitProcessor``, set up once per worker, called with each unit
id. A unit whose completion record exists is skipped, so reruns and engine retries do no work twice;
a unit that fails half-way leaves no shard under a final name that a rerun would not rewrite
identically. Every completion record carries the plan's fingerprint, and a worker whose code is not
the code that made the plan refuses to start (``pipelines.plan.provenance``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from pipelines.core import failpoints, outputs, sources
from pipelines.core.atomic import read_json, write_json
from pipelines.core.config import RunConfig
from pipelines.core.record import Drop, Record
from pipelines.core.remote import Mirror
from pipelines.plan.model import Plan, PlanError, load_schemas
from pipelines.plan.provenance import check_worker
from pipelines.prepare.shards import ShardWriter
from pipelines.prepare.stages import Sample, apply_stages, audio_location, build_stages
from pipelines.prepare.timestamps import LongForm


@dataclass(frozen=True)
class UnitResult:
    unit: str
    records: int
    written: int
    quarantined: int
    skipped: bool  # already complete before this call

    def to_dict(self) -> dict:
        return {"unit": self.unit, "records": self.records, "written": self.written, "quarantined": self.quarantined, "skipped": self.skipped}


def read_unit(out: str, unit: str) -> list[tuple[str, Record]]:
    """The unit's records in shuffle order (by seeded hash, then key)."""
    path = outputs.unit_input_path(out, unit)
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            rows.append((item["order"], Record.from_row(item["record"])))
    rows.sort(key=lambda pair: (pair[0], pair[1].key))
    return rows


class UnitProcessor:
    """Per-worker state: the run's plan and its stages, built once; call it with a unit id."""

    def __init__(self, out: str, remote: str | None = None):
        self.out = out
        self.mirror = Mirror(out, remote)
        if not self.mirror.fetch(outputs.plan_path(out)):
            raise FileNotFoundError(f"no plan in {out} (nor in {remote}): plan the run first")
        plan = Plan.load(out)
        check_worker(plan, out)  # a worker of another version never adds its shards to this plan's
        self.fingerprint = plan.fingerprint
        self.config: RunConfig = plan.run_config()
        self.roots = {key: root for spec in self.config.datasets for key, root in spec.root_map().items()}
        self.stages = build_stages(
            load_schemas(self.config), self.config.max_seconds, self.roots, self.config.min_seconds,
            long_form=LongForm.from_config(self.config), filters=self.config.filters, with_dnsmos=self.config.dnsmos,
        )

    def __call__(self, unit: str) -> UnitResult:
        done = outputs.unit_done_path(self.out, unit)
        if self.mirror.fetch(done):
            record = read_json(done)
            if record.get("fingerprint") != self.fingerprint:
                raise PlanError(
                    f"{done} was made under another plan (fingerprint {record.get('fingerprint')}, the plan's is "
                    f"{self.fingerprint}): the output mixes runs; write to a new output"
                )
            return UnitResult(unit, record["records"], record["written"], len(record["quarantine"]), True)
        self.mirror.fetch(outputs.unit_input_path(self.out, unit))
        rows = read_unit(self.out, unit)
        fixed = bool(self.config.shards_multiple_of) and outputs.group_of_unit(unit) == "train"
        if fixed:  # exactly one shard per unit: the number of training shards is what the plan says
            writer = ShardWriter(self.out, unit, max_bytes=2**62, max_samples=2**62, mirror=self.mirror)
        else:
            writer = ShardWriter(self.out, unit, self.config.shard_max_bytes, self.config.shard_max_samples, mirror=self.mirror)
        drops: list[dict] = []
        written = copy_drops = 0
        try:
            with sources.Prefetch([audio_location(self.roots, record) for _, record in rows]):  # s3:// clips, fetched ahead
                for _, record in rows:
                    for result in apply_stages(self.stages, Sample(record)):
                        if isinstance(result, Drop):
                            if record.copy:
                                copy_drops += 1  # the record itself carries the quarantine row
                            else:
                                drops.append(result.to_row())
                        else:
                            writer.write(result)
                            written += 1
            shards = writer.close(at_least_one=fixed)
        except BaseException:
            writer.abort()
            raise
        write_json(
            done,
            {
                "unit": unit,
                "fingerprint": self.fingerprint,
                "records": len(rows),
                "written": written,
                "copy_drops": copy_drops,
                "shards": [shard.to_dict() for shard in shards],
                "quarantine": drops,
            },
        )
        self.mirror.push(done)
        failpoints.hit("unit_done")
        return UnitResult(unit, len(rows), written, len(drops), False)

