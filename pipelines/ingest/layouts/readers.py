"""The reader of each layout ``kind``, and a layout's rows read by it (``read_rows``)."""
from __future__ import annotations

from typing import Callable, Iterator

from pipelines.core.record import Drop
from pipelines.ingest.layouts import Row, files, jsondoc, lines, plugin, table

RowReader = Callable[..., Iterator["Row | Drop"]]

READERS: dict[str, RowReader] = {
    "lines": lines.read,
    "table": table.read,
    "files": files.read,
    "json": jsondoc.read,
    "plugin": plugin.read,
}


#: layouts whose reader can read a slice of the metadata files its pattern matches (``read_rows``'s ``files``)
FILE_SLICES = frozenset({"lines", "table", "json"})
#: layouts whose reader can read a slice of the audio files its pattern matches (``files.listing``'s entries)
AUDIO_SLICES = frozenset({"files"})


def read_rows(layout, root: str, files: list | None = None) -> Iterator[Row | Drop]:
    """The rows (or drops) of the corpus at ``root``, as the reader of ``layout.kind`` yields them.

    ``files``: only these ``(relative path, fields)`` pairs of the files the layout matches, in this
    order (an ingest task's slice; layouts in ``FILE_SLICES`` and ``AUDIO_SLICES`` only), or byte
    ranges of them (``(relative path, fields, start, end, lines before)``: ``lines`` and ``table``, see ``ranges``)."""
    if files is None:
        return READERS[layout.kind](layout, root)
    if layout.kind not in FILE_SLICES | AUDIO_SLICES:
        raise ValueError(f"layout kind {layout.kind!r} cannot read a slice of its files")
    return READERS[layout.kind](layout, root, files)
