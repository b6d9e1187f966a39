"""Layout readers: find a corpus's metadata and turn it into rows of fields, streaming and sorted.

Each reader takes a layout model from the schema and the corpus root and yields ``Row`` (fields
plus a human-readable source such as ``file:line``) or ``Drop`` for metadata it cannot parse.
Readers know nothing about any particular corpus; the schema says everything corpus-specific.
"""
from __future__ import annotations

from typing import Callable, Iterator, NamedTuple

from pipelines.core.record import Drop


class Row(NamedTuple):  # a tuple: made once per metadata row, at a third of a dataclass's cost
    fields: dict[str, str]
    source: str  # "path/to/file:line" or the matched path


RowReader = Callable[..., Iterator["Row | Drop"]]


def reader_for(kind: str) -> RowReader:
    from pipelines.ingest.layouts import files, jsondoc, lines, plugin, table

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
