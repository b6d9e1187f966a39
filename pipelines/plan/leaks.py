"""Evaluation clips kept out of training: a training record whose origin is an evaluation record's is quarantined.

One source clip often lies in several corpora (AudioSet YouTube clips in AudioCaps and MusicCaps,
Freesound clips in Clotho, FSD50K and ESC-50, LibriVox recordings in LibriSpeech, MLS and
LibriMix). Split names cannot tell; origins can (``core/origins.py``). Planning first indexes the
origins of every evaluation record of the run, and of the origins the run config protects (a file
of origins, or another run's output: ``protected_origins``); then, while partitioning, a training
record with an origin overlapping one of them is quarantined as ``eval_leak`` (stage ``plan``),
naming the evaluation corpus, its key and both origins, and counted per pair of corpora.

Memory: per evaluation origin, an 8-byte digest of its identity, its stretch (two floats) and the
offset of its details in a scratch file: the names are read back only for a record that matches.
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
from pipelines.core.origins import Origin, overlap, parse_origin
from pipelines.core.record import Drop, Record
from pipelines.ingest.manifest import iter_manifest

STAGE = "plan"
REASON = "eval_leak"
#: the corpus name a protected origin is reported under when it comes from a list of origins
PROTECTED = "protected"


def _digest(identity: str) -> int:
    return int.from_bytes(hashlib.blake2b(identity.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


class EvalOrigins:
    """The origins no training record may share: ``add`` them, ``freeze``, then ``check`` each training record."""

    def __init__(self, scratch: str | None = None):
        self._folder = tempfile.TemporaryDirectory(prefix="origins-", dir=scratch)
        self._details = open(os.path.join(self._folder.name, "details.jsonl"), "w+b")
        self._columns = {"digest": array("Q"), "start": array("d"), "end": array("d"), "offset": array("Q")}
        self._arrays: dict[str, np.ndarray] = {}
        self.overlaps: Counter = Counter()  # "training corpus <- evaluation corpus" -> records quarantined

    def __enter__(self) -> "EvalOrigins":
        return self

    def __exit__(self, *exc) -> None:
        self._details.close()
        self._folder.cleanup()

    def __len__(self) -> int:
        return len(self._columns["digest"])

    def add(self, dataset: str, key: str, text: str) -> None:
        origin = parse_origin(text)
        columns = self._columns
        columns["digest"].append(_digest(origin.identity))
        columns["start"].append(origin.start)
        columns["end"].append(origin.end)
        columns["offset"].append(self._details.tell())
        self._details.write(json.dumps([dataset, key, text], ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n")

    def add_records(self, records: Iterable[tuple[str, Record]]) -> "EvalOrigins":
        """The origins of the evaluation records among ``records``; then ``freeze``."""
        for dataset, record in records:
            if record.role == "eval":
                for text in record.origins:
                    self.add(dataset, record.key, text)
        return self

    def freeze(self) -> "EvalOrigins":
        order = np.argsort(np.frombuffer(self._columns["digest"], dtype=np.uint64), kind="stable")
        self._arrays = {name: np.frombuffer(column, dtype=np.uint64 if name in ("digest", "offset") else np.float64)[order]
                        for name, column in self._columns.items()}
        self._columns = {name: array(column.typecode) for name, column in self._columns.items()}
        self._details.flush()
        return self

    def _matches(self, origin: Origin) -> Iterator[tuple[str, str, str]]:
        digests = self._arrays["digest"]
        digest = np.uint64(_digest(origin.identity))
        lo, hi = np.searchsorted(digests, digest, "left"), np.searchsorted(digests, digest, "right")
        for i in range(lo, hi):
            if max(origin.start, self._arrays["start"][i]) >= min(origin.end, self._arrays["end"][i]):
                continue
            self._details.seek(int(self._arrays["offset"][i]))
            dataset, key, text = json.loads(self._details.readline())
            if overlap(origin, parse_origin(text)):  # exact: a digest collision never drops a record
                yield dataset, key, text

    def check(self, dataset: str, record: Record) -> Drop | None:
        """None for a record to keep; for a training record sharing an origin with evaluation data, its drop."""
        if record.role != "train" or not record.origins or not self._arrays.get("digest", np.empty(0)).size:
            return None
        for text in record.origins:
            for eval_dataset, eval_key, eval_text in self._matches(parse_origin(text)):
                self.overlaps[f"{dataset} <- {eval_dataset}"] += 1
                where = f"evaluation record {eval_key} of {eval_dataset}" if eval_dataset != PROTECTED else f"protected origin list ({eval_key})"
                return Drop(
                    STAGE, REASON,
                    f"{dataset}:{record.source}: origin {text} is also {eval_text}, {where}: kept out of training",
                    dataset=dataset, key=record.key, source=record.source,
                )
        return None


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
