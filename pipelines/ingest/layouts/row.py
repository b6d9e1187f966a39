"""``Row``: what every layout reader yields for a metadata row (its fields and where it came from)."""
from __future__ import annotations

from typing import Callable, Iterator, NamedTuple

from pipelines.core.record import Drop


class Row(NamedTuple):  # a tuple: made once per metadata row, at a third of a dataclass's cost
    fields: dict[str, str]
    source: str  # "path/to/file:line" or the matched path


RowReader = Callable[..., Iterator["Row | Drop"]]
