"""``kind: table``: delimited text tables (CSV, TSV), one record per row.

A table without ``quotechar`` and ``escapechar`` (parsed with ``csv.QUOTE_NONE``) has one record a
line: a line the parser refuses (a cell past the csv module's size limit) is that line's drop and
the next line is read; such a file may be read in byte ranges (``ranges``: an ingest task's piece
of one large file), each range's reader taking the column names from the file's start (only the
first range tells a problem there) and numbering its lines after the lines before it. With a
``quotechar`` a quoted cell may hold line breaks: a parse error ends the file's reading, and the
file is never cut.
"""
from __future__ import annotations

import csv
import io
import os
import re
from typing import Iterator

from pipelines.core.record import Drop

from pipelines.ingest.layouts import Row, ranges
from pipelines.ingest.layouts.paths import match_files
from pipelines.ingest.refusals import STAGE
#: bytes the codec could not decode, kept as lone surrogates by errors="surrogateescape"
_UNDECODED = re.compile("[\udc80-\udcff]")


def _encoding(name: str) -> str:
    return "utf-8-sig" if name.lower().replace("_", "-") in ("utf-8", "utf8") else name


def _reader(layout, path: str, start: int = 0, end: int | None = None):
    """A csv reader over the file's bytes ``[start, end)``; a byte order mark is skipped at the file's start only."""
    encoding = _encoding(layout.encoding) if start == 0 else layout.encoding
    handle = io.TextIOWrapper(ranges.open_range(path, start, end), encoding=encoding, errors="surrogateescape", newline="")
    quoting = {"quotechar": layout.quotechar} if layout.quotechar else {"quoting": csv.QUOTE_NONE}
    return handle, csv.reader(
        handle, delimiter=layout.delimiter, escapechar=layout.escapechar, strict=True,
        skipinitialspace=layout.strip, **quoting,  # padded cells: `a, "b,c"` is two cells
    )


def _columns(layout, reader) -> list[str] | None:
    """The column names (the header rows read from ``reader``), None when the file ends inside its header."""
    columns = list(layout.columns or [])
    if layout.header:
        rows = [next(reader, None) for _ in range(layout.header_rows)]
        if any(row is None for row in rows):
            return None
        # several header rows (multi-level columns): the non-empty cells of a column joined by "_"
        columns = ["_".join(c.strip() for c in cells if c.strip()) for cells in zip(*rows)]
    return [layout.rename.get(c, c) for c in columns]


def read(layout, root: str, files=None) -> Iterator[Row | Drop]:
    """``files`` (optional): the ``(relative path, fields)`` pairs to read, a slice of ``match_files``'s,
    or ranges of them (``(relative path, fields, start, end, lines before)``, see ``ranges``)."""
    for item in match_files(root, layout.files) if files is None else files:
        relpath, file_fields, start, end, before = ranges.entry(item)
        path = os.path.join(root, relpath)
        handle, reader = _reader(layout, path, 0, end if start == 0 else None)
        with handle:
            try:
                columns = _columns(layout, reader)
            except csv.Error as exc:
                if start == 0:  # told by the file's first range alone
                    yield _unparsed(relpath, reader.line_num, exc, True)
                continue
            if columns is None:
                continue
            if start == 0:
                yield from _rows(layout, reader, columns, file_fields, relpath, 0)
                continue
        handle, reader = _reader(layout, path, start, end)
        with handle:
            yield from _rows(layout, reader, columns, file_fields, relpath, before)


def _unparsed(relpath: str, line: int, exc: csv.Error, rest: bool) -> Drop:
    source = f"{relpath}:{line}"
    told = "the rest of this file is not read" if rest else "this line is not read"
    return Drop(STAGE, "table_unparsed", f"{source}: {exc}; {told}", source=source)


def _rows(layout, reader, columns: list[str], file_fields: dict, relpath: str, before: int) -> Iterator[Row | Drop]:
    """The rows ``reader`` gives after the header, numbered after ``before`` lines (a range's)."""
    width, strip, comment, undecoded = len(columns), layout.strip, layout.comment, _UNDECODED.search
    one_line = ranges.unquoted(layout)  # a record is a line
    while True:
        try:
            for cells in reader:
                line = before + reader.line_num
                if len(cells) <= 1 and not (cells and cells[0].strip()):
                    continue  # a blank line
                if strip:
                    cells = [c.strip() for c in cells]
                if comment and cells[0].startswith(comment):
                    continue
                if len(cells) != width:
                    source = f"{relpath}:{line}"
                    detail = f"{source}: {len(cells)} cells for {width} columns ({', '.join(columns)})"
                    yield Drop(STAGE, "row_malformed", detail, source=source)
                    continue
                row = "\n".join(cells)
                if not row.isascii() and undecoded(row):  # one scan of the row, none for ASCII (a flag)
                    source = f"{relpath}:{line}"
                    yield Drop(STAGE, "undecodable_line", f"{source}: not {layout.encoding}", source=source)
                    continue
                fields = file_fields.copy()  # the file's own fields, then the row's (a column wins)
                fields.update(zip(columns, cells))
                fields["line"] = str(line)
                yield Row(fields, f"{relpath}:{line}")
            return
        except csv.Error as exc:  # the reader's alone: nothing else here raises it
            yield _unparsed(relpath, before + reader.line_num, exc, not one_line)
            if not one_line:
                return
