"""Finish a run: merge the units' completion records into the index, the quarantine and the summary.

Reads only small JSON records (never audio), in sorted unit order, so the result is the same
whatever engine ran the units and in whatever order they finished.
"""
from __future__ import annotations

import os
import posixpath
from collections import Counter

from pipelines.core import failpoints, outputs
from pipelines.prepare.accounting import Counters
from pipelines.core.atomic import read_json, read_jsonl, write_json, write_jsonl
from pipelines.plan.model import Plan
from pipelines.core.remote import Mirror


class IncompleteRun(RuntimeError):
    pass


def finalize(out: str, remote: str | None = None) -> dict:
    mirror = Mirror(out, remote)
    mirror.fetch(outputs.plan_path(out))
    plan = Plan.load(out)
    missing = [u for u in plan.units if not mirror.fetch(outputs.unit_done_path(out, u))]
    if missing:
        raise IncompleteRun(f"{len(missing)} work unit(s) not finished (first: {missing[0]}); rerun to resume")
    shards = []
    written: Counter = Counter()  # input records with a sample in the shards
    samples: Counter = Counter()  # samples in the shards (repeats made by weighting included)
    stats = Counters()
    for spec in plan.config["datasets"]:
        mirror.fetch(outputs.ingest_drops_path(out, spec["name"]))
    has_plan_drops = mirror.fetch(outputs.plan_drops_path(out))  # duplicates (pipelines/duplicates.py)
    for unit in plan.units:
        done = read_json(outputs.unit_done_path(out, unit))
        shards.extend(done["shards"])
        for shard in done["shards"]:
            shard_stats = Counters(shard["stats"])
            stats += shard_stats
            written.update({k: int(v) for k, v in shard_stats.get("records_by_dataset").items()})
            samples.update({k: int(v) for k, v in shard_stats.get("samples_by_dataset").items()})

    quarantined: Counter = Counter()
    reasons: Counter = Counter()

    def quarantine_rows():
        """Every refused record, streamed (never all in memory): ingest, planning, then each unit."""
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
    failpoints.hit("before_index")
    per_dataset = {}
    for name, count in sorted(plan.inputs.items()):
        per_dataset[name] = {
            "input": count,
            "written": written[name],
            "quarantined": quarantined[name],
            "excluded": plan.excluded.get(name, 0),
            "samples": samples[name],
        }
    summary = {
        "input": sum(plan.inputs.values()),
        "written": sum(written.values()),
        "quarantined": sum(quarantined.values()),
        "excluded": sum(plan.excluded.values()),
        "samples": sum(samples.values()),
        "datasets": per_dataset,
        "quarantine_reasons": dict(sorted(reasons.items())),
        "shards": len(shards),
        "seconds": round(sum(s["seconds"] for s in shards), 3),
    }
    summary["balanced"] = all(
        d["input"] == d["written"] + d["quarantined"] + d["excluded"] for d in [summary, *per_dataset.values()]
    )
    shards.sort(key=lambda s: s["path"])
    index = {
        "format": "audioprep-webdataset/1",
        "sample_rate": 16000,
        "shards": [{k: v for k, v in s.items() if k != "stats"} for s in shards],
    }
    write_json(os.path.join(out, outputs.STATS), {"total": stats.to_dict(), "shards": {s["path"]: s["stats"] for s in shards}})
    write_json(os.path.join(out, outputs.INDEX), index)
    for role in ("train", "eval"):  # training and evaluation sets, each with its own index
        entries = [s for s in index["shards"] if outputs.role_of_group(s["group"]) == role]
        write_json(os.path.join(out, outputs.role_index_path(role)), {**index, "shards": entries})
    published = [outputs.QUARANTINE, outputs.STATS, outputs.role_index_path("train"), outputs.role_index_path("eval"), outputs.INDEX, outputs.SUMMARY]
    for group in sorted({s["group"] for s in index["shards"]}):  # a wids shard index per set
        write_json(os.path.join(out, outputs.shard_index_path(group)), shard_index(group, index["shards"]))
        published.insert(0, outputs.shard_index_path(group))
    write_json(os.path.join(out, outputs.SUMMARY), summary)
    for name in published:  # the summary last: its presence in the bucket means the run is complete
        mirror.push(os.path.join(out, name))
    return summary


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
