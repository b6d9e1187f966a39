"""Transcript clean-up shared by every language: Unicode NFKC, no control or zero-width
characters, whitespace folded. Language-specific rules build on these named steps."""
from __future__ import annotations

import re
import unicodedata

_INVISIBLE = re.compile(r"[\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_SPACE = re.compile(r"\s+")


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def strip_controls(text: str) -> str:
    text = _INVISIBLE.sub("", text)
    return "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\t\n" else " " for ch in text)


def fold_whitespace(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


#: The basic steps, in order, by name.
BASIC_STEPS = (("nfkc", nfkc), ("strip_controls", strip_controls), ("fold_whitespace", fold_whitespace))


def clean(text: str) -> str:
    for _, step in BASIC_STEPS:
        text = step(text)
    return text
