"""The corpus driver: a corpus on disk + its schema -> its records (or drops), batch by batch, in a
deterministic order.

It checks the roots, reads the joined files and indexes the audio files (when the schema asks), then
maps the layout reader's rows in batches of ``BATCH_ROWS`` (``map_rows``). Every metadata row
becomes exactly one record or one drop; with ``audio_files``, every audio file no row used becomes
one drop too (``audio_without_metadata``), so input = written + quarantined holds.
"""
from __future__ import annotations

import os
from itertools import islice
from typing import Iterator

from schemas.model import DatasetSchema

from pipelines.core.record import Drop, Record
from pipelines.ingest.audio_index import AudioIndex
from pipelines.ingest.batch import BATCH_ROWS, Mapped
from pipelines.ingest.joins import load_joins
from pipelines.ingest.layouts.readers import read_rows
from pipelines.ingest.mapping import Context, map_rows


class RootError(FileNotFoundError):
    """An extra root the schema declares is not given or not a folder, or one is given it does not declare."""


def resolve_roots(schema: DatasetSchema, dataset: str, roots: dict[str, str] | None) -> dict[str, str]:
    """The extra roots the schema declares, as absolute folders; a missing one is an error saying how to give it."""
    given = dict(roots or {})
    unknown = sorted(set(given) - set(schema.roots))
    if unknown:
        raise RootError(
            f"dataset {dataset!r}: schema {schema.name} declares no root {unknown[0]!r} "
            f"(it declares: {', '.join(schema.roots) or 'none'})"
        )
    resolved = {}
    for name, description in schema.roots.items():
        if name not in given:
            raise RootError(
                f"dataset {dataset!r} needs the extra root {name!r} ({description.strip()}): "
                f"give it as --dataset {dataset}=ROOT,{name}=PATH"
            )
        if not os.path.isdir(given[name]):
            raise RootError(f"extra root {name}={given[name]} of dataset {dataset!r} is not a directory")
        resolved[name] = os.path.abspath(given[name])
    return resolved


def check_root(dataset: str, root: str) -> None:
    if not os.path.isdir(root):
        raise FileNotFoundError(f"corpus root {root} for dataset {dataset!r} is not a directory")


def audio_root(schema: DatasetSchema, root: str, extra: dict[str, str]) -> str:
    """The folder the schema's audio files (``audio_files``) are listed under: the corpus root or an extra one."""
    return extra[schema.audio_files.root] if schema.audio_files.root else root


def ingest_batches(
    schema: DatasetSchema, dataset: str, root: str, roots: dict[str, str] | None = None,
    files: list | None = None, head: bool = True, audio: AudioIndex | None = None,
) -> Iterator[Mapped]:
    """The corpus at ``root`` in batches of at most ``BATCH_ROWS`` items (``map_rows``), in a
    deterministic order; nothing that is not text gets past it.

    ``roots`` gives the extra roots the schema declares (e.g. ``common_voice``). Problems of joined
    files come first, then the metadata rows, then the audio files no row used. An ingest task
    (``pipelines.ingest.tasks``) reads only its slice of the metadata files (``files``, see
    ``read_rows``); the joined files' problems are told by the first task alone (``head``). A task
    of a dataset with an audio index is given it (``audio``, listed once for every task): the files
    no row used are then the caller's to tell, once every task has marked its keys."""
    check_root(dataset, root)
    root = os.path.abspath(root)
    extra = resolve_roots(schema, dataset, roots)
    problems: list[Drop] = []
    context = Context(roots=extra)
    try:
        context.joins = load_joins(schema.joins, root, extra, dataset, problems)
        if problems and head:
            yield Mapped.of_items(problems)
        if audio is not None:
            context.audio = audio
        elif schema.audio_files is not None:
            context.audio = AudioIndex.load(schema.audio_files, audio_root(schema, root, extra))
        items = read_rows(schema.layout, root, files)
        while chunk := list(islice(items, BATCH_ROWS)):
            yield map_rows(schema, dataset, root, chunk, context)
        if context.audio is not None and audio is None:
            orphans = context.audio.orphans(dataset)
            while chunk := list(islice(orphans, BATCH_ROWS)):
                yield Mapped.of_items(chunk)
    finally:  # key tables spilled to disk let go of their files
        for table in [join.rows for join in context.joins] + ([context.audio.files] if context.audio and not audio else []):
            table.close()


def ingest(schema: DatasetSchema, dataset: str, root: str, roots: dict[str, str] | None = None) -> Iterator[Record | Drop]:
    """Every record (or drop) of the corpus at ``root``, one by one, in a deterministic order (``ingest_batches``)."""
    for batch in ingest_batches(schema, dataset, root, roots):
        yield from batch.items()
