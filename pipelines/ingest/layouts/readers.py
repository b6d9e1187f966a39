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


def read_rows(layout, root: str) -> Iterator[Row | Drop]:
    """The rows (or drops) of the corpus at ``root``, as the reader of ``layout.kind`` yields them."""
    return READERS[layout.kind](layout, root)
