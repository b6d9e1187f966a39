"""Corpus markup, as the schema's ``normalize`` section declares it: tags mapped to punctuation or
removed, tags that make a transcript unusable, and any tag left over (which the schema forgot)."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: What still looks like markup after mapping: <NOISE>, <unk>, [laughter]-style tags are not
#: guessed at; only angle-bracket tags, which no transcript spells on purpose.
LEFTOVER = re.compile(r"<[^<>\s]{1,40}>")


@lru_cache(maxsize=256)
def _compiled(markup: tuple[tuple[str, str], ...]) -> tuple[re.Pattern | None, dict[str, str]]:
    table = {unicodedata.normalize("NFKC", tag): value for tag, value in markup}
    if not table:
        return None, table
    alternatives = sorted(table, key=lambda tag: (-len(tag), tag))  # longest first: <SIL> before <S
    return re.compile("|".join(map(re.escape, alternatives))), table


def map_markup(text: str, markup: dict[str, str]) -> str:
    """Replace every markup spelling by its mapping; a removed tag leaves a space (folded later)."""
    pattern, table = _compiled(tuple(sorted(markup.items())))
    if pattern is None:
        return text
    return pattern.sub(lambda m: f" {table[m.group(0)]} ", text)


def find_refused(text: str, refuse: list[str]) -> list[str]:
    """The refused markup spellings present in ``text``, in the schema's order."""
    return [tag for tag in refuse if unicodedata.normalize("NFKC", tag) in text]


def leftover_tags(text: str) -> list[str]:
    return sorted(set(LEFTOVER.findall(text)))
