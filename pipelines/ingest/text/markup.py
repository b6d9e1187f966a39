"""Corpus markup, as the schema's ``normalize`` section declares it: tags mapped to punctuation or
removed, tags that make a transcript unusable, and any tag left over (which the schema forgot)."""
from __future__ import annotations

import re
import unicodedata
from typing import Callable

#: What still looks like markup after mapping. Only angle-bracket tags (<NOISE>, <unk>) are caught:
#: no transcript spells them on purpose, whereas [brackets] and {braces} can be real text.
LEFTOVER = re.compile(r"<[^<>\s]{1,40}>")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def mapper(markup: dict[str, str]) -> Callable[[str], str]:
    """A step replacing every markup spelling by its mapping; a removed tag leaves a space (folded
    later), so that ``WORD<SIL>WORD`` does not glue two words together."""
    table = {_nfkc(tag): value for tag, value in markup.items()}
    alternatives = sorted(table, key=lambda tag: (-len(tag), tag))  # longest first: <SILENCE> before <SIL>
    pattern = re.compile("|".join(map(re.escape, alternatives)))

    def map_markup(text: str) -> str:
        return pattern.sub(lambda m: f" {table[m.group(0)]} ", text)

    return map_markup


def find_refused(text: str, refuse: list[str]) -> list[str]:
    """The refused markup spellings present in ``text``, in the schema's order."""
    return [tag for tag in refuse if _nfkc(tag) in text]


def leftover_tags(text: str) -> list[str]:
    return sorted(set(LEFTOVER.findall(text))) if "<" in text else []
