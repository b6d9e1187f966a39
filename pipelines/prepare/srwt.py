"""SRWT targets: the transcript's units between time tokens (spec section 5, docs/long-form.md).

``<|t0|>w1<|t1|>w2...wN<|tN|>``: N units, N+1 time tokens, neighbours sharing a boundary; times
relative to the window start, rounded to 0.01 s, non-decreasing, within 0.00-30.00. A pause longer
than ``sil_threshold`` is a unit of its own, ``<|sil|>``; a shorter pause is split at its middle
between the two words around it. The target starts at ``<|0.00|>`` (as in Qwen-Audio's SRWT
evaluation): leading silence is a ``<|sil|>`` unit when long enough, else part of the first word.

Units are the transcript's own words, punctuation attached (other languages), or its characters
(Chinese, Japanese: a Latin word inside stays one unit). Word times come from the corpus or an
aligner as (word, start, end); they are paired with the units by position after both are reduced to
letters and digits, so a transcript and an alignment that disagree are refused, never guessed.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tag_builder.vocabulary import time_token

from pipelines.core.record import Refusal

#: Languages whose SRWT units are characters.
CHARACTER_LANGUAGES = frozenset({"zh", "zh_tr", "ja"})
#: Default: a pause longer than this (seconds) becomes a <|sil|> unit.
SIL_THRESHOLD = 0.3
MAX_TIME = 30.0
_LATIN_RUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.\-]*")


class SrwtError(Refusal, ValueError):
    """No SRWT target for this record."""


def match_key(text: str) -> str:
    """A unit or aligned word reduced to lower-case letters and digits (how the two are paired)."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())


def units(text: str, language: str) -> list[str]:
    """The transcript's SRWT units in order: words, or characters for Chinese and Japanese.

    Punctuation is no unit: it stays attached to the unit before it (or the one after, at the start).
    """
    if language in CHARACTER_LANGUAGES:
        pieces: list[str] = []
        for token in text.split():
            position = 0
            while position < len(token):
                latin = _LATIN_RUN.match(token, position)
                if latin:
                    pieces.append(latin.group())
                    position = latin.end()
                else:
                    pieces.append(token[position])
                    position += 1
    else:
        pieces = text.split()
    out: list[str] = []
    pending = ""
    for piece in pieces:
        if match_key(piece):
            out.append(pending + piece)
            pending = ""
        elif out:
            out[-1] += piece if language in CHARACTER_LANGUAGES else " " + piece
        else:
            pending += piece if language in CHARACTER_LANGUAGES else piece + " "
    if pending and out:
        out[0] = pending + out[0]
    return out


@dataclass(frozen=True)
class Timed:
    unit: str
    start: float
    end: float


def pair(unit_list: list[str], words: list[tuple[str, float, float]], language: str) -> list[Timed]:
    """Units paired with word times by position; refused when the two do not spell the same text.

    For character languages a word of several characters (a corpus alignment by word) is matched
    against as many units; its time is then only known for the word, so it is refused rather than
    divided: ``words_not_units``.
    """
    keys = [match_key(u) for u in unit_list]
    timed_words = [(w, a, b) for w, a, b in words if match_key(w)]
    if len(timed_words) != len(keys):
        if language in CHARACTER_LANGUAGES and "".join(match_key(w) for w, _, _ in timed_words) == "".join(keys):
            raise SrwtError("words_not_units", "word times are per word; Chinese SRWT units are characters (needs character times)")
        raise SrwtError(
            "words_mismatch",
            f"{len(timed_words)} timed words for {len(keys)} units of the transcript",
        )
    out = []
    for unit, key, (word, start, end) in zip(unit_list, keys, timed_words):
        if match_key(word) != key:
            raise SrwtError("words_mismatch", f"timed word {word!r} where the transcript has {unit!r}")
        if not (end >= start):
            raise SrwtError("bad_word_times", f"word {word!r} ends at {end} before it starts at {start}")
        out.append(Timed(unit, start, end))
    return out


def _centis(seconds: float, limit: int) -> int:
    return min(max(round(seconds * 100), 0), limit)


def target(timed: list[Timed], duration: float, sil_threshold: float = SIL_THRESHOLD) -> str:
    """The SRWT target of timed units in a window of ``duration`` seconds (times from its start)."""
    if not timed:
        raise SrwtError("empty_target", "no units to time")
    if duration > MAX_TIME + 1e-6:
        raise SrwtError("too_long", f"a window of {duration:.2f} s is longer than the 30 s of time tokens")
    limit = _centis(duration, 3000)
    threshold = round(sil_threshold * 100)
    for a, b in zip(timed, timed[1:]):
        if b.start < a.start - 1e-6:
            raise SrwtError("bad_word_times", f"{b.unit!r} at {b.start:.2f} s starts before {a.unit!r} at {a.start:.2f} s")
    # boundaries in centiseconds, as (position, unit after it); non-decreasing by construction
    pieces: list[str] = []
    first = _centis(timed[0].start, limit)
    if first > threshold:
        pieces += [time_token(0.0), "<|sil|>", time_token(first / 100)]
    else:
        pieces.append(time_token(0.0))
    last = 0
    for index, item in enumerate(timed):
        pieces.append(item.unit)
        end = max(_centis(item.end, limit), last)
        if index + 1 < len(timed):
            nxt = max(_centis(timed[index + 1].start, limit), end)
            if nxt - end > threshold:
                pieces += [time_token(end / 100), "<|sil|>", time_token(nxt / 100)]
                last = nxt
            else:
                last = max((end + nxt) // 2 if nxt >= end else end, last)
                pieces.append(time_token(last / 100))
        else:
            if limit - end > threshold:
                pieces += [time_token(end / 100), "<|sil|>", time_token(limit / 100)]
            else:
                pieces.append(time_token(end / 100))
    return "".join(pieces)


def srwt_target(text: str, language: str, words, duration: float, sil_threshold: float = SIL_THRESHOLD) -> str:
    """The SRWT target of a transcript with its word times (seconds from the window start)."""
    unit_list = units(text, language)
    return target(pair(unit_list, list(words), language), duration, sil_threshold)
