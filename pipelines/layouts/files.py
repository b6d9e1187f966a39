"""``kind: files``: one record per audio file, fields taken from its path (folder-per-label)."""
from __future__ import annotations

from typing import Iterator

from pipelines.record import Drop

from . import Row
from .paths import match_files


def read(layout, root: str) -> Iterator[Row | Drop]:
    for relpath, fields in match_files(root, layout.files):
        yield Row(fields, relpath)
