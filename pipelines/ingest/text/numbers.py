"""Numbers spelled out as words, for corpora whose schema asks (``normalize.numbers: spoken``).

Only standalone numbers are rewritten (``1990``, ``2.5``, ``1,000``; not ``mp3`` or ``COVID19``),
as cardinals: the text cannot say whether ``1990`` is a year. num2words spells en/de/es/fr/it/ja/ko,
cn2an spells Chinese; both are maintained libraries. Decimal and grouping separators follow the
language (``2,5`` is two and a half in German, ``1,000`` a thousand in English). English words are
written the way spoken-form corpora write them: no commas, no hyphens ("twenty one").
"""
from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from typing import Callable

#: languages whose decimal separator is a comma (and whose digit groups are separated by dots)
COMMA_DECIMALS = frozenset({"de", "es", "fr", "it"})
NUM2WORDS = {"en": "en", "de": "de", "es": "es", "fr": "fr", "it": "it", "ja": "ja", "ko": "ko"}
NO_SPACES = frozenset({"zh", "zh_tr", "ja"})


@lru_cache(maxsize=16)
def _pattern(language: str) -> re.Pattern[str]:
    decimal, group = (",", ".") if language in COMMA_DECIMALS else (".", ",")
    d, g = re.escape(decimal), re.escape(group)
    # a number glued to letters is part of a word; in Chinese and Japanese, Han and kana are not letters here
    word = "A-Za-z0-9_" if language in NO_SPACES else "\\w"
    return re.compile(rf"(?<![{word}{d}{g}])(\d{{1,3}}(?:{g}\d{{3}})+|\d+)(?:{d}(\d+))?(?![{word}]|{d}\d|{g}\d)")


def _words(language: str, whole: str, fraction: str | None) -> str:
    number = Decimal(f"{whole}.{fraction}") if fraction else int(whole)
    if language in ("zh", "zh_tr"):
        import cn2an

        words = cn2an.an2cn(str(number))
        if language == "zh_tr":
            from pipelines.ingest.text.chinese import to_traditional

            words = to_traditional(words)
        return words
    from num2words import num2words

    words = num2words(number, lang=NUM2WORDS[language])
    if language == "en":
        words = words.replace(",", "").replace("-", " ")
    return words


def speller(language: str) -> Callable[[str], str]:
    """The ``spell_numbers`` step for ``language``; raises for a language it cannot spell."""
    if language not in NUM2WORDS and language not in ("zh", "zh_tr"):
        raise ValueError(f"numbers cannot be spelled out in {language!r}")
    pattern = _pattern(language)
    group = "." if language in COMMA_DECIMALS else ","
    joiner = "" if language in NO_SPACES else " "

    def spell_numbers(text: str) -> str:
        if not any(ch.isdigit() for ch in text):
            return text
        spelled = pattern.sub(lambda m: f"{joiner}{_words(language, m.group(1).replace(group, ''), m.group(2))}{joiner}", text)
        return re.sub(r"\s+", " ", spelled).strip() if joiner else spelled

    return spell_numbers
