"""A finished run's sets and their shards, read back: the shard list of a set, and a shard's samples.

A set is a shard group of the index (``train``, ``eval/NAME/SPLIT``). A shard's samples come in tar
order, each its key, FLAC bytes and parsed JSON, read straight from the file without unpacking it.
A run in ``s3://`` is read through a scratch folder, one shard at a time (``RunFiles``).
"""
from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from pipelines.core import outputs
from pipelines.core.atomic import read_json
from pipelines.core.remote import Mirror, is_remote


@dataclass(frozen=True)
class ShardEntry:
    """One shard of the index: ``path`` relative to the run's folder."""

    path: str
    group: str
    samples: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class RawSample:
    """A sample as the shard holds it: nothing decoded but the JSON."""

    key: str
    flac: bytes
    meta: dict


class RunError(RuntimeError):
    """The run cannot be read: not finished, or no such set."""


def iter_samples(path: str) -> Iterator[RawSample]:
    """The samples of the shard at ``path`` in tar order (members ``{key}.flac`` and ``{key}.json``)."""
    with tarfile.open(path, "r:") as tar:
        key, members = None, {}
        for member in tar:
            stem, _, ext = member.name.partition(".")
            if stem != key and key is not None:
                yield _sample(path, key, members)
                members = {}
            key = stem
            members[ext] = tar.extractfile(member).read()
        if key is not None:
            yield _sample(path, key, members)


def _sample(path: str, key: str, members: dict[str, bytes]) -> RawSample:
    if "flac" not in members or "json" not in members:
        raise RunError(f"{path}: sample {key} has members {sorted(members)}, expected flac and json")
    return RawSample(key, members["flac"], json.loads(members["json"]))


class RunFiles:
    """The published files of a finished run in a folder or in ``s3://`` (fetched to a scratch folder)."""

    def __init__(self, out: str, scratch: str | None = None):
        self.uri = out if is_remote(out) else None
        self.root = scratch if self.uri else out
        self.mirror = Mirror(self.root, self.uri)
        index_path = os.path.join(self.root, outputs.INDEX)
        if not self.mirror.fetch(index_path):
            raise RunError(f"{out} has no {outputs.INDEX}: the run has not finished (or this is not a run's output)")
        self.shards = [
            ShardEntry(s["path"], s["group"], s["samples"], s["bytes"], s["sha256"]) for s in read_json(index_path)["shards"]
        ]

    def sets(self) -> list[str]:
        """Every set of the run, the training set first."""
        return sorted({s.group for s in self.shards}, key=lambda g: (g != "train", g))

    def set_shards(self, group: str) -> list[ShardEntry]:
        chosen = [s for s in self.shards if s.group == group]
        if not chosen:
            raise RunError(f"the run has no set {group!r}; its sets: {', '.join(self.sets())}")
        return chosen

    def shard_stats(self) -> dict[str, dict]:
        """``stats.json``'s counters of every shard (views per task...), by shard path; {} when absent."""
        path = os.path.join(self.root, outputs.STATS)
        return read_json(path)["shards"] if self.mirror.fetch(path) else {}

    @contextmanager
    def local(self, entry: ShardEntry):
        """The shard as a local path; a fetched copy is removed afterwards (the disk stays flat)."""
        path = os.path.join(self.root, entry.path)
        if not self.mirror.fetch(path):
            raise RunError(f"{entry.path} is listed in the index but missing")
        try:
            yield path
        finally:
            if self.uri is not None:
                os.remove(path)


@contextmanager
def open_run(out: str):
    """``RunFiles`` of ``out``; for ``s3://`` with a scratch folder removed at the end."""
    if not is_remote(out):
        yield RunFiles(out)
        return
    scratch = tempfile.mkdtemp(prefix="audioprep-read-")
    try:
        yield RunFiles(out, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
