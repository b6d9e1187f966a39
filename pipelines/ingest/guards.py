"""Text guards: no string that is not text (a lone surrogate) gets into a record, and every drop is printable.

A lone surrogate is what a byte no codec could decode becomes (a file name kept by surrogateescape)
or what a bad JSON escape gives: it could be neither stored in the manifest nor written to a shard.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Iterator

import pyarrow as pa

from pipelines.core.record import ARROW_SCHEMA, RECORD_FIELDS, Drop, map_entries
from pipelines.ingest.refusals import STAGE

#: a lone surrogate: a byte no codec could decode (a file name, kept by surrogateescape) or a bad JSON escape
NOT_TEXT = re.compile("[\ud800-\udfff]")

_STRING_COLUMNS = frozenset(f.name for f in ARROW_SCHEMA if f.type == pa.string())
_NESTED_COLUMNS = frozenset(f.name for f in ARROW_SCHEMA if pa.types.is_nested(f.type))


def is_text(text: str) -> bool:
    """True unless ``text`` holds a lone surrogate (``isascii`` is a flag of the string: free)."""
    return text.isascii() or not NOT_TEXT.search(text)


def printable(text: str) -> str:
    """``text``, with any byte that is not text shown as an escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if NOT_TEXT.search(text) else text


def strings_in(value) -> Iterator[str]:
    """Every string in a record's value (a string; a tuple, list or dict of them, nested)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in map_entries(value):
            yield key
            yield from strings_in(item)
    elif isinstance(value, (list, tuple)):
        for part in value:
            yield from strings_in(part)


def not_text_drops(columns: dict[str, list]) -> dict[int, Drop]:
    """Records (by row) holding a string that is not text (it could not be stored in the manifest,
    nor written to a shard), as drops (undecodable_text) naming the first such field. One search
    over each column's strings; row by row only in a column where one is found."""
    drops: dict[int, Drop] = {}
    for name in RECORD_FIELDS:
        column = columns[name]
        if name in _STRING_COLUMNS:
            texts = filter(None, column)
        elif name in _NESTED_COLUMNS:
            texts = [text for value in column if value for text in strings_in(value)]
        else:
            continue
        if is_text("\n".join(texts)):
            continue
        for i, value in enumerate(column):
            bad = next((s for s in strings_in(value) if NOT_TEXT.search(s)), None)
            if bad is not None and i not in drops:
                source = printable(columns["source"][i])
                drops[i] = Drop(
                    STAGE, "undecodable_text",
                    f"{source}: {name} {printable(bad)[:120]!r} holds bytes that are not text "
                    "(undecodable, or a lone surrogate escape)",
                    dataset=columns["dataset"][i], key=printable(columns["key"][i]), source=source,
                )
    return dict(sorted(drops.items()))


def printable_drop(drop: Drop) -> Drop:
    """A drop whose strings can be written anywhere (an undecodable byte shown as an escape)."""
    if not NOT_TEXT.search(f"{drop.detail}\n{drop.source}\n{drop.key}"):
        return drop
    return replace(drop, detail=printable(drop.detail), source=printable(drop.source), key=printable(drop.key))
