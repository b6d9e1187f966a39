"""A dataset's manifest parts -> its manifest and its drops file, in task order.

The tasks are contiguous slices of the reader's sorted listing, so their parts laid end to end are
the dataset's records and drops in the reader's order: the manifest takes each part's rows, written
again in row groups of the fixed size every manifest has (``manifest_file``), so its bytes are those
of one task reading all; the drops file takes each part's lines. A dataset of one task has its part
renamed, nothing rewritten. Whatever engine ran the tasks, on however many workers, the listing and
so the bytes are the same.

Window packing gathers the consecutive segments of a recording. A recording whose segments cross
from one task into the next (the last segment of one, the first of the next: the parts' ``edges``)
would be packed as two; ``coalesce`` makes those tasks one and they are run again, before any merge.

A dataset whose audio was listed for its tasks (``audio_files``: ``TaskList.audio_index``) has the
audio files no task's rows used told here, once, after every part's drops (``audio_without_metadata``,
in the order a single reader tells them): the index file is opened again and marked with the keys
each part used, so the merge holds no more of it in memory than a task does.
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Iterator

import pyarrow.parquet as pq

from schemas import loader

from pipelines.core import outputs
from pipelines.core.atomic import jsonl_line, read_json
from pipelines.core.manifest_file import ManifestWriter
from pipelines.ingest.audio_index import AudioIndex
from pipelines.ingest.layouts import ranges
from pipelines.ingest.tasks import IngestTask, TaskList, files_of, write_files


def crossing(records: list[dict]) -> list[list[int]]:
    """Runs (by position) of adjacent tasks that a recording's segments cross; empty when none does."""
    runs: list[list[int]] = []
    for i in range(1, len(records)):
        last, first = records[i - 1]["edges"][1], records[i]["edges"][0]
        if last is not None and last == first:
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i - 1, i])
    return runs


def coalesce(listing: TaskList, runs: list[list[int]], out: str) -> tuple[TaskList, list[IngestTask]]:
    """The listing with each run of tasks made one new task (numbered after every existing one, its
    listing the run's listings laid end to end, streamed, adjacent ranges of a file made one), and
    those new tasks."""
    tasks = list(listing.tasks)
    number = max(task.number for task in tasks) + 1
    merged: dict[int, IngestTask] = {}
    for run in runs:
        task = IngestTask(listing.spec.name, number)
        files = ranges.joined(entry for i in run for entry in files_of(out, tasks[i].id, listing.fingerprint))
        merged[run[0]] = replace(task, files=write_files(out, task.id, listing.fingerprint, files))
        number += 1
    gone = {i for run in runs for i in run[1:]}
    kept = tuple(merged.get(i, task) for i, task in enumerate(tasks) if i not in gone)
    return replace(listing, tasks=kept), list(merged.values())


def merge_parts(listing: TaskList, out: str) -> dict:
    """The dataset's manifest and drops file from its parts (all complete), the parts removed; returns
    the dataset's counts: ``records``, ``drops``, ``groups``, ``train_seconds``, ``unknown_seconds``."""
    name = listing.spec.name
    ids = [task.id for task in listing.tasks]
    records = [read_json(outputs.ingest_part_path(out, task, "done.json")) for task in ids]
    manifest, drops = outputs.manifest_path(out, name), outputs.ingest_drops_path(out, name)
    os.makedirs(os.path.dirname(manifest), exist_ok=True)
    os.makedirs(os.path.dirname(drops), exist_ok=True)
    orphans = 0
    if len(ids) == 1 and not listing.audio_index:
        os.replace(outputs.ingest_part_path(out, ids[0], "parquet"), manifest)
        os.replace(outputs.ingest_part_path(out, ids[0], "drops.jsonl"), drops)
    else:
        orphans = _concatenate(ids, out, manifest, drops, _orphan_lines(listing, out) if listing.audio_index else iter(()))
    groups: dict[str, int] = {}
    for record in records:
        for group, count in record["groups"].items():
            groups[group] = groups.get(group, 0) + count
    for task in ids:
        for suffix in outputs.PART_FILES:
            path = outputs.ingest_part_path(out, task, suffix)
            if os.path.exists(path):
                os.remove(path)
    return {
        "records": sum(r["records"] for r in records),
        "drops": sum(r["drops"] for r in records) + orphans,
        "groups": dict(sorted(groups.items())),
        "train_seconds": round(sum(r["train_seconds"] for r in records), 3),
        "unknown_seconds": sum(r["unknown_seconds"] for r in records),
    }


def _orphan_lines(listing: TaskList, out: str) -> Iterator[str]:
    """The drops of the audio files no part's rows used, as lines of the drops file."""
    schema = loader.load(listing.spec.schema)
    audio = AudioIndex.opened(schema.audio_files, outputs.ingest_audio_index_path(out, listing.spec.name))
    try:
        for task in listing.tasks:
            with open(outputs.ingest_part_path(out, task.id, "used.jsonl"), encoding="ascii") as handle:
                for line in handle:
                    audio.files.mark(json.loads(line))
        for drop in audio.orphans(listing.spec.name):
            yield jsonl_line(drop.to_row())
    finally:
        audio.close()


def _concatenate(ids: list[str], out: str, manifest: str, drops: str, after: Iterator[str]) -> int:
    """The parts' rows into the manifest (re-grouped) and their drops into the drops file, in task order,
    then the lines ``after`` (how many is returned), each under a temporary name renamed when complete."""
    temporary = manifest + ".partial"
    with ManifestWriter(temporary) as writer:
        for task in ids:
            with pq.ParquetFile(outputs.ingest_part_path(out, task, "parquet")) as part:
                for group in range(part.num_row_groups):
                    writer.write_table(part.read_row_group(group))
    partial = drops + ".partial"
    with open(partial, "wb") as target:
        for task in ids:
            with open(outputs.ingest_part_path(out, task, "drops.jsonl"), "rb") as source:
                while chunk := source.read(1 << 20):
                    target.write(chunk)
        told = 0
        for line in after:
            target.write(line.encode("utf-8"))
            told += 1
    os.replace(temporary, manifest)
    os.replace(partial, drops)
    return told
