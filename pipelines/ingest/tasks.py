"""Ingest tasks: a dataset's ingest cut into pieces that an engine's workers run side by side.

A task is a contiguous slice, in the reader's sorted order, of the metadata files the schema's
layout pattern matches (``lines``, ``table``, ``json``: ``readers.FILE_SLICES``), closed once its
files reach ``TASK_BYTES`` (their sizes come from the same listing, so listing the tasks on the
driver costs one walk of the metadata tree and no read), or of the audio files of a folder-per-label
corpus (``files``: ``readers.AUDIO_SLICES``), closed at ``TASK_FILES`` files (each may have its
header probed or be VAD-cut, the work many workers are for). A metadata file larger than
``TASK_BYTES`` whose records are lines (``lines``; a ``table`` without quotes or escapes, in an
encoding such as UTF-8: ``ranges.cuttable``) is cut into line-aligned byte ranges of about that size
(``ranges.cut_points``: the driver seeks to each nominal offset and reads to the next line end,
then counts the line breaks before each range in one read of the file, so that no task reads what
comes before its range), each entry of a task's listing then a range of the file. Any other file is never
split: one large JSON document (GigaSpeech's) or a quoted table stays one piece. A ``files`` corpus's entries keep the links out of
the root its walk met, where it met them, so the task holding one refuses it (``path_outside_root``)
exactly where a single reader would. A plugin's reader (``kind: plugin``) cannot declare slices and
is one task reading everything.

A schema with an audio index (``audio_files``) is cut the same way: the driver lists its audio once
(``manifest.start_dataset``), every task looks keys up in that listing, and the files no row used
are told once, at the merge (``merge``). One whose records are also packed into ``windows`` stays
one task, as before (its orphans would pass through window packing at the end of the one stream).
Joined files are read by every task (they are small tables beside the corpus); their problems are
told by the first task alone.

The listing is a function of the corpus, never of the engine or its worker count. Each task's files
go to a file of their own (``outputs.ingest_task_files_path``: JSON lines, a header with the
dataset's fingerprint, then one ``[path, fields]`` a line, or ``[path, fields, start, end]`` for a range), written as the walk closes the task, so
the driver holds one task's files at a time and a worker reads only its own. The tasks themselves
(their numbers and how many files each reads) are written last, with the fingerprint
(``outputs.ingest_tasks_path``): a rerun after a crash reuses a complete listing, so the parts it
finds were cut the same way.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

from schemas.model import DatasetSchema

from pipelines.core import outputs
from pipelines.core.atomic import read_json, write_json
from pipelines.core.config import DatasetSpec
from pipelines.ingest.layouts import ranges
from pipelines.ingest.layouts.files import listing
from pipelines.ingest.layouts.paths import match_files
from pipelines.ingest.layouts.readers import AUDIO_SLICES, FILE_SLICES

#: bytes of metadata files a task reads at least (the last task of a dataset may read fewer)
TASK_BYTES = 4 << 20
#: audio files a task of a folder-per-label corpus reads at most (each may be probed or VAD-cut)
TASK_FILES = 5000


@dataclass(frozen=True)
class IngestTask:
    """One piece of a dataset's ingest: how many files its listing holds (``files_of``), or None
    when it reads everything (no listing)."""

    dataset: str
    number: int
    files: int | None = None

    @property
    def id(self) -> str:
        return outputs.ingest_task_id(self.dataset, self.number)

    @property
    def head(self) -> bool:
        """The first task tells the problems of the joined files (every task reads them)."""
        return self.number == 0

    def to_dict(self) -> dict:
        return {"number": self.number, "files": self.files}

    @classmethod
    def from_dict(cls, dataset: str, data: dict) -> "IngestTask":
        return cls(dataset, data["number"], data["files"])


def write_files(out: str, task: str, fingerprint: str, entries: Iterable[tuple]) -> int:
    """A task's listing (``entries``: path and fields, streamed) under the dataset's fingerprint;
    returns how many entries it holds."""
    path = outputs.ingest_task_files_path(out, task)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    count = 0
    with open(path + ".partial", "w", encoding="ascii") as handle:  # ASCII: a name's undecodable bytes kept as escapes
        handle.write(json.dumps({"fingerprint": fingerprint, "task": task}) + "\n")
        for entry in entries:
            handle.write(json.dumps(list(entry)) + "\n")
            count += 1
    os.replace(path + ".partial", path)
    return count


def files_of(out: str, task: str, fingerprint: str) -> Iterator[tuple]:
    """A task's listing, streamed; refused (naming the file) when it was written for other work."""
    path = outputs.ingest_task_files_path(out, task)
    with open(path, encoding="ascii") as handle:
        header = json.loads(handle.readline() or "{}")
        if header.get("task") != task or header.get("fingerprint") != fingerprint:
            raise StaleListing(f"{path}: the listing of other work (task {header.get('task')!r}, "
                               f"fingerprint {str(header.get('fingerprint'))[:12]}), not of task {task}")
        for line in handle:
            yield tuple(json.loads(line))  # (path, fields), or (path, fields, start, end): a range


class StaleListing(ValueError):
    """A task's listing file written for another listing of the dataset (an earlier attempt's)."""


def sliceable(schema: DatasetSchema) -> bool:
    """Whether the dataset's ingest can be cut (see the module's docstring)."""
    if schema.audio_files is not None and schema.windows is not None:
        return False  # orphans travel through window packing: read by one task, as before
    return schema.layout.kind in FILE_SLICES | AUDIO_SLICES


def _pieces(schema: DatasetSchema, root: str) -> tuple[Iterator[tuple[tuple, int]], int]:
    """The entries a task's ``files`` holds, each with its weight, and the weight that closes a task:
    audio files (one each; a refused link none) up to ``TASK_FILES``, or metadata files (a large one
    in ranges, where its layout allows) by their bytes up to ``TASK_BYTES``."""
    if schema.layout.kind in AUDIO_SLICES:
        return (((relpath, fields), 0 if fields is None else 1) for relpath, fields in listing(root, schema.layout.files)), TASK_FILES

    cut, keep = ranges.cuttable(schema.layout), ranges.header_lines(schema.layout)
    universal = schema.layout.kind == "table"  # the csv module counts a lone carriage return as a line end

    def sized():
        for relpath, fields in match_files(root, schema.layout.files):
            path = os.path.join(root, relpath)
            try:
                size = os.path.getsize(path)
            except OSError:
                size = 0  # gone since the walk: its reader says so
            spans = ranges.cut_points(path, size, TASK_BYTES, keep, universal) if cut and size > TASK_BYTES else [(0, None)]
            if len(spans) == 1:
                yield (relpath, fields), size
                continue
            for start, end, before in spans:
                yield (relpath, fields, start, end, before), (size if end is None else end) - start

    return sized(), TASK_BYTES


def list_tasks(schema: DatasetSchema, dataset: str, root: str, out: str, fingerprint: str) -> list[IngestTask]:
    """The dataset's tasks, in the reader's order, each task's listing written (``write_files``) as
    the walk closes it; one task reading everything (no listing) when the dataset cannot be cut (or
    when its metadata fits in one task)."""
    if not sliceable(schema) or not os.path.isdir(root):
        return [IngestTask(dataset, 0)]
    tasks: list[IngestTask] = []
    files: list[tuple[str, dict[str, str] | None]] = []
    weight = 0
    pieces, bound = _pieces(schema, root)

    def close() -> None:
        task = IngestTask(dataset, len(tasks), len(files))
        write_files(out, task.id, fingerprint, files)
        tasks.append(task)

    for entry, size in pieces:
        files.append(entry)
        weight += size
        if weight >= bound:
            close()
            files, weight = [], 0
    if files or not tasks:
        close()
    if len(tasks) == 1:
        os.remove(outputs.ingest_task_files_path(out, tasks[0].id))
        return [IngestTask(dataset, 0)]  # one piece: read it the plain way
    return tasks


@dataclass(frozen=True)
class TaskList:
    """What the workers need to run a dataset's tasks: the dataset, how durations are found, the tasks,
    and whether its audio was listed for them (``outputs.ingest_audio_index_path``)."""

    spec: DatasetSpec
    fingerprint: str
    probe_durations: bool
    tasks: tuple[IngestTask, ...]
    audio_index: bool = False

    def write(self, out: str) -> str:
        path = outputs.ingest_tasks_path(out, self.spec.name)
        write_json(path, {
            "dataset": asdict(self.spec), "fingerprint": self.fingerprint, "probe_durations": self.probe_durations,
            "tasks": [task.to_dict() for task in self.tasks], "audio_index": self.audio_index,
        })
        return path

    @classmethod
    def read(cls, out: str, dataset: str) -> "TaskList":
        data = read_json(outputs.ingest_tasks_path(out, dataset))
        spec = DatasetSpec.from_dict(data["dataset"])
        return cls(spec, data["fingerprint"], data["probe_durations"],
                   tuple(IngestTask.from_dict(spec.name, task) for task in data["tasks"]), data["audio_index"])

    @property
    def cut(self) -> bool:
        """Whether each task reads a listing of its own (else the one task reads everything)."""
        return any(task.files is not None for task in self.tasks)
