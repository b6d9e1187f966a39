"""A manifest's Parquet file written in row groups of a fixed number of records.

While a file is open, pyarrow's Parquet writer keeps the metadata of every row group written so far
in native memory (far more than the footer it serializes), so a manifest written one row group per
ingest batch grows with its records. ``ManifestWriter`` takes tables of any size, holds them until
they make ``ROW_GROUP_ROWS`` records (at most one row group's table is held) and writes each row
group as one contiguous table: the file's bytes depend on its records alone, never on how they were
handed over (a dataset cut into tasks and merged gives the bytes of one task). Figures:
bench/README.md ("What grows with what").
"""
from __future__ import annotations

import pyarrow as pa

from pipelines.core.record import ARROW_SCHEMA, MANIFEST_DICTIONARY_COLUMNS

#: records per row group of a manifest (the last one of a file may hold fewer)
ROW_GROUP_ROWS = 16384


class ManifestWriter:
    """Writes ``ARROW_SCHEMA`` tables to ``path`` in row groups of ``ROW_GROUP_ROWS``; a context manager."""

    def __init__(self, path: str):
        import pyarrow.parquet as pq

        dictionary = list(MANIFEST_DICTIONARY_COLUMNS)
        self._writer = pq.ParquetWriter(path, ARROW_SCHEMA, compression="zstd", use_dictionary=dictionary)
        self._held: list[pa.Table] = []
        self._rows = 0

    def write_table(self, table: pa.Table) -> None:
        while table.num_rows:
            take = min(ROW_GROUP_ROWS - self._rows, table.num_rows)
            self._held.append(table.slice(0, take))
            self._rows += take
            table = table.slice(take)
            if self._rows == ROW_GROUP_ROWS:
                self._flush()

    def _flush(self) -> None:
        if self._rows:
            group = pa.concat_tables(self._held).combine_chunks()
            self._writer.write_table(group, row_group_size=ROW_GROUP_ROWS)
        self._held, self._rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def __enter__(self) -> "ManifestWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self._writer.close()  # a failed write: the temporary file is the caller's to discard
