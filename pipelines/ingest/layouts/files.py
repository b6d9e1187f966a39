"""``kind: files``: one record per audio file, fields taken from its path (folder-per-label)."""
from __future__ import annotations

from typing import Iterator

from pipelines.core.record import Drop

from pipelines.ingest.layouts import Row
from pipelines.ingest.layouts.paths import match_files
from pipelines.ingest.refusals import STAGE


def read(layout, root: str) -> Iterator[Row | Drop]:
    refused: list[str] = []  # links out of the root: reported, never followed
    for relpath, fields in match_files(root, layout.files, refused):
        yield from _refusals(refused)
        yield Row(fields, relpath)
    yield from _refusals(refused)


def _refusals(refused: list[str]) -> Iterator[Drop]:
    while refused:
        relpath = refused.pop(0)
        detail = f"{relpath}: a symbolic link out of the corpus root, not followed"
        yield Drop(STAGE, "path_outside_root", detail, source=relpath)
