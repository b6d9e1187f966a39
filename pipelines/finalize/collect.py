"""Finish a run: merge the units' completion records into the index, the quarantine and the summary.

Reads only small JSON records (never audio), in sorted unit order, so the result is the same
whatever engine ran the units and in whatever order they finished.
"""
from __future__ import annotations

import os
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from pipelines.core import failpoints, outputs
from pipelines.core.atomic import read_json, read_jsonl, write_json, write_jsonl
from pipelines.core.remote import Mirror
from pipelines.finalize.repeats import Entry, find_repeated_audio
from pipelines.plan.model import Plan
from pipelines.prepare.accounting import Counters


class IncompleteRun(RuntimeError):
    pass


@dataclass
class Shards:
    """The shards of every unit's completion record and what they hold, per dataset."""

    entries: list[dict] = field(default_factory=list)  # as the units recorded them (with their stats)
    written: Counter = field(default_factory=Counter)  # input records with a sample in the shards
    samples: Counter = field(default_factory=Counter)  # samples in the shards (repeats made by weighting included)
    stats: Counters = field(default_factory=Counters)


def finalize(out: str, remote: str | None = None) -> dict:
    """Write the quarantine, the statistics, the indexes and the summary of the run in ``out`` (and
    push them to ``remote``, the summary last); IncompleteRun if a unit has not finished."""
    mirror = Mirror(out, remote)
    plan = finished_plan(out, mirror)
    for spec in plan.config["datasets"]:
        mirror.fetch(outputs.ingest_drops_path(out, spec["name"]))
    has_plan_drops = mirror.fetch(outputs.plan_drops_path(out))  # duplicates (pipelines/plan/duplicates.py)
    shards = collect_shards(out, plan)
    quarantined, reasons = write_quarantine(out, plan, has_plan_drops)
    failpoints.hit("before_index")
    repeated = find_repeated_audio(lambda: audio_entries(out, plan), scratch=os.path.join(out, outputs.WORK))
    summary = summarize(plan, shards, quarantined, reasons, repeated.summary())
    shard_indexes = write_indexes(out, shards)
    write_json(os.path.join(out, outputs.SUMMARY), summary)
    published = [*shard_indexes, outputs.QUARANTINE, outputs.STATS, outputs.role_index_path("train"), outputs.role_index_path("eval"),
                 outputs.INDEX, outputs.SUMMARY]
    for name in published:  # the summary last: its presence in the bucket means the run is complete
        mirror.push(os.path.join(out, name))
    return summary


def finished_plan(out: str, mirror: Mirror) -> Plan:
    """The run's plan, once every unit it names has its completion record (fetched from the bucket)."""
    mirror.fetch(outputs.plan_path(out))
    plan = Plan.load(out)
    missing = [u for u in plan.units if not mirror.fetch(outputs.unit_done_path(out, u))]
    if missing:
        raise IncompleteRun(f"{len(missing)} work unit(s) not finished (first: {missing[0]}); rerun to resume")
    return plan


def collect_shards(out: str, plan: Plan) -> Shards:
    shards = Shards()
    for unit in plan.units:
        done = read_json(outputs.unit_done_path(out, unit))
        for shard in done["shards"]:
            shard.pop("audio", None)  # read again by ``audio_entries``: never all in memory
            shards.entries.append(shard)
            shard_stats = Counters(shard["stats"])
            shards.stats += shard_stats
            shards.written.update({k: int(v) for k, v in shard_stats.get("records_by_dataset").items()})
            shards.samples.update({k: int(v) for k, v in shard_stats.get("samples_by_dataset").items()})
    return shards


def audio_entries(out: str, plan: Plan) -> Iterable[Entry]:
    """(PCM digest, role, dataset, key) of every written sample, unit by unit (``finalize/repeats.py``)."""
    for unit in plan.units:
        for shard in read_json(outputs.unit_done_path(out, unit))["shards"]:
            role = outputs.role_of_group(shard["group"])
            for digest, dataset, key in shard.get("audio", ()):  # none in a unit written before digests were kept
                yield digest, role, dataset, key


def write_quarantine(out: str, plan: Plan, has_plan_drops: bool) -> tuple[Counter, Counter]:
    """Every refused record into the run's quarantine file, streamed (never all in memory): ingest,
    planning, then each unit. Returns the count per dataset and per ``dataset/stage/reason``."""
    quarantined: Counter = Counter()
    reasons: Counter = Counter()

    def quarantine_rows():
        sources = [read_jsonl(outputs.ingest_drops_path(out, spec["name"])) for spec in plan.config["datasets"]]
        if has_plan_drops:
            sources.append(read_jsonl(outputs.plan_drops_path(out)))
        sources.append(row for unit in plan.units for row in read_json(outputs.unit_done_path(out, unit))["quarantine"])
        for rows in sources:
            for row in rows:
                quarantined[row["dataset"]] += 1
                reasons[f"{row['dataset']}/{row['stage']}/{row['reason']}"] += 1
                yield row

    write_jsonl(os.path.join(out, outputs.QUARANTINE), quarantine_rows())
    return quarantined, reasons


def summarize(plan: Plan, shards: Shards, quarantined: Counter, reasons: Counter, duplicate_audio: dict | None = None) -> dict:
    """The run's summary: input, written, quarantined, excluded and samples, overall and per dataset;
    ``balanced`` when input = written + quarantined + excluded everywhere."""
    per_dataset = {}
    for name, count in sorted(plan.inputs.items()):
        per_dataset[name] = {
            "input": count,
            "written": shards.written[name],
            "quarantined": quarantined[name],
            "excluded": plan.excluded.get(name, 0),
            "samples": shards.samples[name],
        }
    summary = {
        "input": sum(plan.inputs.values()),
        "written": sum(shards.written.values()),
        "quarantined": sum(quarantined.values()),
        "excluded": sum(plan.excluded.values()),
        "samples": sum(shards.samples.values()),
        "datasets": per_dataset,
        "quarantine_reasons": dict(sorted(reasons.items())),
        "eval_leaks": plan.overlaps,  # training records kept out as evaluation clips, per "training <- evaluation" corpus pair
        "train_repeats": plan.train_repeats,  # training records sharing an origin with another corpus's, per "a = b" (kept)
        "duplicate_audio": duplicate_audio or {"pairs": {}, "groups": 0, "examples": []},  # bit-identical audio across sets
        "shards": len(shards.entries),
        "seconds": round(sum(s["seconds"] for s in shards.entries), 3),
    }
    summary["balanced"] = all(
        d["input"] == d["written"] + d["quarantined"] + d["excluded"] for d in [summary, *per_dataset.values()]
    )
    return summary


def write_indexes(out: str, shards: Shards) -> list[str]:
    """The statistics (total and per shard), the index of every shard, one per role (train, eval) and a
    wids shard index per set; returns the shard indexes' paths (relative to ``out``)."""
    entries = sorted(shards.entries, key=lambda s: s["path"])
    index = {
        "format": "audioprep-webdataset/1",
        "sample_rate": 16000,
        "shards": [{k: v for k, v in s.items() if k != "stats"} for s in entries],
    }
    write_json(os.path.join(out, outputs.STATS), {"total": shards.stats.to_dict(), "shards": {s["path"]: s["stats"] for s in entries}})
    write_json(os.path.join(out, outputs.INDEX), index)
    for role in ("train", "eval"):  # training and evaluation sets, each with its own index
        role_entries = [s for s in index["shards"] if outputs.role_of_group(s["group"]) == role]
        write_json(os.path.join(out, outputs.role_index_path(role)), {**index, "shards": role_entries})
    groups = sorted({s["group"] for s in index["shards"]})
    for group in groups:  # a wids shard index per set
        write_json(os.path.join(out, outputs.shard_index_path(group)), shard_index(group, index["shards"]))
    return [outputs.shard_index_path(group) for group in groups]


def shard_index(group: str, shards: list[dict]) -> dict:
    """The ``wids`` shard index of one set (``wids-shard-index-v1``): shard URLs relative to the set's folder."""
    return {
        "__kind__": "wids-shard-index-v1",
        "wids_version": 1,
        "name": group,
        "shardlist": [
            {"url": posixpath.relpath(s["path"], group), "nsamples": s["samples"], "filesize": s["bytes"], "sha256": s["sha256"]}
            for s in shards if s["group"] == group
        ],
    }
