"""Every path of a run's output, built in one place; writers and readers both call these.

```
OUT/
  index.json             every shard: path, group, samples, bytes, seconds, sha256
  train/index.json       the training shards only; eval/index.json the evaluation shards only
  train/shardindex.json  each set's shards as wids opens them (also eval/NAME/SPLIT/shardindex.json)
  summary.json           input = written + quarantined + excluded by weighting, overall and per dataset
  quarantine.jsonl       one row per refused record: dataset, key, source, stage, reason, detail
  manifests/NAME.parquet the canonical records of each dataset (Arrow schema: pipelines.core.record)
  train/shard-UUUUU-PPP.tar                 training shards, all corpora mixed
  eval/NAME/SPLIT/shard-UUUUU-PPP.tar       evaluation shards, one set per dataset and split
  _work/                 plan, unit inputs and completion records (what a rerun resumes from)
  _work/engine.log       what the engine printed (Beam's and Ray's notices and logs, Ray's daemons)
```
"""
from __future__ import annotations

import os
import re

_SAFE = re.compile(r"[^A-Za-z0-9_-]+")

INDEX = "index.json"
SUMMARY = "summary.json"
QUARANTINE = "quarantine.jsonl"
STATS = "stats.json"
SHARD_INDEX = "shardindex.json"
WORK = "_work"


def safe_name(text: str) -> str:
    return _SAFE.sub("_", text).strip("_") or "_"


def group_of(role: str, dataset: str, split: str) -> str:
    """Shard group of a record: all training data together, each evaluation split on its own."""
    return "train" if role == "train" else f"eval/{safe_name(dataset)}/{safe_name(split)}"


def role_of_group(group: str) -> str:
    return "train" if group == "train" else "eval"


def role_index_path(role: str) -> str:
    """The index of one role's shards (relative to OUT); paths inside stay relative to OUT."""
    return f"{role}/{INDEX}"


def shard_index_path(group: str) -> str:
    """A set's ``wids`` shard index (``wids.ShardListDataset`` opens it): ``train/shardindex.json``,
    ``eval/NAME/SPLIT/shardindex.json``, relative to OUT; the shard URLs inside are relative to its folder."""
    return f"{group}/{SHARD_INDEX}"


def unit_id(group: str, number: int) -> str:
    return f"{group.replace('/', '.')}.{number:05d}"


def group_of_unit(unit: str) -> str:
    return unit.rsplit(".", 1)[0].replace(".", "/")


def shard_relpath(unit: str, part: int) -> str:
    group, number = unit.rsplit(".", 1)
    return f"{group.replace('.', '/')}/shard-{number}-{part:03d}.tar"


def partial_path(final: str) -> str:
    """Where a shard is written until it is complete (then renamed to ``final``)."""
    directory, name = os.path.split(final)
    return os.path.join(directory, f".{name}.partial")


def manifest_path(out: str, dataset: str) -> str:
    return os.path.join(out, "manifests", f"{dataset}.parquet")


def ingest_drops_path(out: str, dataset: str) -> str:
    return os.path.join(out, WORK, "ingest", f"{dataset}.drops.jsonl")


def ingest_progress_path(out: str, task: str) -> str:
    """How many metadata items an ingest task running in another process has read so far (for the progress bar)."""
    return os.path.join(out, WORK, "ingest", f"{task}.progress")


def ingest_done_path(out: str, dataset: str) -> str:
    return os.path.join(out, WORK, "ingest", f"{dataset}.done.json")


def ingest_tasks_path(out: str, dataset: str) -> str:
    """A dataset's ingest tasks (``pipelines.ingest.tasks``), listed by the driver for the workers (what
    each reads: ``ingest_task_files_path``)."""
    return os.path.join(out, WORK, "ingest", dataset, "tasks.json")


def ingest_task_files_path(out: str, task: str) -> str:
    """The files one ingest task reads (``pipelines.ingest.tasks.write_files``), beside the tasks listing."""
    dataset, number = task.rsplit("/", 1)
    return os.path.join(out, WORK, "ingest", dataset, f"files-{number}.jsonl")


def ingest_task_id(dataset: str, number: int) -> str:
    return f"{dataset}/{number:05d}"


def ingest_audio_index_path(out: str, dataset: str) -> str:
    """A dataset's audio files by key (``audio_files``), listed once by the driver for its ingest tasks."""
    return os.path.join(out, WORK, "ingest", dataset, "audio.sqlite")


#: the files of an ingest task's part: its records, its drops, the audio keys its rows used (one JSON
#: string a line; empty without an audio index), its completion record (written last)
PART_FILES = ("parquet", "drops.jsonl", "used.jsonl", "done.json")


def ingest_part_path(out: str, task: str, suffix: str) -> str:
    """One file (``PART_FILES``) of the manifest part an ingest task writes, merged by the driver in task order."""
    dataset, number = task.rsplit("/", 1)
    return os.path.join(out, WORK, "ingest", dataset, f"part-{number}.{suffix}")


def plan_path(out: str) -> str:
    return os.path.join(out, WORK, "plan.json")


def plan_drops_path(out: str) -> str:
    """Records the plan quarantined (duplicates within and across corpora: pipelines/plan/duplicates.py)."""
    return os.path.join(out, WORK, "plan.drops.jsonl")


def unit_input_path(out: str, unit: str) -> str:
    return os.path.join(out, WORK, "units", f"{unit}.jsonl")


def unit_done_path(out: str, unit: str) -> str:
    return os.path.join(out, WORK, "done", f"{unit}.json")


def engine_log_path(out: str) -> str:
    """The output of the engine's own processes during the last runs (appended), kept out of the terminal."""
    return os.path.join(out, WORK, "engine.log")


# Orchestrated runs (pipelines.workflow, pipelines.finalize.publish)
REPORT = "report.json"
REPORT_HTML = "report.html"
COMPLETE = "complete.json"

#: everything a run writes at the top of its output folder (what discarding a stale s3:// work cache removes)
RUN_ENTRIES = (WORK, "manifests", "train", "eval", INDEX, SUMMARY, QUARANTINE, STATS, REPORT, REPORT_HTML, COMPLETE)


def corpus_status_path(out: str, dataset: str) -> str:
    """What became of one corpus in an orchestrated run: per step (validate, ingest), ok or the error."""
    return os.path.join(out, WORK, "corpora", f"{dataset}.json")


def corpora_path(out: str) -> str:
    """The corpora an orchestrated run was asked for, those it planned with and those that failed."""
    return os.path.join(out, WORK, "corpora.json")


def finalized_path(out: str) -> str:
    """Digest of the plan and unit records that the index and summary were last built from."""
    return os.path.join(out, WORK, "finalized.json")
