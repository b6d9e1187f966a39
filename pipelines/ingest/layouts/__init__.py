"""Layout readers: find a corpus's metadata and turn it into rows of fields, streaming and sorted.

Each reader takes a layout model from the schema and the corpus root and yields ``Row`` (fields
plus a human-readable source such as ``file:line``) or ``Drop`` for metadata it cannot parse.
Readers know nothing about any particular corpus; the schema says everything corpus-specific.
"""
from __future__ import annotations

from typing import Iterator

from pipelines.core.record import Drop
from pipelines.ingest.layouts import files, jsondoc, lines, plugin, table
from pipelines.ingest.layouts.row import Row, RowReader


def reader_for(kind: str) -> RowReader:
    readers: dict[str, RowReader] = {
        "lines": lines.read,
        "table": table.read,
        "files": files.read,
        "json": jsondoc.read,
        "plugin": plugin.read,
    }
    return readers[kind]


def read_rows(layout, root: str) -> Iterator[Row | Drop]:
    return reader_for(layout.kind)(layout, root)
