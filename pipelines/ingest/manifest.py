"""A dataset ingested into its Parquet manifest (and its drops) through its ingest tasks, and the
manifest read back.

The driver lists the dataset's tasks (``tasks.list_tasks``, written for the workers), has them run
(``TaskExecutor``: an engine's workers, a process pool, or this process), then merges their parts
(``merge.merge_parts``) and writes the dataset's completion record. Each step is resumable: a
complete dataset is skipped, the listing of an earlier attempt is reused, a finished task is not run
again (its part's completion record).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Callable

import pyarrow.parquet as pq

from schemas import loader

from pipelines.core import failpoints, outputs
from pipelines.core.atomic import read_json, write_json
from pipelines.core.config import DatasetSpec
from pipelines.core.fingerprint import INGEST_SOURCES, code_identity
from pipelines.core.record import Record
from pipelines.core.remote import Mirror, is_remote
from pipelines.ingest.audio_index import write_index
from pipelines.ingest.corpus import audio_root, check_root, resolve_roots
from pipelines.ingest.merge import coalesce, crossing, merge_parts
from pipelines.ingest.part import TaskRunner, corpus_view
from pipelines.ingest.tasks import TaskList, list_tasks

BATCH_ROWS = 4096

#: runs ingest tasks (``part.TaskRunner`` over task ids) and returns once every one has its part
TaskExecutor = Callable[[list[str]], None]


def in_process(out: str, report: Callable[[str, int], None] | None = None) -> TaskExecutor:
    """Ingest tasks run one after another in this process (``report``: see ``TaskRunner``)."""
    runner = TaskRunner(out, None, report)

    def run(tasks: list[str]) -> None:
        for task in tasks:
            runner(task)

    return run


def start_dataset(spec: DatasetSpec, out: str, probe_durations: bool = True, mirror: Mirror | None = None) -> dict | TaskList:
    """The dataset's completion record when its manifest is complete for the same schema, root and
    code; else its tasks (an earlier attempt's listing when it was of the same work), written and
    pushed for the workers. A missing root is refused here, before any task runs."""
    mirror = mirror or Mirror(out)
    schema = loader.load(spec.schema)
    fingerprint = _dataset_fingerprint(spec, probe_durations)
    done_path = outputs.ingest_done_path(out, spec.name)
    if os.path.exists(done_path):
        done = read_json(done_path)
        if done["fingerprint"] == fingerprint and os.path.exists(outputs.manifest_path(out, spec.name)):
            return done
    tasks_path = outputs.ingest_tasks_path(out, spec.name)
    if mirror.fetch(tasks_path):
        listing = TaskList.read(out, spec.name)
        if listing.fingerprint == fingerprint:
            return listing
    view = corpus_view(spec)
    check_root(spec.name, view.root)
    extra = resolve_roots(schema, spec.name, view.roots)
    shutil.rmtree(os.path.dirname(tasks_path), ignore_errors=True)  # parts of other work
    tasks = tuple(list_tasks(schema, spec.name, view.root, out, fingerprint))
    for task in tasks:  # each task's listing, for the worker that runs it
        if task.files is not None:
            mirror.push(outputs.ingest_task_files_path(out, task.id))
    indexed = schema.audio_files is not None and len(tasks) > 1  # one task lists the audio itself
    if indexed:  # listed once here, for every task, before the listing that names it
        index = outputs.ingest_audio_index_path(out, spec.name)
        os.makedirs(os.path.dirname(index), exist_ok=True)
        mirror.push(write_index(schema.audio_files, audio_root(schema, os.path.abspath(view.root), extra), index))
    listing = TaskList(spec, fingerprint, probe_durations, tasks, indexed)
    mirror.push(listing.write(out))
    return listing


def pending_tasks(listing: TaskList, out: str, mirror: Mirror | None = None) -> list[str]:
    """The dataset's tasks whose part is not complete for this work."""
    mirror = mirror or Mirror(out)
    todo = []
    for task in listing.tasks:
        done = outputs.ingest_part_path(out, task.id, "done.json")
        if not (mirror.fetch(done) and read_json(done)["fingerprint"] == listing.fingerprint):
            todo.append(task.id)
    return todo


def finish_dataset(listing: TaskList, out: str, run_tasks: TaskExecutor, mirror: Mirror | None = None) -> dict:
    """Once every task has its part: the tasks a recording crosses made one and run again
    (``merge.coalesce``), the parts merged into the manifest, the completion record written; for an
    ``s3://`` output the manifest, its drops and the record pushed, and only then the dataset's
    ``_work/ingest/NAME/`` folder removed from the bucket as from the work folder (a crash between
    leaves a finished dataset and its parts, never parts gone before the manifest is there)."""
    mirror = mirror or Mirror(out)
    _fetch_parts(listing, out, mirror)
    if listing.audio_index:
        mirror.fetch(outputs.ingest_audio_index_path(out, listing.spec.name))
    runs = crossing([read_json(outputs.ingest_part_path(out, task.id, "done.json")) for task in listing.tasks])
    if runs:
        for i in (i for run in runs for i in run):  # an earlier attempt's listings, on another machine
            mirror.fetch(outputs.ingest_task_files_path(out, listing.tasks[i].id))
        listing, again = coalesce(listing, runs, out)
        for task in again:
            mirror.push(outputs.ingest_task_files_path(out, task.id))
        mirror.push(listing.write(out))
        run_tasks([task.id for task in again])
        _fetch_parts(listing, out, mirror)
    counts = merge_parts(listing, out)
    name = listing.spec.name
    done = {"dataset": name, "fingerprint": listing.fingerprint, **counts}
    write_json(outputs.ingest_done_path(out, name), done)
    for path in (outputs.manifest_path(out, name), outputs.ingest_drops_path(out, name), outputs.ingest_done_path(out, name)):
        mirror.push(path)  # the completion record last: a rerun finds the dataset done in the bucket
    folder = os.path.dirname(outputs.ingest_tasks_path(out, name))
    mirror.remove_tree(os.path.relpath(folder, mirror.local))  # the parts, listings and tasks file, merged
    shutil.rmtree(folder, ignore_errors=True)
    failpoints.hit("dataset_ingested")
    return done


def _fetch_parts(listing: TaskList, out: str, mirror: Mirror) -> None:
    """The parts the workers pushed to the bucket (nothing to do for a local output)."""
    for task in listing.tasks:
        for suffix in outputs.PART_FILES:
            path = outputs.ingest_part_path(out, task.id, suffix)
            if not mirror.fetch(path):
                raise FileNotFoundError(f"ingest task {task.id} finished without its part {path}")


def ingest_dataset(
    spec: DatasetSpec, out: str, probe_durations: bool = True, report: Callable[[int], None] | None = None,
    run_tasks: TaskExecutor | None = None, remote: str | None = None,
) -> dict:
    """Ingest one dataset unless its manifest is already complete for the same schema and root.

    Idempotent and safe to retry (an orchestrator maps this over the datasets of a run). The tasks
    run on ``run_tasks`` (an engine's workers; default: this process, telling ``report`` how many
    metadata items were read so far). ``remote``: the bucket parts pass through, when the workers are
    other machines."""
    mirror = Mirror(out, remote)
    started = start_dataset(spec, out, probe_durations, mirror)
    if isinstance(started, dict):
        return started
    if run_tasks is None:
        finished: dict[str, int] = {}

        def told(task: str, seen: int) -> None:
            finished[task] = seen
            report(sum(finished.values()))

        run_tasks = in_process(out, None if report is None else told)
    run_tasks(pending_tasks(started, out, mirror))
    return finish_dataset(started, out, run_tasks, mirror)


def _dataset_fingerprint(spec: DatasetSpec, probe_durations: bool) -> str:
    """What shaped a manifest: the dataset's name, roots, splits, schema text, ingest code and version."""
    text = loader.resolve(spec.schema).read_text(encoding="utf-8")
    extra = {name: location(path) for name, path in sorted(spec.roots.items())}
    code = code_identity(INGEST_SOURCES)
    payload = json.dumps([spec.name, location(spec.root), spec.splits, probe_durations, text, extra, code["version"], code["code"]])
    return hashlib.sha256(payload.encode()).hexdigest()


def location(root: str) -> str:
    """A root as the plan records it: an absolute folder, or the URI as given."""
    return root if is_remote(root) else os.path.abspath(root)


def iter_manifest(path: str):
    for _, record in iter_manifest_rows(path):
        yield record


def iter_manifest_rows(path: str):
    """(manifest row, its record) for every row of a manifest, streamed in batches."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            yield row, Record.from_row(row)
