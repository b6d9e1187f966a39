"""``kind: json``: JSON documents or JSON Lines, records in nested arrays selected by a small path.

``audios[*].segments[*]``: member names separated by dots, ``[*]`` for every item of an array,
``{*}`` for every member of an object (its name becomes the field ``member_field``: NSynth's
``examples.json`` is one object keyed by note name, selected by ``records: "{*}"``), and a bare ``*``
for either, whichever the document holds (a table of rows shipped as a list of lists or as an object
of lists keyed by id reads the same). In ``fields`` paths a number picks an item of a list
(``"2"``: the third cell of a row that is a JSON array).
The document is streamed with ijson over the first ``[*]`` level, so one item of that level (one
recording with its segments) is in memory at a time, never the whole file. A record's fields are
the scalar members of its item and of every enclosing item (inner names win), lists of scalars
joined by a space; ``fields`` adds more by a path from the record's item (``^.`` steps out).
An ingest task reads whole files of the pattern's (``read``'s ``files``): one large document, or one
large JSON Lines file, is read by one task.
"""
from __future__ import annotations

import json
import os
from typing import Iterator

from schemas.records_path import EITHER, MEMBERS, parse_records_path

from pipelines.core.record import Drop

from pipelines.ingest.layouts import Row
from pipelines.ingest.layouts.paths import match_files
from pipelines.ingest.refusals import STAGE
def _scalar(value, joiner: str = " ") -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return joiner.join(str(v) for v in value)
    return None


def _members(item, joiner: str = " ") -> dict[str, str]:
    if not isinstance(item, dict):
        value = _scalar(item, joiner)
        return {} if value is None else {"value": value}
    out = {}
    for name, value in item.items():
        text = _scalar(value, joiner)
        if text is not None:
            out[name] = text
    return out


def _lookup(stack: list, path: str):
    """Value at ``path`` from the innermost item; each leading ``^.`` steps out one level."""
    level = len(stack) - 1
    while path.startswith("^."):
        path, level = path[2:], level - 1
    if level < 0:
        return None
    value = stack[level]
    for name in path.split("."):
        if isinstance(value, list) and name.isdigit():  # a cell of a row shipped as an array
            if int(name) >= len(value):
                return None
            value = value[int(name)]
        elif isinstance(value, dict) and name in value:
            value = value[name]
        else:
            return None
    return value


def _walk(node, steps, stack: list, locator: str, member_field: str = "member"):
    """Yield (stack of enclosing items, locator) for every record item under ``node``."""
    if not steps:
        yield stack + [node], locator
        return
    (name, iterate), rest = steps[0], steps[1:]
    if name and not isinstance(node, dict):
        return
    child = node.get(name) if name else node
    where = f"{locator}.{name}" if name and locator else (name or locator)
    if iterate == EITHER:
        iterate = MEMBERS if isinstance(child, dict) else True
    if iterate == MEMBERS:
        if not isinstance(child, dict):
            return
        for key, item in child.items():  # the member's name is a field; the item's own members win
            enclosing = stack + ([node] if name else []) + [{member_field: key}]
            yield from _walk(item, rest, enclosing, f"{where}.{key}" if where else key, member_field)
    elif iterate:
        if not isinstance(child, list):
            return
        for index, item in enumerate(child):
            yield from _walk(item, rest, stack + ([node] if name else []), f"{where}[{index}]", member_field)
    elif child is not None:
        yield from _walk(child, rest, stack + [node], where, member_field)


def _rows(layout, document, steps, file_fields, source_prefix: str, sep: str, outer: list | None = None) -> Iterator[Row]:
    joiner = getattr(layout, "list_joiner", " ")
    for items, locator in _walk(document, steps, outer or [], "", getattr(layout, "member_field", "member")):
        fields = dict(file_fields)
        for item in items:
            fields.update(_members(item, joiner))
        for name, path in layout.fields.items():
            value = _scalar(_lookup(items, path), joiner)
            if value is not None:
                fields[name] = value
        yield Row(fields, f"{source_prefix}{sep}{locator}" if locator else source_prefix)


def _stream_prefix(steps) -> tuple[str, int]:
    """ijson prefix of the first iterated level and how many steps it consumes."""
    prefix = []
    for index, (name, iterate) in enumerate(steps):
        if name:
            prefix.append(name)
        if iterate in (MEMBERS, EITHER):
            return ".".join(prefix), index + 1  # streamed with ijson.kvitems (EITHER: once the container is known)
        if iterate:
            prefix.append("item")
            return ".".join(prefix), index + 1
    return ".".join(prefix), len(steps)


def _container_at(handle, prefix: str, ijson) -> str | None:
    """``MEMBERS`` if the value at ``prefix`` is an object, ``True`` if an array (the stream is rewound)."""
    try:
        for at, event, _ in ijson.parse(handle):
            if at == prefix and event in ("start_map", "start_array"):
                return MEMBERS if event == "start_map" else True
        return None
    finally:
        handle.seek(0)


def read(layout, root: str, files=None) -> Iterator[Row | Drop]:
    """``files`` (optional): the ``(relative path, fields)`` pairs to read, a slice of ``match_files``'s."""
    import ijson

    steps = parse_records_path(layout.records)
    for relpath, file_fields in match_files(root, layout.files) if files is None else files:
        path = os.path.join(root, relpath)
        if layout.lines:
            with open(path, "rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    source = f"{relpath}:{number}"
                    try:
                        text = raw.decode(layout.encoding).strip().lstrip("\ufeff")
                        if not text:
                            continue
                        document = json.loads(text)
                    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                        yield Drop(STAGE, "json_unparsed", f"{source}: {exc}", source=source)
                        continue
                    yield from _rows(layout, document, steps, file_fields, source, ":")
            continue
        prefix, consumed = _stream_prefix(steps)
        head = steps[: consumed]
        outer_locator = ".".join(n for n, _ in head if n)
        with open(path, "rb") as handle:
            index = -1
            try:
                level = head[-1][1] if head else False
                if level == EITHER:
                    level = _container_at(handle, prefix, ijson)
                if level == MEMBERS:  # one member of the object at a time
                    member_field = getattr(layout, "member_field", "member")
                    for index, (key, item) in enumerate(ijson.kvitems(handle, prefix, use_float=True)):
                        locator = f"{outer_locator}.{key}" if outer_locator else key
                        yield from _rows(layout, item, steps[consumed:], file_fields, f"{relpath}:{locator}", ".",
                                         outer=[{member_field: key}])
                    continue
                if level is None:  # ``*`` over a value that is neither an object nor an array: no records
                    continue
                item_prefix = f"{prefix}.item" if prefix else "item"
                items_at = item_prefix if head and head[-1][1] == EITHER else prefix
                for index, item in enumerate(ijson.items(handle, items_at, use_float=True)):
                    locator = f"{outer_locator}[{index}]" if level else outer_locator
                    yield from _rows(layout, item, steps[consumed:], file_fields, f"{relpath}:{locator}", ".")
            except (ijson.JSONError, UnicodeDecodeError) as exc:  # bad bytes, or a lone surrogate escape
                source = f"{relpath}:{outer_locator}[{index + 1}]"
                yield Drop(STAGE, "json_unparsed", f"{source}: {exc}; the rest of this file is not read", source=source)
