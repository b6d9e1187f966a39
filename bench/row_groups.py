"""The manifest writer's row-group size: native memory it keeps and what a merge costs.

```
.venv/bin/python bench/row_groups.py --manifest bench/work/scale/out/run-1000000/manifests/scale.parquet
```

Takes an existing manifest (``bench/scale.py`` leaves one of 1 M records in its work folder) and, in
one child process per size, writes its rows again through ``ManifestWriter`` in batches of the
ingest's 2,048 records with ``ROW_GROUP_ROWS`` set to each size: the resident set after the first
tenth of the rows and at the end (its growth per record is what the writer keeps while the file is
open) and the CPU time. Then the merge: the rows cut into parts of ``--part-rows`` (as ingest tasks
write them), merged the old way (each part's row groups written as they are) and the new way
(re-grouped at ``ROW_GROUP_ROWS``), CPU time of each. Results are printed (figures in bench/README.md).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SIZES = (2048, 16384, 65536, 262144)
BATCH = 2048


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _batches(manifest: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.core.record import ARROW_SCHEMA

    for batch in pq.ParquetFile(manifest).iter_batches(batch_size=BATCH):
        columns = [batch.column(f.name) if f.name in batch.schema.names else pa.nulls(batch.num_rows, f.type)
                   for f in ARROW_SCHEMA]  # a manifest of an older schema: its missing columns empty
        yield pa.Table.from_arrays(columns, schema=ARROW_SCHEMA)


def writer_growth(manifest: str, size: int, folder: str) -> dict:
    """One size, in this process (run as a child of its own)."""
    from pipelines.core import manifest_file

    manifest_file.ROW_GROUP_ROWS = size
    total = manifest_file_rows(manifest)
    started, rows, tenth = time.process_time(), 0, None
    with manifest_file.ManifestWriter(os.path.join(folder, f"w-{size}.parquet")) as writer:
        for table in _batches(manifest):
            writer.write_table(table)
            rows += table.num_rows
            if tenth is None and rows >= total // 10:
                tenth = (rows, _rss_mb())
    end = _rss_mb()
    return {"row_group_rows": size, "rss_at_tenth_mb": round(tenth[1], 1), "rss_end_mb": round(end, 1),
            "growth_bytes_per_record": round((end - tenth[1]) * 1e6 / (rows - tenth[0]), 1),
            "cpu_s": round(time.process_time() - started, 2)}


def manifest_file_rows(manifest: str) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(manifest).metadata.num_rows


def merge_cost(manifest: str, part_rows: int, folder: str) -> dict:
    """Parts written as ingest tasks write them (one row group a batch), merged both ways."""
    import pyarrow.parquet as pq

    from pipelines.core.manifest_file import ManifestWriter
    from pipelines.core.record import ARROW_SCHEMA, MANIFEST_DICTIONARY_COLUMNS

    options = {"compression": "zstd", "use_dictionary": list(MANIFEST_DICTIONARY_COLUMNS)}
    parts, writer, rows = [], None, part_rows
    for table in _batches(manifest):
        if rows >= part_rows:
            if writer is not None:
                writer.close()
            parts.append(os.path.join(folder, f"part-{len(parts):05d}.parquet"))
            writer, rows = pq.ParquetWriter(parts[-1], ARROW_SCHEMA, **options), 0
        writer.write_table(table)
        rows += table.num_rows
    writer.close()
    timings = {}
    for way in ("row_groups_as_they_are", "regrouped"):
        started = time.process_time()
        target = os.path.join(folder, f"merged-{way}.parquet")
        out = pq.ParquetWriter(target, ARROW_SCHEMA, **options) if way == "row_groups_as_they_are" else ManifestWriter(target)
        with out:
            for path in parts:
                with pq.ParquetFile(path) as part:
                    for group in range(part.num_row_groups):
                        out.write_table(part.read_row_group(group))
        timings[f"{way}_cpu_s"] = round(time.process_time() - started, 2)
        timings[f"{way}_mb"] = round(os.path.getsize(target) / 1e6, 1)
    return {"parts": len(parts), **timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--part-rows", type=int, default=55000, help="records per part (a 4 MiB task of bench/scale.py's CSV)")
    parser.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.one:
            print(json.dumps(writer_growth(args.manifest, args.one, folder)))
            return
        for size in map(int, args.sizes.split(",")):
            subprocess.run([sys.executable, __file__, "--manifest", args.manifest, "--one", str(size)], check=True)
        print(json.dumps(merge_cost(args.manifest, args.part_rows, folder)))


if __name__ == "__main__":
    main()
