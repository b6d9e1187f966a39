"""``kind: lines``: text files with one record per line, parsed by a regex with named groups.

A file may be read in byte ranges (``ranges``: an ingest task's piece of one large file); a range's
lines are numbered after the lines before it, and only the file's first line loses a byte order mark.
"""
from __future__ import annotations

import os
import re
from typing import Iterator

from pipelines.core.record import Drop

from pipelines.ingest.layouts import Row, ranges
from pipelines.ingest.layouts.paths import match_files
from pipelines.ingest.refusals import STAGE


def parse_line(regex: re.Pattern[str], raw: str) -> dict[str, str] | None:
    match = regex.fullmatch(raw)
    return None if match is None else {k: v for k, v in match.groupdict().items() if v is not None}


def read(layout, root: str, files=None) -> Iterator[Row | Drop]:
    """``files`` (optional): the ``(relative path, fields)`` pairs to read, a slice of ``match_files``'s,
    or ranges of them (``(relative path, fields, start, end, lines before)``, see ``ranges``)."""
    regex = re.compile(layout.line)
    skip = re.compile(layout.skip) if getattr(layout, "skip", None) else None
    for item in match_files(root, layout.files) if files is None else files:
        relpath, file_fields, start, end, before = ranges.entry(item)
        path = os.path.join(root, relpath)
        first = 1 + before
        with ranges.open_range(path, start, end) as handle:
            for number, raw_bytes in enumerate(handle, start=first):
                source = f"{relpath}:{number}"
                try:
                    raw = raw_bytes.decode(layout.encoding).rstrip("\r\n")
                except UnicodeDecodeError as exc:
                    yield Drop(STAGE, "undecodable_line", f"{source}: not {layout.encoding}: {exc.reason}", source=source)
                    continue
                if number == 1:
                    raw = raw.lstrip("\ufeff")
                if not raw.strip() or (layout.comment and raw.startswith(layout.comment)) or (skip and skip.match(raw)):
                    continue
                fields = parse_line(regex, raw)
                if fields is None:
                    yield Drop(STAGE, "line_unparsed", f"{source}: {raw[:120]!r} does not match {layout.line!r}", source=source)
                    continue
                yield Row({**file_fields, **fields, "line": str(number)}, source)
