"""One ingest task run: its slice of the corpus -> a manifest part (records), its drops and its
completion record (``TaskRunner``, what every engine runs, the way it runs a work unit).

The part's files (``outputs.ingest_part_path``) are written under temporary names and renamed; the
completion record comes last and carries the dataset's fingerprint, so a task whose record matches
is skipped on a rerun or an engine's retry. Besides the counts, the record holds the task's edges
for window packing: the recording its first and its last segment belong to (``merge`` checks that
no recording crosses from one task to the next). A task of a dataset whose audio was listed for
its tasks looks its rows' audio up in that listing and writes the keys they used (``used.jsonl``,
one JSON string a line), from which the merge tells the audio files no row used.
"""
from __future__ import annotations

import json
import os
import socket
from collections import Counter
from dataclasses import dataclass, replace
from itertools import islice
from typing import Callable, Iterator

from schemas import loader
from schemas.model import DatasetSchema

from pipelines.core import failpoints, outputs
from pipelines.core.atomic import read_json, write_json, write_jsonl
from pipelines.core.audio import probe_seconds
from pipelines.core.config import DatasetSpec
from pipelines.core.manifest_file import ManifestWriter
from pipelines.core.record import Drop, Record, columns_table
from pipelines.core.remote import Mirror, is_remote
from pipelines.core.sources import local_view
from pipelines.ingest.audio_index import AudioIndex
from pipelines.ingest.batch import BATCH_ROWS as INGEST_BATCH_ROWS
from pipelines.ingest.batch import Mapped
from pipelines.ingest.corpus import ingest_batches
from pipelines.ingest.tasks import IngestTask, StaleListing, TaskList, files_of
from pipelines.ingest.windows import pack_windows, segment_group

#: metadata items between two progress reports of an ingest
REPORT_EVERY = 5000


def write_part(
    schema: DatasetSchema, spec: DatasetSpec, task: IngestTask, out: str, probe_durations: bool = True,
    report: Callable[[int], None] | None = None, index: str | None = None, files: tuple | None = None,
) -> dict:
    """Ingest one task's slice of a dataset into its part (streaming); returns its counts.

    Records of splits the run does not select are skipped (they are not input of this run).
    Counts: ``records``, ``drops``, ``items`` (both, as read), ``groups`` (records per shard group),
    ``train_seconds`` (unrounded), ``unknown_seconds`` and ``edges`` (see the module's docstring).
    ``report`` (optional) is called with the number of items read so far, every ``REPORT_EVERY``
    items and once at the end. ``index``: the dataset's audio index listed for its tasks (see the
    module's docstring). ``files``: the task's listing (``tasks.files_of``; None: everything).
    """
    path = outputs.ingest_part_path(out, task.id, "parquet")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    root = os.path.abspath(spec.root)
    groups: Counter = Counter()
    train_seconds, unknown, seen = 0.0, 0, 0
    edges: list = [None, None]
    temporary = path + ".partial"
    with ManifestWriter(temporary) as writer:
        probe = _prober(spec, root) if probe_durations else None
        cutter = _vad_cutter(spec, root, schema.windows) if schema.windows and schema.windows.long_audio == "vad" else None
        audio = None if index is None else AudioIndex.opened(schema.audio_files, index)
        batches = ingest_batches(schema, spec.name, spec.root, spec.roots, files, task.head, audio)
        if schema.windows is not None:  # long recordings cut into windows: record by record, streaming
            items = _edges_of((item for batch in batches for item in batch.items()), edges)
            batches = _rebatched(pack_windows(items, schema.windows, probe, cutter))

        def drop_rows():
            """Records into the part batch by batch; drops yielded into their JSON lines file (never held)."""
            nonlocal train_seconds, unknown, seen
            for columns, positions, drops in batches:
                if report is not None and (seen + len(positions) + len(drops)) // REPORT_EVERY > seen // REPORT_EVERY:
                    report(seen + len(positions) + len(drops))
                seen += len(positions) + len(drops)
                for _, drop in drops:
                    yield drop.to_row()
                if spec.splits is not None and not set(columns["split"]) <= set(spec.splits):
                    keep = [i for i, split in enumerate(columns["split"]) if split in spec.splits]
                    columns = {name: [column[i] for i in keep] for name, column in columns.items()}
                if not columns["key"]:
                    continue
                if None in columns["seconds"]:
                    columns["seconds"] = [
                        seconds if seconds is not None else _known_seconds(spec, root, probe_durations, columns, i)
                        for i, seconds in enumerate(columns["seconds"])
                    ]
                for role, seconds in zip(columns["role"], columns["seconds"]):
                    if seconds is None:
                        unknown += 1
                    elif role == "train":
                        train_seconds += seconds
                for (role, dataset, split), count in Counter(zip(columns["role"], columns["dataset"], columns["split"])).items():
                    groups[outputs.group_of(role, dataset, split)] += count
                writer.write_table(columns_table(columns))
            if report is not None:
                report(seen)

        drops = write_jsonl(outputs.ingest_part_path(out, task.id, "drops.jsonl"), drop_rows())
    _write_used(outputs.ingest_part_path(out, task.id, "used.jsonl"), audio)
    os.replace(temporary, path)
    return {
        "records": sum(groups.values()), "drops": drops, "items": seen, "groups": dict(sorted(groups.items())),
        "train_seconds": train_seconds, "unknown_seconds": unknown, "edges": edges,
    }


def _write_used(path: str, audio: AudioIndex | None) -> None:
    """The audio keys the task's rows used (none without an index), one JSON string a line (ASCII:
    a name's undecodable bytes kept as escapes)."""
    with open(path + ".partial", "w", encoding="ascii") as handle:
        if audio is not None:
            try:
                for key in audio.used():
                    handle.write(json.dumps(key) + "\n")
            finally:
                audio.close()
    os.replace(path + ".partial", path)


def _edges_of(items: Iterator[Record | Drop], edges: list) -> Iterator[Record | Drop]:
    """``items`` unchanged; ``edges`` set to the recording of the first record and of the last, as
    lists (None where that record is no segment)."""
    first = True
    for item in items:
        if isinstance(item, Record):
            group = segment_group(item)
            edges[1] = None if group is None else list(group)
            if first:
                edges[0], first = edges[1], False
        yield item


def _rebatched(items: Iterator[Record | Drop]) -> Iterator[Mapped]:
    while chunk := list(islice(items, INGEST_BATCH_ROWS)):
        yield Mapped.of_items(chunk)


def _known_seconds(spec: DatasetSpec, root: str, probe_durations: bool, columns: dict[str, list], i: int) -> float | None:
    """Record ``i``'s length without decoding: its duration, else (when probing) its audio header's."""
    if columns["duration"][i] is not None or not probe_durations:
        return columns["duration"][i]
    return probe_seconds(_audio_path(spec, root, columns["audio_root"][i], columns["audio"][i]))


def _audio_path(spec: DatasetSpec, root: str, audio_root: str | None, audio: str) -> str:
    """Where a record's audio file is: under the corpus root, or under the extra root it names."""
    base = root if audio_root is None else os.path.abspath(spec.roots[audio_root])
    return os.path.join(base, audio)


def _prober(spec: DatasetSpec, root: str) -> Callable[[Record], float | None]:
    """Length of a whole-file record from its audio header (windowing needs it before the loop below)."""
    def probe(record: Record) -> float | None:
        return probe_seconds(_audio_path(spec, root, record.audio_root, record.audio))

    return probe


def _vad_cutter(spec: DatasetSpec, root: str, policy) -> Callable[[Record], list]:
    """Windows of a long unannotated speech recording, cut at pauses (decodes it: docs/long-form.md)."""
    from pipelines.ingest.vad import vad_windows

    def cut(record: Record) -> list:
        path = _audio_path(spec, root, record.audio_root, record.audio)
        return vad_windows(path, record, policy.max_seconds, policy.min_seconds)

    return cut


def corpus_view(spec: DatasetSpec) -> DatasetSpec:
    """The dataset with its roots as local folders (an s3:// root seen through ``local_view``)."""
    return replace(spec, root=local_view(spec.root), roots={k: local_view(v) for k, v in spec.roots.items()})


def remote_corpus(spec: DatasetSpec) -> bool:
    return any(is_remote(root) for root in (spec.root, *spec.roots.values()))


@dataclass(frozen=True)
class TaskResult:
    task: str
    records: int
    drops: int
    skipped: bool  # already complete before this call

    def to_dict(self) -> dict:
        return {"task": self.task, "records": self.records, "drops": self.drops, "skipped": self.skipped}


class TaskRunner:
    """Per-worker state (the run's output, its bucket, the tasks files read so far); call it with a
    task id (``outputs.ingest_task_id``). ``report`` (optional) is told the items a task has read."""

    def __init__(self, out: str, remote: str | None = None, report: Callable[[str, int], None] | None = None):
        self.out, self.report = out, report
        self.mirror = Mirror(out, remote)
        self.lists: dict[str, tuple[TaskList, DatasetSchema, DatasetSpec]] = {}

    def _list(self, dataset: str, fresh: bool = False) -> tuple[TaskList, DatasetSchema, DatasetSpec]:
        """The dataset's tasks file (read once; again, from the bucket, when ``fresh``)."""
        held = self.lists.get(dataset)
        if held is None or fresh:
            path = outputs.ingest_tasks_path(self.out, dataset)
            self._fetch(path, fresh)
            listing = TaskList.read(self.out, dataset)
            if listing.audio_index:
                self._fetch(outputs.ingest_audio_index_path(self.out, dataset), fresh)
            held = self.lists[dataset] = (listing, loader.load(listing.spec.schema), corpus_view(listing.spec))
        return held

    def _fetch(self, path: str, fresh: bool) -> None:
        if fresh and self.mirror.uri is not None and os.path.exists(path):
            os.remove(path)  # a copy of an earlier attempt's: the bucket's is the listing
        self.mirror.fetch(path)

    def _files(self, task_id: str, listing: TaskList, fresh: bool = False) -> tuple | None:
        """The task's own listing (None when its dataset is not cut): the only one this worker reads."""
        if not listing.cut:
            return None
        self._fetch(outputs.ingest_task_files_path(self.out, task_id), fresh)
        return tuple(files_of(self.out, task_id, listing.fingerprint))

    def __call__(self, task_id: str) -> TaskResult:
        dataset, number = task_id.rsplit("/", 1)
        listing, schema, view = self._list(dataset)
        try:
            files = self._files(task_id, listing)
        except StaleListing:  # this worker's copies are an earlier attempt's: the bucket's, then
            listing, schema, view = self._list(dataset, fresh=True)
            files = self._files(task_id, listing, fresh=True)
        done = outputs.ingest_part_path(self.out, task_id, "done.json")
        if self.mirror.fetch(done):
            record = read_json(done)
            if record["fingerprint"] == listing.fingerprint:
                return TaskResult(task_id, record["records"], record["drops"], True)
        probe = listing.probe_durations and not remote_corpus(listing.spec)
        report = None if self.report is None else (lambda n: self.report(task_id, n))
        index = outputs.ingest_audio_index_path(self.out, dataset) if listing.audio_index else None
        counts = write_part(schema, view, IngestTask(dataset, int(number)), self.out, probe, report, index, files)
        write_json(done, {"task": task_id, "fingerprint": listing.fingerprint, **counts,
                          "worker": {"host": socket.gethostname(), "pid": os.getpid()}})
        for suffix in outputs.PART_FILES:  # the completion record last: it means the others are there
            self.mirror.push(outputs.ingest_part_path(self.out, task_id, suffix))
        failpoints.hit("ingest_task_done")
        return TaskResult(task_id, counts["records"], counts["drops"], False)
