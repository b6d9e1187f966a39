"""Sample keys: stable across runs, unique across corpora, safe as WebDataset/tar member stems.

A key is ``{dataset}-{corpus key}`` restricted to ``[A-Za-z0-9_-]``: WebDataset splits a member
name at its first dot, and a slash would make a folder. When a corpus key has to be changed to fit,
a short hash of the original is appended so two different originals never collide.
"""
from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_UNSAFE_LINES = re.compile(r"[^A-Za-z0-9_\n-]")  # the same, over keys joined by newlines
MAX_LENGTH = 160


def sample_key(dataset: str, corpus_key: str) -> str:
    return sample_keys(dataset, [corpus_key])[0]


def sample_keys(dataset: str, corpus_keys: list[str]) -> list[str]:
    """``sample_key`` of each corpus key; a batch whose keys all fit as they are is checked at once."""
    joined = "\n".join(corpus_keys)
    if (
        not _UNSAFE_LINES.search(joined) and joined.count("\n") == len(corpus_keys) - 1  # no key holds a newline
        and "_\n" not in joined + "\n" and not dataset.startswith("_")  # nor ends in "_" (stripped)
        and len(dataset) + 1 + max(map(len, corpus_keys), default=0) <= MAX_LENGTH and not _UNSAFE.search(dataset)
    ):
        prefix = f"{dataset}-"
        return [prefix + key for key in corpus_keys]
    return [_sample_key(dataset, key) for key in corpus_keys]


def _sample_key(dataset: str, corpus_key: str) -> str:
    raw = f"{dataset}-{corpus_key}"
    safe = _UNSAFE.sub("_", raw).strip("_")
    if safe != raw or len(safe) > MAX_LENGTH:
        digest = hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        safe = f"{safe[: MAX_LENGTH - 11]}-{digest}"
    return safe


def window_key(key: str, start: float) -> str:
    """Key of the window of ``key`` starting at ``start`` seconds (stable: centisecond precision)."""
    return f"{key}-w{round(start * 100):07d}"


def order_key(seed: int, key: str) -> str:
    """Position of a sample in the deterministic shuffle: a hash of the seed and its key."""
    return hashlib.blake2b(f"{seed}:{key}".encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def unit_fraction(seed: int, key: str, purpose: str) -> float:
    """A uniform number in [0, 1) derived from the key: deterministic sampling decisions."""
    digest = hashlib.blake2b(f"{purpose}:{seed}:{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def jump_bucket(key: int, buckets: int) -> int:
    """Jump consistent hash (Lamping and Veach, 2014): growing from n to n+1 buckets moves only
    1/(n+1) of the keys, so adding a corpus reshuffles as little of the existing shards as possible."""
    key &= 0xFFFFFFFFFFFFFFFF
    bucket, jump = -1, 0
    while jump < buckets:
        bucket = jump
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        jump = int((bucket + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return bucket
