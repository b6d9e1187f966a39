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

import os
import shutil
from collections import Counter
from dataclasses import asdict
from typing import Callable

from pipelines.core import failpoints, outputs
from pipelines.core.atomic import write_json
from pipelines.core.config import RunConfig
from pipelines.core.remote import Mirror
from pipelines.ingest.manifest import TaskExecutor, location
from pipelines.ingest.pool import IngestError, ingest_all
from pipelines.plan.model import Plan, PlanError, load_schemas
from pipelines.plan.partition import Partitioned, count_units, partition_records
from pipelines.plan.provenance import describe_change, fingerprint_of, run_provenance
from pipelines.plan.weights import mix_factors


def make_plan(
    config: RunConfig, progress: Callable[[str], None] = lambda _: None, processes: int = 1,
    seen: Callable[[str, int], None] | None = None, run_tasks: TaskExecutor | None = None,
) -> Plan:
    """Ingest, weight and partition, or reuse the plan already in ``config.out`` when it is the same work.

    ``run_tasks``: runs the ingest tasks (on the run's engine: ``pipelines.runners.ingest_executor``);
    without it, ``processes`` processes run them (the run's worker count on one machine) and
    ``seen`` is told how many metadata items each dataset's ingest has read (``ingest_all``)."""
    out = config.local_out
    mirror = Mirror(out, config.remote)
    discard_stale_cache(config, mirror, progress)
    schemas = load_schemas(config)
    provenance = run_provenance(config)
    fingerprint = fingerprint_of(provenance)
    existing = existing_plan(config, mirror, provenance)
    if existing is not None:
        return existing
    counts = ingest_datasets(config, mirror, progress, processes, seen, run_tasks)
    refuse_empty(config, counts)
    provenance["manifests"] = {name: c["fingerprint"] for name, c in sorted(counts.items())}
    dataset_tasks = {spec.name: tuple(sorted({b.task for b in schemas[spec.name].tasks})) for spec in config.datasets}
    factors = mix_factors(
        config,
        {name: c["train_seconds"] for name, c in counts.items()},
        {name: set(tasks) for name, tasks in dataset_tasks.items()},
    )
    units_per_group = count_units(config, expected_records(counts, factors))
    partitioned = partition_records(config, dataset_tasks, factors, units_per_group, progress)
    plan = Plan(
        fingerprint,
        plan_config(config),
        [outputs.unit_id(g, n) for g, count in units_per_group.items() for n in range(count)],
        inputs={name: c["records"] + c["drops"] for name, c in counts.items()},
        ingest_drops={name: c["drops"] for name, c in counts.items()},
        excluded=dict(sorted(partitioned.excluded.items())),
        mix=mix_summary(counts, factors, partitioned),
        overlaps=dict(sorted(partitioned.overlaps.items())),
        provenance=provenance,
        train_repeats=dict(sorted(partitioned.train_repeats.items())),
    )
    write_plan(config, mirror, plan)
    failpoints.hit("after_plan")
    return plan


def discard_stale_cache(config: RunConfig, mirror: Mirror, progress: Callable[[str], None]) -> None:
    """For an s3:// output the bucket is the truth: a local work cache whose plan the bucket does not
    hold (left by a run to another server, or to a bucket emptied since) is discarded, saying so."""
    out = config.local_out
    if config.remote is None or not os.path.exists(outputs.plan_path(out)) or mirror.backed(outputs.plan_path(out)):
        return
    for entry in outputs.RUN_ENTRIES:
        path = os.path.join(out, entry)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    progress(f"discarded the local work cache {out}: {config.remote} does not hold its plan "
             "(it was left by a run to another server, or to a bucket emptied since)")


def existing_plan(config: RunConfig, mirror: Mirror, provenance: dict) -> Plan | None:
    """The plan already in the output (or in the bucket) when it is the same work; PlanError, saying
    what changed, when it was made by other code, configuration or schemas."""
    out = config.local_out
    if not mirror.fetch(outputs.plan_path(out)):
        return None
    existing = Plan.load(out)
    if existing.fingerprint != fingerprint_of(provenance):
        changes = describe_change(existing, provenance, plan_config(config))
        raise PlanError(
            f"{config.out} holds a run that this one cannot resume without mixing outputs: {'; '.join(changes)}. "
            "Write to a new output (folder or s3:// prefix), or give --overwrite to delete a local output and start over"
        )
    return existing


def ingest_datasets(
    config: RunConfig, mirror: Mirror, progress: Callable[[str], None], processes: int,
    seen: Callable[[str, int], None] | None, run_tasks: TaskExecutor | None = None,
) -> dict[str, dict]:
    """Every dataset's manifest and drops (``ingest_all``), reusing what an earlier attempt elsewhere finished."""
    out = config.local_out
    for spec in config.datasets:  # ingest records finished by an earlier attempt elsewhere
        mirror.fetch(outputs.ingest_done_path(out, spec.name))
        mirror.fetch(outputs.manifest_path(out, spec.name))
        mirror.fetch(outputs.ingest_drops_path(out, spec.name))
    try:
        return ingest_all(config, out, progress, processes, seen, run_tasks, config.remote)
    except IngestError as exc:
        raise PlanError(str(exc)) from exc


def refuse_empty(config: RunConfig, counts: dict[str, dict]) -> None:
    """PlanError naming every dataset that yielded no record, unless the run allows it (``allow_empty``)."""
    empty = [spec for spec in config.datasets if counts[spec.name]["records"] == 0 and spec.name not in config.allow_empty]
    if empty:
        listed = "; ".join(
            f"{spec.name} from {spec.root}" + (f" ({counts[spec.name]['drops']} quarantined at ingest, see "
                                               f"{outputs.ingest_drops_path(config.local_out, spec.name)})" if counts[spec.name]["drops"] else "")
            + (f" (splits {', '.join(spec.splits)})" if spec.splits else "")
            for spec in empty
        )
        raise PlanError(
            f"no record from {listed}: check the root, the schema and the splits, or allow an empty corpus "
            f"explicitly (--allow-empty {empty[0].name}, or allow_empty in the run config)"
        )


def expected_records(counts: dict[str, dict], factors: dict[str, float]) -> Counter:
    """Records each shard group is expected to get: training records times their dataset's weighting factor."""
    expected: Counter = Counter()
    for name, c in counts.items():
        for group, n in c["groups"].items():
            expected[group] += n * (factors[name] if group == "train" else 1.0)
    return expected


def mix_summary(counts: dict[str, dict], factors: dict[str, float], partitioned: Partitioned) -> dict:
    """Per dataset: its weighting factor, its available and planned hours and samples, hours per task."""
    return {
        name: {
            "factor": round(factors[name], 6),
            "available_train_hours": round(counts[name]["train_seconds"] / 3600, 4),
            "unknown_durations": counts[name]["unknown_seconds"],
            **{k: v if k.endswith("_samples") else round(v / 3600, 4) for k, v in sorted(partitioned.planned[name].items())},
        }
        for name in counts
    }


def plan_config(config: RunConfig) -> dict:
    """The run's configuration as the plan records it for the workers: roots as locations, no work folder."""
    config_dict = config.to_dict()
    config_dict["datasets"] = [
        {**d, "root": location(d["root"]), "roots": {k: location(v) for k, v in d["roots"].items()}}
        for d in config_dict["datasets"]
    ]
    config_dict["work_dir"] = None  # machine-specific: every machine has its own mirror folder
    return config_dict


def write_plan(config: RunConfig, mirror: Mirror, plan: Plan) -> None:
    """Push the manifests, the drops and the unit inputs to the bucket, then write and push the plan."""
    out = config.local_out
    for spec in config.datasets:
        for path in (outputs.manifest_path(out, spec.name), outputs.ingest_drops_path(out, spec.name), outputs.ingest_done_path(out, spec.name)):
            mirror.push(path)
    mirror.push(outputs.plan_drops_path(out))
    for unit in plan.units:
        if os.path.exists(outputs.unit_input_path(out, unit)):
            mirror.push(outputs.unit_input_path(out, unit))
    write_json(outputs.plan_path(out), asdict(plan))
    mirror.push(outputs.plan_path(out))  # last: a plan in the bucket means everything it names is there
