"""``kind: table``: delimited text tables (CSV, TSV), one record per row."""
from __future__ import annotations

import csv
import os
import re
from typing import Iterator

from pipelines.core.record import Drop

from pipelines.ingest.layouts import Row
from pipelines.ingest.layouts.paths import match_files
from pipelines.ingest.refusals import STAGE
#: bytes the codec could not decode, kept as lone surrogates by errors="surrogateescape"
_UNDECODED = re.compile("[\udc80-\udcff]")


def _encoding(name: str) -> str:
    return "utf-8-sig" if name.lower().replace("_", "-") in ("utf-8", "utf8") else name


def read(layout, root: str, files=None) -> Iterator[Row | Drop]:
    """``files`` (optional): the ``(relative path, fields)`` pairs to read, a slice of ``match_files``'s."""
    for relpath, file_fields in match_files(root, layout.files) if files is None else files:
        path = os.path.join(root, relpath)
        with open(path, encoding=_encoding(layout.encoding), errors="surrogateescape", newline="") as handle:
            quoting = {"quotechar": layout.quotechar} if layout.quotechar else {"quoting": csv.QUOTE_NONE}
            reader = csv.reader(
                handle, delimiter=layout.delimiter, escapechar=layout.escapechar, strict=True,
                skipinitialspace=layout.strip, **quoting,  # padded cells: `a, "b,c"` is two cells
            )
            columns = list(layout.columns or [])
            try:
                if layout.header:
                    rows = [next(reader, None) for _ in range(layout.header_rows)]
                    if any(row is None for row in rows):
                        continue
                    # several header rows (multi-level columns): the non-empty cells of a column joined by "_"
                    columns = ["_".join(c.strip() for c in cells if c.strip()) for cells in zip(*rows)]
                columns = [layout.rename.get(c, c) for c in columns]
                width, strip, comment, undecoded = len(columns), layout.strip, layout.comment, _UNDECODED.search
                for cells in reader:
                    line = reader.line_num
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
            except csv.Error as exc:
                source = f"{relpath}:{reader.line_num}"
                yield Drop(STAGE, "table_unparsed", f"{source}: {exc}; the rest of this file is not read", source=source)
