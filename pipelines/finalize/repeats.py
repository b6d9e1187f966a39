"""Audio written twice: samples whose 16 kHz PCM is bit-identical, in training and evaluation or across corpora.

Every written sample's JSON holds the sha256 of its 16 kHz int16 samples (``pcm_sha256``, computed
while encoding), and each shard's completion record keeps ``[digest, dataset, key]`` of its samples
(``accounting.audio_entry``; repeats made by corpus weighting left out). Two passes over those lists
find the audio that occurs more than once, with bounded memory: the first keeps one 8-byte digest
per sample (spilled to partition files past ``duplicates.SPILL_DIGESTS``, as planning does), the
second remembers only the samples whose digest is repeated and groups them by their full digest.

A group is reported when it joins training and evaluation samples (a leak of identical audio, even
within one corpus) or samples of different corpora. Samples of one corpus and role that share audio
(several questions about one clip, a transcript and a translation of it) are the corpus's design and
are not reported. The hash finds bit-identical audio only: the same sound cut, resampled or gained
differently hashes apart (origins, ``plan/leaks.py``, catch those where the schemas declare them).
"""
from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from pipelines.plan.duplicates import find_repeated

#: groups listed by name in summary.json (all of them are counted); ``audioprep verify --duplicates`` lists every one
EXAMPLES = 20

#: (PCM digest as hex, role, dataset, key) of one written sample
Entry = tuple[str, str, str, str]


@dataclass
class RepeatedAudio:
    """The groups of samples with identical audio worth reporting, and their count per pair of sets."""

    groups: list[list[tuple[str, str, str]]] = field(default_factory=list)  # each sorted: (role, dataset, key)
    digests: list[str] = field(default_factory=list)  # each group's digest
    pairs: Counter = field(default_factory=Counter)  # "train a = eval b" -> groups joining them

    def summary(self) -> dict:
        """What summary.json holds: the count per pair, the number of groups and the first ``EXAMPLES``."""
        return {
            "pairs": dict(sorted(self.pairs.items())),
            "groups": len(self.groups),
            "examples": [
                {"pcm_sha256": digest, "samples": [f"{role} {dataset} {key}" for role, dataset, key in group]}
                for digest, group in list(zip(self.digests, self.groups))[:EXAMPLES]
            ],
        }


def _short(digest: str) -> int:
    return int(digest[:16], 16)


def _chunks(entries: Iterable[Entry]) -> Iterable[np.ndarray]:
    chunk: list[int] = []
    for entry in entries:
        chunk.append(_short(entry[0]))
        if len(chunk) >= 1 << 16:
            yield np.array(chunk, dtype=np.uint64)
            chunk = []
    yield np.array(chunk, dtype=np.uint64)


def pair_name(a: tuple[str, str], b: tuple[str, str]) -> str:
    """``"train a = eval b"``: the two (role, dataset) sets in sorted order."""
    first, second = sorted((a, b))
    return f"{first[0]} {first[1]} = {second[0]} {second[1]}"


def find_repeated_audio(entries: Callable[[], Iterable[Entry]], scratch: str | None = None) -> RepeatedAudio:
    """The reported groups of identical audio among ``entries()`` (called twice: two passes, same order)."""
    with tempfile.TemporaryDirectory(prefix="repeats-", dir=scratch) as folder:
        repeated = find_repeated(_chunks(entries()), folder)
    found = RepeatedAudio()
    if not repeated:
        return found
    members: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for digest, role, dataset, key in entries():
        if _short(digest) in repeated:
            members[digest].append((role, dataset, key))
    for digest in sorted(members):
        group = sorted(set(members[digest]))
        sets = sorted({(role, dataset) for role, dataset, _ in group})
        if len(sets) > 1:  # more than one set: training and evaluation, or two corpora
            found.groups.append(group)
            found.digests.append(digest)
            found.pairs.update({pair_name(a, b) for i, a in enumerate(sets) for b in sets[i + 1:]})
    return found
