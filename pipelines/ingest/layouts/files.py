"""``kind: files``: one record per audio file, fields taken from its path (folder-per-label).

A link out of the corpus root that the pattern matches is never followed: it is reported
(``path_outside_root``) where the sorted walk meets it. ``listing`` gives that walk as entries, the
form an ingest task's slice of it takes (``read``'s ``files``).
"""
from __future__ import annotations

from typing import Iterator

from pipelines.core.record import Drop

from pipelines.ingest.layouts import Row
from pipelines.ingest.layouts.paths import match_files
from pipelines.ingest.refusals import STAGE


def listing(root: str, pattern) -> Iterator[tuple[str, dict[str, str] | None]]:
    """The walk's entries in its order: ``(relative path, fields)`` for an audio file, ``(relative
    path, None)`` for a link out of the root (where the walk met it, before the next file)."""
    refused: list[str] = []  # links out of the root: reported, never followed
    for relpath, fields in match_files(root, pattern, refused):
        while refused:
            yield refused.pop(0), None
        yield relpath, fields
    while refused:
        yield refused.pop(0), None


def read(layout, root: str, files=None) -> Iterator[Row | Drop]:
    """``files`` (optional): a slice of ``listing``'s entries, read instead of the whole walk."""
    for relpath, fields in listing(root, layout.files) if files is None else files:
        if fields is None:
            detail = f"{relpath}: a symbolic link out of the corpus root, not followed"
            yield Drop(STAGE, "path_outside_root", detail, source=relpath)
        else:
            yield Row(fields, relpath)
