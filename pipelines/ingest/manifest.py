"""A dataset ingested into its Parquet manifest (and its drops), and the manifest read back."""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import replace
from itertools import islice
from typing import Callable, Iterator

import pyarrow.parquet as pq

from schemas import loader
from schemas.model import DatasetSchema

from pipelines.core import failpoints, outputs
from pipelines.core.atomic import read_json, write_json, write_jsonl
from pipelines.core.audio import probe_seconds
from pipelines.core.config import DatasetSpec
from pipelines.core.fingerprint import INGEST_SOURCES, code_identity
from pipelines.core.record import ARROW_SCHEMA, MANIFEST_DICTIONARY_COLUMNS, Drop, Record, columns_table
from pipelines.core.remote import is_remote
from pipelines.core.sources import local_view
from pipelines.ingest.batch import BATCH_ROWS as INGEST_BATCH_ROWS
from pipelines.ingest.batch import Mapped
from pipelines.ingest.corpus import ingest_batches
from pipelines.ingest.windows import pack_windows


BATCH_ROWS = 4096


#: metadata items between two progress reports of an ingest
REPORT_EVERY = 5000


def write_manifest(
    schema: DatasetSchema, spec: DatasetSpec, out: str, probe_durations: bool = True, report: Callable[[int], None] | None = None
) -> dict:
    """Ingest one dataset into ``manifests/NAME.parquet`` (streaming); returns its counts.

    Records of splits the run does not select are skipped (they are not input of this run).
    Counts: ``records``, ``drops``, ``groups`` (records per shard group) and ``train_seconds``.
    ``report`` (optional) is called with the number of items (records and drops) read so far, every
    ``REPORT_EVERY`` items and once at the end.
    """
    path = outputs.manifest_path(out, spec.name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    root = os.path.abspath(spec.root)
    groups: Counter = Counter()
    train_seconds, unknown = 0.0, 0
    temporary = path + ".partial"
    dictionary = list(MANIFEST_DICTIONARY_COLUMNS)
    with pq.ParquetWriter(temporary, ARROW_SCHEMA, compression="zstd", use_dictionary=dictionary) as writer:
        probe = _prober(spec, root) if probe_durations else None
        cutter = _vad_cutter(spec, root, schema.windows) if schema.windows and schema.windows.long_audio == "vad" else None
        batches = ingest_batches(schema, spec.name, spec.root, spec.roots)
        if schema.windows is not None:  # long recordings cut into windows: record by record, streaming
            items = (item for batch in batches for item in batch.items())
            batches = _rebatched(pack_windows(items, schema.windows, probe, cutter))

        def drop_rows():
            """Records into the manifest batch by batch; drops yielded into their JSON lines file (never held)."""
            nonlocal train_seconds, unknown
            seen = 0
            for columns, positions, drops in batches:
                if report is not None and (seen + len(positions) + len(drops)) // REPORT_EVERY > seen // REPORT_EVERY:
                    report(seen + len(positions) + len(drops))
                seen += len(positions) + len(drops)
                for _, drop in drops:
                    yield drop.to_row()
                if spec.splits is not None and not set(columns["split"]) <= set(spec.splits):
                    keep = [i for i, split in enumerate(columns["split"]) if split in spec.splits]
                    columns = {name: [column[i] for i in keep] for name, column in columns.items()}
                if not columns["key"]:
                    continue
                if None in columns["seconds"]:
                    columns["seconds"] = [
                        seconds if seconds is not None else _known_seconds(spec, root, probe_durations, columns, i)
                        for i, seconds in enumerate(columns["seconds"])
                    ]
                for role, seconds in zip(columns["role"], columns["seconds"]):
                    if seconds is None:
                        unknown += 1
                    elif role == "train":
                        train_seconds += seconds
                for (role, dataset, split), count in Counter(zip(columns["role"], columns["dataset"], columns["split"])).items():
                    groups[outputs.group_of(role, dataset, split)] += count
                writer.write_table(columns_table(columns))
            if report is not None:
                report(seen)

        drops = write_jsonl(outputs.ingest_drops_path(out, spec.name), drop_rows())
    os.replace(temporary, path)
    return {
        "records": sum(groups.values()),
        "drops": drops,
        "groups": dict(sorted(groups.items())),
        "train_seconds": round(train_seconds, 3),
        "unknown_seconds": unknown,
    }


def _rebatched(items: Iterator[Record | Drop]) -> Iterator[Mapped]:
    while chunk := list(islice(items, INGEST_BATCH_ROWS)):
        yield Mapped.of_items(chunk)


def _known_seconds(spec: DatasetSpec, root: str, probe_durations: bool, columns: dict[str, list], i: int) -> float | None:
    """Record ``i``'s length without decoding: its duration, else (when probing) its audio header's."""
    if columns["duration"][i] is not None or not probe_durations:
        return columns["duration"][i]
    return probe_seconds(_audio_path(spec, root, columns["audio_root"][i], columns["audio"][i]))


def _audio_path(spec: DatasetSpec, root: str, audio_root: str | None, audio: str) -> str:
    """Where a record's audio file is: under the corpus root, or under the extra root it names."""
    base = root if audio_root is None else os.path.abspath(spec.roots[audio_root])
    return os.path.join(base, audio)


def _prober(spec: DatasetSpec, root: str) -> Callable[[Record], float | None]:
    """Length of a whole-file record from its audio header (windowing needs it before the loop below)."""
    def probe(record: Record) -> float | None:
        return probe_seconds(_audio_path(spec, root, record.audio_root, record.audio))

    return probe


def _vad_cutter(spec: DatasetSpec, root: str, policy) -> Callable[[Record], list]:
    """Windows of a long unannotated speech recording, cut at pauses (decodes it: docs/long-form.md)."""
    from pipelines.ingest.vad import vad_windows

    def cut(record: Record) -> list:
        path = _audio_path(spec, root, record.audio_root, record.audio)
        return vad_windows(path, record, policy.max_seconds, policy.min_seconds)

    return cut


def ingest_dataset(
    spec: DatasetSpec, out: str, probe_durations: bool = True, report: Callable[[int], None] | None = None
) -> dict:
    """Ingest one dataset unless its manifest is already complete for the same schema and root.

    Idempotent and safe to retry (an orchestrator maps this over the datasets of a run). ``report``:
    see ``write_manifest`` (not called when the manifest is already complete).
    """
    schema = loader.load(spec.schema)
    fingerprint = _dataset_fingerprint(spec, probe_durations)
    done_path = outputs.ingest_done_path(out, spec.name)
    if os.path.exists(done_path):
        done = read_json(done_path)
        if done["fingerprint"] == fingerprint and os.path.exists(outputs.manifest_path(out, spec.name)):
            return done
    remote = any(is_remote(root) for root in (spec.root, *spec.roots.values()))
    view = replace(spec, root=local_view(spec.root), roots={k: local_view(v) for k, v in spec.roots.items()})
    counts = write_manifest(schema, view, out, probe_durations and not remote, report)
    done = {"dataset": spec.name, "fingerprint": fingerprint, **counts}
    write_json(done_path, done)
    failpoints.hit("dataset_ingested")
    return done


def _dataset_fingerprint(spec: DatasetSpec, probe_durations: bool) -> str:
    """What shaped a manifest: the dataset's name, roots, splits, schema text, ingest code and version."""
    text = loader.resolve(spec.schema).read_text(encoding="utf-8")
    extra = {name: location(path) for name, path in sorted(spec.roots.items())}
    code = code_identity(INGEST_SOURCES)
    payload = json.dumps([spec.name, location(spec.root), spec.splits, probe_durations, text, extra, code["version"], code["code"]])
    return hashlib.sha256(payload.encode()).hexdigest()


def location(root: str) -> str:
    """A root as the plan records it: an absolute folder, or the URI as given."""
    return root if is_remote(root) else os.path.abspath(root)


def iter_manifest(path: str):
    for _, record in iter_manifest_rows(path):
        yield record


def iter_manifest_rows(path: str):
    """(manifest row, its record) for every row of a manifest, streamed in batches."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            yield row, Record.from_row(row)
