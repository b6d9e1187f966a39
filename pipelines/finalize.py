"""Finish a run: merge the units' completion records into the index, the quarantine and the summary.

Reads only small JSON records (never audio), in sorted unit order, so the result is the same
whatever engine ran the units and in whatever order they finished.
"""
from __future__ import annotations

import os
from collections import Counter

from . import outputs
from .accounting import Counters
from .atomic import read_json, read_jsonl, write_json, write_jsonl
from .plan import Plan


class IncompleteRun(RuntimeError):
    pass


def finalize(out: str) -> dict:
    plan = Plan.load(out)
    missing = [u for u in plan.units if not os.path.exists(outputs.unit_done_path(out, u))]
    if missing:
        raise IncompleteRun(f"{len(missing)} work unit(s) not finished (first: {missing[0]}); rerun to resume")
    shards, quarantine = [], []
    written: Counter = Counter()
    stats = Counters()
    for spec in plan.config["datasets"]:
        quarantine.extend(read_jsonl(outputs.ingest_drops_path(out, spec["name"])))
    for unit in plan.units:
        done = read_json(outputs.unit_done_path(out, unit))
        shards.extend(done["shards"])
        quarantine.extend(done["quarantine"])
        for shard in done["shards"]:
            shard_stats = Counters(shard["stats"])
            stats = stats + shard_stats
            written.update({k: int(v) for k, v in shard_stats.get("samples_by_dataset").items()})
    quarantined = Counter(row["dataset"] for row in quarantine)
    reasons = Counter(f"{row['dataset']}/{row['stage']}/{row['reason']}" for row in quarantine)
    per_dataset = {}
    for name, count in sorted(plan.inputs.items()):
        per_dataset[name] = {"input": count, "written": written[name], "quarantined": quarantined[name]}
    summary = {
        "input": sum(plan.inputs.values()),
        "written": sum(written.values()),
        "quarantined": len(quarantine),
        "datasets": per_dataset,
        "quarantine_reasons": dict(sorted(reasons.items())),
        "shards": len(shards),
        "seconds": round(sum(s["seconds"] for s in shards), 3),
    }
    summary["balanced"] = summary["input"] == summary["written"] + summary["quarantined"] and all(
        d["input"] == d["written"] + d["quarantined"] for d in per_dataset.values()
    )
    shards.sort(key=lambda s: s["path"])
    index = {
        "format": "audioprep-webdataset/1",
        "sample_rate": 16000,
        "shards": [{k: v for k, v in s.items() if k != "stats"} for s in shards],
    }
    write_jsonl(os.path.join(out, outputs.QUARANTINE), quarantine)
    write_json(os.path.join(out, outputs.STATS), {"total": stats.to_dict(), "shards": {s["path"]: s["stats"] for s in shards}})
    write_json(os.path.join(out, outputs.INDEX), index)
    write_json(os.path.join(out, outputs.SUMMARY), summary)
    return summary
