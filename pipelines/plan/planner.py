"""Plan a run: ingest every dataset into its manifest, weight the corpora, cut records into work units.

Everything streams. Ingest writes each dataset's Parquet manifest in row batches (with durations
from the corpus or the audio headers, never by decoding). Weighting (caps, repeats, temperature over
corpus hours; training data only) decides for every record, from a hash of its key, how many copies
go into the mix. Partitioning puts every copy into a work unit of its shard group by jump consistent
hashing of its seeded key hash, appending to that unit's input file through small buffers. A unit is
the grain of parallelism, of resumption and of shard naming: the output does not depend on the
engine or on the number of workers, and adding a corpus moves few records between units.
"""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import asdict
from typing import Callable

from pipelines.core import failpoints, outputs
from pipelines.core.atomic import write_json, write_jsonl
from pipelines.core.config import RunConfig
from pipelines.core.keys import jump_bucket, order_key
from pipelines.core.remote import Mirror
from pipelines.ingest.manifest import iter_manifest, iter_manifest_rows, location
from pipelines.ingest.pool import IngestError, ingest_all
from pipelines.plan.duplicates import Duplicates
from pipelines.plan.model import Plan, PlanError, load_schemas, schema_texts
from pipelines.plan.partition import UnitFiles, count_units
from pipelines.plan.weights import copies_of, mix_factors


def make_plan(
    config: RunConfig, progress: Callable[[str], None] = lambda _: None, processes: int = 1,
    seen: Callable[[str, int], None] | None = None,
) -> Plan:
    """Ingest, weight and partition, or reuse the plan already in ``config.out`` when it is the same work.

    ``processes``: how many datasets are ingested at once (the run's worker count on one machine);
    ``seen``: told how many metadata items each dataset's ingest has read (``ingest_all``)."""
    out = config.local_out
    mirror = Mirror(out, config.remote)
    schemas = load_schemas(config)
    fingerprint = config.fingerprint(schema_texts(config))
    if mirror.fetch(outputs.plan_path(out)):
        existing = Plan.load(out)
        if existing.fingerprint != fingerprint:
            raise PlanError(
                f"{out} holds a run with a different configuration or schemas; "
                "use a new output folder, or --overwrite to start over"
            )
        return existing
    for spec in config.datasets:  # ingest records finished by an earlier attempt elsewhere
        mirror.fetch(outputs.ingest_done_path(out, spec.name))
        mirror.fetch(outputs.manifest_path(out, spec.name))
        mirror.fetch(outputs.ingest_drops_path(out, spec.name))
    try:
        counts = ingest_all(config, out, progress, processes, seen)
    except IngestError as exc:
        raise PlanError(str(exc)) from exc
    factors = mix_factors(
        config,
        {name: c["train_seconds"] for name, c in counts.items()},
        {spec.name: {binding.task for binding in schemas[spec.name].tasks} for spec in config.datasets},
    )
    expected: Counter = Counter()
    for name, c in counts.items():
        for group, n in c["groups"].items():
            expected[group] += n * (factors[name] if group == "train" else 1.0)
    units_per_group = count_units(config, expected)

    progress("partition records into work units")
    units_dir = os.path.dirname(outputs.unit_input_path(out, "x"))
    shutil.rmtree(units_dir, ignore_errors=True)  # leftovers of a planning that did not finish
    os.makedirs(units_dir)
    files = UnitFiles(out)
    excluded: Counter = Counter()
    planned = {name: Counter({"train_hours": 0.0, "train_samples": 0, "eval_hours": 0.0, "eval_samples": 0}) for name in counts}
    progress("look for duplicates within and across corpora")
    with Duplicates(
        {s.name: {None: location(s.root), **{k: location(v) for k, v in s.roots.items()}} for s in config.datasets},
        {s.name: tuple(sorted({b.task for b in schemas[s.name].tasks})) for s in config.datasets},
        scratch=os.path.join(out, outputs.WORK),
    ) as duplicates:
        duplicates.find((s.name, r) for s in config.datasets for r in iter_manifest(outputs.manifest_path(out, s.name)))
        plan_drops: list[dict] = []
        for spec in config.datasets:
            tasks = sorted({binding.task for binding in schemas[spec.name].tasks})
            for row, record in iter_manifest_rows(outputs.manifest_path(out, spec.name)):
                duplicate = duplicates.check(spec.name, record)
                if duplicate is not None:  # quarantined by the plan: the first occurrence is kept
                    plan_drops.append(duplicate.to_row())
                    continue
                group = outputs.group_of(record.role, record.dataset, record.split)
                n = 1 if record.role != "train" else copies_of(factors[spec.name], config.seed, record.key)
                if n == 0:
                    excluded[spec.name] += 1
                    continue
                seconds = (record.seconds or 0.0) * n
                planned[spec.name][f"{record.role}_hours"] += seconds
                planned[spec.name][f"{record.role}_samples"] += n
                for task in tasks:
                    planned[spec.name][f"task:{task}"] += seconds
                for copy in range(n):
                    # the record itself as its manifest row was read (the same JSON as its to_row()); repeats renamed
                    item = row if copy == 0 else {**row, "key": f"{record.key}-r{copy}", "copy": copy}
                    rank = order_key(config.seed, item["key"])
                    unit = outputs.unit_id(group, jump_bucket(int(rank, 16), units_per_group[group]))
                    files.add(unit, json.dumps({"order": rank, "record": item}, ensure_ascii=False) + "\n")
    files.close()
    write_jsonl(outputs.plan_drops_path(out), plan_drops)
    units = [outputs.unit_id(g, n) for g, count in units_per_group.items() for n in range(count)]
    mix = {
        name: {
            "factor": round(factors[name], 6),
            "available_train_hours": round(counts[name]["train_seconds"] / 3600, 4),
            "unknown_durations": counts[name]["unknown_seconds"],
            **{k: v if k.endswith("_samples") else round(v / 3600, 4) for k, v in sorted(planned[name].items())},
        }
        for name in counts
    }
    config_dict = asdict(config)
    config_dict["datasets"] = [
        {**d, "root": location(d["root"]), "roots": {k: location(v) for k, v in d["roots"].items()}}
        for d in config_dict["datasets"]
    ]
    config_dict["work_dir"] = None  # machine-specific: every machine has its own mirror folder
    plan = Plan(
        fingerprint,
        config_dict,
        units,
        inputs={name: c["records"] + c["drops"] for name, c in counts.items()},
        ingest_drops={name: c["drops"] for name, c in counts.items()},
        excluded=dict(sorted(excluded.items())),
        mix=mix,
    )
    for spec in config.datasets:
        for path in (outputs.manifest_path(out, spec.name), outputs.ingest_drops_path(out, spec.name), outputs.ingest_done_path(out, spec.name)):
            mirror.push(path)
    mirror.push(outputs.plan_drops_path(out))
    for unit in units:
        if os.path.exists(outputs.unit_input_path(out, unit)):
            mirror.push(outputs.unit_input_path(out, unit))
    write_json(outputs.plan_path(out), asdict(plan))
    mirror.push(outputs.plan_path(out))  # last: a plan in the bucket means everything it names is there
    failpoints.hit("after_plan")
    return plan
