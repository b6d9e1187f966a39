"""Evaluation clips kept out of training: a training record whose origin is an evaluation record's is quarantined.

One source clip often lies in several corpora (AudioSet YouTube clips in AudioCaps and MusicCaps,
Freesound clips in Clotho, FSD50K and ESC-50, LibriVox recordings in LibriSpeech, MLS and
LibriMix). Split names cannot tell; origins can (``core/origins.py``). Planning first indexes the
origins of every evaluation record of the run, and of the origins the run config protects (a file
of origins, or another run's output: ``protected_origins``); then, while partitioning, a training
record with an origin overlapping one of them is quarantined as ``eval_leak`` (stage ``plan``),
naming the evaluation corpus, its key and both origins, and counted per pair of corpora. The
origins of the training records kept are indexed too: two training records of one origin stay
(they may feed different tasks) and are counted per pair of corpora (``training_repeats``).

Memory: per origin, an 8-byte digest of its identity, its stretch (two floats) and the offset of
its details in a scratch file: the names are read back only for a record that matches. Past
``SPILL_ORIGINS`` entries an index goes to ``PARTITIONS`` files by its digests' top bits, each
sorted once and then searched through a memory map, so memory stays bounded however many origins
the run has.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from array import array
from collections import Counter
from typing import Iterable, Iterator

import numpy as np

from pipelines.core import outputs
from pipelines.core.origins import EPSILON, Origin, overlap, parse_origin
from pipelines.core.record import Drop, Record
from pipelines.ingest.manifest import iter_manifest
from pipelines.plan.duplicates import PARTITION_BITS, PARTITIONS

STAGE = "plan"
REASON = "eval_leak"
#: the corpus name a protected origin is reported under when it comes from a list of origins
PROTECTED = "protected"
#: origins an index holds in memory before it spills them to partition files (32 bytes each)
SPILL_ORIGINS = 1 << 20
#: one origin of an index: identity digest, stretch, offset of (dataset, key, origin) in its details file
ENTRY = np.dtype([("digest", "<u8"), ("start", "<f8"), ("end", "<f8"), ("offset", "<u8")])
_COLUMNS = (("digest", "Q"), ("start", "d"), ("end", "d"), ("offset", "Q"))


def _digest(identity: str) -> int:
    return int.from_bytes(hashlib.blake2b(identity.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def pair_name(a: str, b: str) -> str:
    """``"a = b"``: two corpora in sorted order (the same corpus twice for repeats within it)."""
    return " = ".join(sorted((a, b)))


class _Index:
    """Origins with their details: ``add``, ``freeze`` (sorted by digest), then ``lookup`` or walk ``groups``."""

    def __init__(self, folder: str, name: str):
        self.folder, self.name = folder, name
        self._details = open(os.path.join(folder, f"{name}.details.jsonl"), "w+b")
        self._columns = {column: array(code) for column, code in _COLUMNS}
        self._parts: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # partition -> (digests, entries), sorted
        self.spilled = False
        self.count = 0

    def close(self) -> None:
        self._parts = {}
        self._details.close()

    def add(self, dataset: str, key: str, text: str) -> None:
        origin = parse_origin(text)
        for column, value in zip(self._columns.values(), (_digest(origin.identity), origin.start, origin.end, self._details.tell())):
            column.append(value)
        self._details.write(json.dumps([dataset, key, text], ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n")
        self.count += 1
        if len(self._columns["digest"]) >= SPILL_ORIGINS:
            self._spill()

    def _held(self) -> np.ndarray:
        entries = np.empty(len(self._columns["digest"]), dtype=ENTRY)
        for column, values in self._columns.items():
            entries[column] = np.frombuffer(values, dtype=entries.dtype[column]) if len(values) else []
        self._columns = {column: array(code) for column, code in _COLUMNS}
        return entries

    def _path(self, part: int, what: str) -> str:
        return os.path.join(self.folder, f"{self.name}.{part:03d}.{what}")

    def _spill(self) -> None:
        """The entries held, appended to their partitions' files."""
        self.spilled = True
        entries = self._held()
        parts = entries["digest"] >> np.uint64(64 - PARTITION_BITS)
        order = np.argsort(parts, kind="stable")
        entries, parts = entries[order], parts[order]
        bounds = np.searchsorted(parts, np.arange(PARTITIONS + 1, dtype=np.uint64)).tolist()
        for part in range(PARTITIONS):
            if bounds[part] < bounds[part + 1]:
                with open(self._path(part, "entries"), "ab") as handle:
                    handle.write(entries[bounds[part] : bounds[part + 1]].tobytes())

    def freeze(self) -> None:
        self._details.flush()
        if not self.spilled:
            entries = self._held()
            entries = entries[np.argsort(entries["digest"], kind="stable")]
            self._parts = {0: (np.ascontiguousarray(entries["digest"]), entries)}
            return
        self._spill()
        for part in range(PARTITIONS):  # one partition in memory at a time, then memory-mapped
            path = self._path(part, "entries")
            if os.path.exists(path):
                entries = np.fromfile(path, dtype=ENTRY)
                entries = entries[np.argsort(entries["digest"], kind="stable")]
                entries.tofile(path)
                np.ascontiguousarray(entries["digest"]).tofile(self._path(part, "digests"))
                del entries
                self._parts[part] = (np.memmap(self._path(part, "digests"), dtype=np.uint64, mode="r"),
                                     np.memmap(path, dtype=ENTRY, mode="r"))

    def details(self, offset: int) -> tuple[str, str, str]:
        self._details.seek(offset)
        dataset, key, text = json.loads(self._details.readline())
        return dataset, key, text

    def lookup(self, origin: Origin) -> Iterator[tuple[str, str, str]]:
        """(dataset, key, origin) of the entries overlapping ``origin`` (compared exactly: a digest
        collision never matches)."""
        digest = _digest(origin.identity)
        found = self._parts.get(digest >> (64 - PARTITION_BITS) if self.spilled else 0)
        if found is None:
            return
        digests, entries = found
        lo, hi = np.searchsorted(digests, np.uint64(digest), "left"), np.searchsorted(digests, np.uint64(digest), "right")
        for entry in entries[lo:hi]:
            if max(origin.start, entry["start"]) >= min(origin.end, entry["end"]):
                continue
            dataset, key, text = self.details(int(entry["offset"]))
            if overlap(origin, parse_origin(text)):
                yield dataset, key, text

    def groups(self) -> Iterator[list[tuple[float, float, int]]]:
        """The entries sharing a digest, as (start, end, offset) sorted by start: partition by partition."""
        for digests, entries in self._parts.values():
            _, first, counts = np.unique(digests, return_index=True, return_counts=True)
            for start, count in zip(first[counts > 1].tolist(), counts[counts > 1].tolist()):
                group = entries[start : start + count]
                yield sorted(zip(group["start"].tolist(), group["end"].tolist(), group["offset"].tolist()))


class EvalOrigins:
    """The origins no training record may share: ``add`` them, ``freeze``, then ``check`` each training
    record (and ``add_training`` the ones kept, for ``training_repeats``)."""

    def __init__(self, scratch: str | None = None):
        self._folder = tempfile.TemporaryDirectory(prefix="origins-", dir=scratch)
        self._eval = _Index(self._folder.name, "eval")
        self._training = _Index(self._folder.name, "train")
        self.overlaps: Counter = Counter()  # "training corpus <- evaluation corpus" -> records quarantined

    def __enter__(self) -> "EvalOrigins":
        return self

    def __exit__(self, *exc) -> None:
        self._eval.close()
        self._training.close()
        self._folder.cleanup()

    def __len__(self) -> int:
        return self._eval.count

    def add(self, dataset: str, key: str, text: str) -> None:
        self._eval.add(dataset, key, text)

    def add_records(self, records: Iterable[tuple[str, Record]]) -> "EvalOrigins":
        """The origins of the evaluation records among ``records``; then ``freeze``."""
        for dataset, record in records:
            if record.role == "eval":
                for text in record.origins:
                    self.add(dataset, record.key, text)
        return self

    def freeze(self) -> "EvalOrigins":
        self._eval.freeze()
        return self

    def check(self, dataset: str, record: Record) -> Drop | None:
        """None for a record to keep; for a training record sharing an origin with evaluation data, its drop."""
        if record.role != "train" or not record.origins or not self._eval.count:
            return None
        for text in record.origins:
            for eval_dataset, eval_key, eval_text in self._eval.lookup(parse_origin(text)):
                self.overlaps[f"{dataset} <- {eval_dataset}"] += 1
                where = f"evaluation record {eval_key} of {eval_dataset}" if eval_dataset != PROTECTED else f"protected origin list ({eval_key})"
                return Drop(
                    STAGE, REASON,
                    f"{dataset}:{record.source}: origin {text} is also {eval_text}, {where}: kept out of training",
                    dataset=dataset, key=record.key, source=record.source,
                )
        return None

    def add_training(self, dataset: str, record: Record) -> None:
        """A training record that goes into the units: its origins, for ``training_repeats``."""
        if record.role == "train":
            for text in record.origins:
                self._training.add(dataset, record.key, text)

    def training_repeats(self) -> Counter:
        """Per pair of corpora (``pair_name``), the training records (of ``add_training``) whose origin
        a training record of the other corpus shares (another record of it, for a corpus with itself)."""
        self._training.freeze()
        shared: set[tuple[str, str, str]] = set()  # (dataset, key, the other record's dataset)
        for group in self._training.groups():
            for i, (start, end, offset) in enumerate(group):
                for other_start, _, other_offset in group[i + 1 :]:
                    if other_start >= end - EPSILON:
                        break  # sorted by start: no later stretch overlaps this one
                    dataset, key, text = self._training.details(offset)
                    other_dataset, other_key, other_text = self._training.details(other_offset)
                    if key != other_key and overlap(parse_origin(text), parse_origin(other_text)):
                        shared.update({(dataset, key, other_dataset), (other_dataset, other_key, dataset)})
        return Counter(pair_name(dataset, other) for dataset, _, other in shared)


def protected_origins(path: str) -> Iterator[tuple[str, str, str]]:
    """(corpus, key, origin) of a list of protected origins: a text file of one origin a line (``#``
    comments; corpus ``protected``, key ``FILE:LINE``), or another run's output folder (the origins of
    its evaluation records, from its manifests)."""
    if os.path.isdir(path):
        folder = os.path.dirname(outputs.manifest_path(path, "x"))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"protected origins {path}: a folder without {folder}/ is not a run's output")
        for name in sorted(os.listdir(folder)):
            if name.endswith(".parquet"):
                for record in iter_manifest(os.path.join(folder, name)):
                    if record.role == "eval":
                        yield from ((record.dataset, record.key, text) for text in record.origins)
        return
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            text = line.split("#", 1)[0].strip()
            if text:
                yield PROTECTED, f"{os.path.basename(path)}:{number}", text
