"""Layout readers: find a corpus's metadata and turn it into rows of fields, streaming and sorted.

Each reader takes a layout model from the schema and the corpus root and yields ``Row`` (fields
plus a human-readable source such as ``file:line``) or ``Drop`` for metadata it cannot parse.
Readers know nothing about any particular corpus; the schema says everything corpus-specific.
``readers.read_rows`` picks the reader of a layout's ``kind``.
"""
from __future__ import annotations

from typing import NamedTuple


class Row(NamedTuple):  # a tuple: made once per metadata row, at a third of a dataclass's cost
    fields: dict[str, str]
    source: str  # "path/to/file:line" or the matched path
