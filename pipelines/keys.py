"""Sample keys: stable across runs, unique across corpora, safe as WebDataset/tar member stems.

A key is ``{dataset}-{corpus key}`` restricted to ``[A-Za-z0-9_-]``: WebDataset splits a member
name at its first dot, and a slash would make a folder. When a corpus key has to be changed to fit,
a short hash of the original is appended so two different originals never collide.
"""
from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
MAX_LENGTH = 160


def sample_key(dataset: str, corpus_key: str) -> str:
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
