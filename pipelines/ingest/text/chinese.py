"""Chinese script: Traditional characters to Simplified, or told apart to be tagged <|zh_tr|>.

OpenCC's ``t2s`` configuration converts characters and fixed character sequences, not vocabulary
(``軟體`` becomes ``软体``, not ``软件``): the transcript keeps the words that were spoken.
"""
from __future__ import annotations

import re
from functools import lru_cache

from pipelines.ingest.text.punctuation import HAN

_HAN = re.compile(f"[{HAN}]")


@lru_cache(maxsize=2)
def _converter(config: str):
    try:
        import opencc
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImportError("Chinese normalization needs OpenCC: pip install 'opencc>=1.1'") from exc
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional characters to Simplified (OpenCC t2s); Simplified text comes back unchanged."""
    return _converter("t2s").convert(text) if _HAN.search(text) else text


def to_traditional(text: str) -> str:
    """Simplified characters to Traditional (OpenCC s2t)."""
    return _converter("s2t").convert(text) if _HAN.search(text) else text


def _changed(before: str, after: str) -> int:
    return sum(a != b for a, b in zip(before, after)) + abs(len(before) - len(after))


def is_traditional(text: str) -> bool:
    """More characters that only Traditional writing uses than characters only Simplified uses."""
    if not _HAN.search(text):
        return False
    return _changed(text, to_simplified(text)) > _changed(text, _converter("s2t").convert(text))
