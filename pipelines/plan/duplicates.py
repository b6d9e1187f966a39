"""Duplicates within a corpus and across the corpora of a run: found at planning, first occurrence wins.

The order is deterministic: datasets in the run's order, each one's records in its manifest's order
(the reader's sorted order). A later record is quarantined (stage ``plan``) naming both sources when

* ``duplicate_key``: its sample key is an earlier record's. Within a corpus, two metadata rows
  giving the same key (two tar members of one name would shadow each other); across corpora, two
  keys that happen to spell the same (dataset ``a`` with key ``b-c``, dataset ``a-b`` with key ``c``).
* ``duplicate_example``: under another key, it is the very same training example as an earlier
  record: the same audio (the same file under the same resolved root, same span, same channel),
  the same transcript, captions, labels, translation and languages, and the same tasks. The same
  corpus given twice under two names, or two corpora that ship the same clips with the same text.

The same audio with different content is not a duplicate and is kept: Common Voice's transcript
and CoVoST 2's translation of one clip, several questions about one clip, several segments of one
recording. Memory: the first pass keeps one 8-byte digest per record and identity (numpy, sorted)
up to ``SPILL_DIGESTS``; a larger run spills them to ``PARTITIONS`` files by their top bits and
finds the repeated ones partition by partition, so memory stays bounded however many records the
run has. The digests are also written in order to a scratch file, which the second pass reads back:
it recomputes a record's identity only where its digest occurs more than once, remembers identity
and source only of those, and compares identities exactly (a digest collision never drops a record).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Iterable

import numpy as np

from pipelines.core.record import Drop, Record

STAGE = "plan"
#: digests held in memory before the first pass spills them to disk (8 bytes each: 16 MiB, a
#: million records); below it, nothing touches the disk
SPILL_DIGESTS = 1 << 21
#: a spilled first pass is split into 2**PARTITION_BITS files by the digests' top bits (uniform: hashes)
PARTITION_BITS = 8
PARTITIONS = 1 << PARTITION_BITS
#: what each record is digested for, in this order
REASONS = ("duplicate_key", "duplicate_example")


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def _example(record: Record, root: str, tasks: tuple[str, ...]) -> str:
    return json.dumps(
        [
            os.path.normpath(os.path.join(root, record.audio)), record.offset, record.duration, record.channel,
            record.language, record.text_language, record.text, list(record.captions), sorted(record.labels.items()),
            record.translation, record.translation_language, list(tasks),
        ],
        ensure_ascii=False,
    )


class Duplicates:
    """``find`` reads every record once; ``check`` then answers, in the same order, which are duplicates."""

    def __init__(self, roots: dict[str, dict[str | None, str]], tasks: dict[str, tuple[str, ...]], scratch: str | None = None):
        """``scratch``: a folder for the first pass's digests (default: the system's temporary folder);
        they are kept until ``close`` (or the end of a ``with`` block)."""
        self.roots = {name: {k: _resolved(v) for k, v in r.items()} for name, r in roots.items()}
        self.tasks = tasks
        self.scratch = scratch
        self.repeated: set[int] = set()
        self.first: dict[int, tuple[str, str]] = {}  # digest -> (identity, "dataset:source")
        self._folder: tempfile.TemporaryDirectory | None = None
        self._sequence = None  # the first pass's digests in order, read back by ``check``
        self._pending = np.empty(0, dtype=np.uint64)

    def __enter__(self) -> "Duplicates":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._sequence is not None:
            self._sequence.close()
            self._sequence = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def _identity(self, reason: str, dataset: str, record: Record) -> str:
        if reason == "duplicate_key":
            return "key\0" + record.key
        root = self.roots[dataset].get(record.audio_root, self.roots[dataset][None])
        return "example\0" + _example(record, root, self.tasks[dataset])

    def find(self, records: Iterable[tuple[str, Record]]) -> "Duplicates":
        """Digest every record's identities (in order, kept on disk for ``check``) and find the repeated ones."""
        self.close()
        self._folder = tempfile.TemporaryDirectory(prefix="duplicates-", dir=self.scratch)
        sequence_path = os.path.join(self._folder.name, "sequence.u64")

        def chunks(sequence):
            chunk = []
            for dataset, record in records:
                chunk.extend(_digest(self._identity(reason, dataset, record)) for reason in REASONS)
                if len(chunk) >= 1 << 16:
                    yield _written(np.array(chunk, dtype=np.uint64), sequence)
                    chunk = []
            yield _written(np.array(chunk, dtype=np.uint64), sequence)

        with open(sequence_path, "wb") as sequence:
            self.repeated = find_repeated(chunks(sequence), self._folder.name)
        self._sequence = open(sequence_path, "rb")
        self._pending = np.empty(0, dtype=np.uint64)
        return self

    def _next_digests(self, dataset: str, record: Record) -> list[int]:
        """The first pass's digests of this record, read back in order (no identity is recomputed)."""
        if len(self._pending) < len(REASONS):
            more = np.fromfile(self._sequence, dtype=np.uint64, count=1 << 16)
            self._pending = np.concatenate([self._pending, more])
        digests, self._pending = self._pending[: len(REASONS)].tolist(), self._pending[len(REASONS) :]
        if len(digests) < len(REASONS) or digests[0] != _digest(self._identity("duplicate_key", dataset, record)):
            raise RuntimeError(f"{dataset}:{record.source}: check() called for a record find() did not see in this order")
        return digests

    def check(self, dataset: str, record: Record) -> Drop | None:
        """None for a record to keep; a drop naming the earlier kept record's source for a duplicate.

        Call it once per record, in the order ``find`` saw them. Only kept records are remembered,
        so a duplicate never makes a later record a duplicate of something that was not written.
        A record's identities are recomputed only where its digest is one of the repeated ones."""
        if not self.repeated:
            return None
        here = f"{dataset}:{record.source}"
        mine = []
        for reason, digest in zip(REASONS, self._next_digests(dataset, record)):
            if digest not in self.repeated:
                continue
            identity = self._identity(reason, dataset, record)
            earlier = self.first.get(digest)
            if earlier is not None and earlier[0] == identity:
                what = f"key {record.key}" if reason == "duplicate_key" else f"the same audio ({record.audio}) with the same content and tasks"
                return Drop(
                    STAGE, reason, f"{here}: {what} was already given by {earlier[1]}; the first occurrence is kept",
                    dataset=dataset, key=record.key, source=record.source,
                )
            mine.append((digest, identity))
        for digest, identity in mine:
            self.first.setdefault(digest, (identity, here))
        return None


def _written(digests: np.ndarray, handle) -> np.ndarray:
    digests.tofile(handle)
    return digests


def find_repeated(chunks: Iterable[np.ndarray], folder: str) -> set[int]:
    """The digests that occur more than once among ``chunks`` (uint64 arrays, not modified): held in
    memory up to ``SPILL_DIGESTS``, beyond that spilled to partition files in ``folder``."""
    spill, kept, held = _Partitions(folder), [], 0
    for chunk in chunks:
        kept.append(chunk)
        held += len(chunk)
        if held >= SPILL_DIGESTS:
            spill.add(np.concatenate(kept))
            kept, held = [], 0
    if spill.used:
        if kept:
            spill.add(np.concatenate(kept))
        return spill.repeated()
    return _repeated(np.concatenate(kept)) if kept else set()


def _repeated(digests: np.ndarray) -> set[int]:
    """The digests that occur more than once."""
    digests = np.sort(digests)
    same = digests[1:] == digests[:-1]
    return {int(d) for d in np.unique(digests[1:][same])}


class _Partitions:
    """Digests spilled to ``PARTITIONS`` files by their top bits: equal digests share a file, so each
    file is searched for repeats on its own, one file in memory at a time."""

    #: the smallest digest of each partition but the first
    EDGES = np.arange(1, PARTITIONS, dtype=np.uint64) << np.uint64(64 - PARTITION_BITS)

    def __init__(self, folder: str):
        self.folder = folder
        self.used = False

    def _path(self, part: int) -> str:
        return os.path.join(self.folder, f"{part:03d}.u64")

    def add(self, digests: np.ndarray) -> None:
        """Append ``digests`` (sorted in place: no copy) to their partitions' files."""
        self.used = True
        digests.sort()
        bounds = [0, *np.searchsorted(digests, self.EDGES).tolist(), len(digests)]
        for part in range(PARTITIONS):
            if bounds[part] < bounds[part + 1]:
                with open(self._path(part), "ab") as handle:
                    handle.write(digests[bounds[part] : bounds[part + 1]].tobytes())

    def repeated(self) -> set[int]:
        found: set[int] = set()
        for part in range(PARTITIONS):
            if os.path.exists(self._path(part)):
                found |= _repeated(np.fromfile(self._path(part), dtype=np.uint64))
        return found


def _resolved(root: str) -> str:
    return root if "://" in root else os.path.realpath(root)
