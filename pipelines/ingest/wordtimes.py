"""Word times a corpus ships, read at ingest into ``Record.words`` (seconds from the record's start).

Formats (schema section ``words``, docs/long-form.md):

* ``textgrid``: Praat TextGrid, as the Montreal Forced Aligner writes it (one file per utterance, a
  ``words`` tier; empty intervals are pauses), read with praatio;
* ``ctm``: NIST CTM, ``utterance channel start duration word [confidence]`` per line (Kaldi's
  ``get_ctm``, MFA's CTM export), many utterances per file; a file is parsed once per process;
* ``wrd``: TIMIT-style ``start end word`` per line, times in samples (``sample_rate``).

Kaldi-style ``segments`` files (utterance, recording, start, end) are segment times, not word times:
a schema reads them as its layout with ``offset``/``end`` (see docs/long-form.md).
"""
from __future__ import annotations

import os
from functools import lru_cache

from schemas.longform import WordTimes

from pipelines.core.record import Refusal

Words = tuple[tuple[str, float, float], ...]
#: Words aligners write for silence and noise, never transcript units.
NON_WORDS = frozenset({"", "<eps>", "sil", "<sil>", "sp", "spn", "<unk>", "[noise]", "[laughter]", "h#", "pau", "epi"})


class WordTimesError(Refusal, ValueError):
    """The word times a corpus ships for this record cannot be read or do not fit it."""


def _is_word(word: str) -> bool:
    return word.strip().lower() not in NON_WORDS


def read_textgrid(path: str, tier: str) -> Words:
    from praatio import textgrid
    from praatio.utilities.errors import PraatioException

    try:
        grid = textgrid.openTextgrid(path, includeEmptyIntervals=False)
    except (PraatioException, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise WordTimesError("bad_word_times", f"{path}: not a readable TextGrid ({type(exc).__name__}: {exc})") from None
    if tier not in grid.tierNames:
        raise WordTimesError("bad_word_times", f"{path}: no tier {tier!r} (tiers: {', '.join(grid.tierNames)})")
    entries = grid.getTier(tier).entries
    return tuple((label.strip(), float(start), float(end)) for start, end, label in entries if _is_word(label))


@lru_cache(maxsize=4)
def _ctm_file(path: str) -> dict[str, Words]:
    by_utterance: dict[str, list[tuple[str, float, float]]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if not parts or line.startswith(";;"):
                continue
            if len(parts) < 5:
                detail = f"{path}:{number}: a CTM line needs 'utterance channel start duration word'"
                raise WordTimesError("bad_word_times", detail)
            try:
                start, duration = float(parts[2]), float(parts[3])
            except ValueError:
                detail = f"{path}:{number}: start/duration {parts[2]!r} {parts[3]!r} are not numbers"
                raise WordTimesError("bad_word_times", detail) from None
            if _is_word(parts[4]):
                by_utterance.setdefault(parts[0], []).append((parts[4], start, round(start + duration, 6)))
    return {key: tuple(sorted(words, key=lambda w: w[1])) for key, words in by_utterance.items()}


def read_ctm(path: str, utterance: str) -> Words:
    return _ctm_file(path).get(utterance, ())


def read_wrd(path: str, sample_rate: float) -> Words:
    words = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                start, end = int(parts[0]), int(parts[1])
            except (ValueError, IndexError):
                raise WordTimesError("bad_word_times", f"{path}:{number}: expected 'start end word' in samples") from None
            if len(parts) >= 3 and _is_word(parts[2]):
                words.append((parts[2], start / sample_rate, end / sample_rate))
    return tuple(words)


def read_words(spec: WordTimes, path: str, utterance: str | None, offset: float, duration: float | None = None) -> Words:
    """Word times of one record from ``path``, rebased to the record's start when they count from the file's
    (then only the words whose middle lies inside the record's span are its words: a CTM per recording)."""
    if not os.path.isfile(path):
        raise WordTimesError("words_missing", f"no word-times file {path}")
    if spec.format == "textgrid":
        words = read_textgrid(path, spec.tier)
    elif spec.format == "ctm":
        words = read_ctm(path, utterance or "")
    else:
        words = read_wrd(path, spec.sample_rate or 16000.0)
    if spec.relative_to == "file":
        end = float("inf") if duration is None else offset + duration
        words = tuple((w, round(a - offset, 6), round(b - offset, 6)) for w, a, b in words if offset <= (a + b) / 2 < end)
    if not words:
        raise WordTimesError("words_missing", f"{path}: no word times for {utterance or 'the record'}")
    return tuple((w, round(a, 6), round(b, 6)) for w, a, b in words)


def words_of(spec: WordTimes, fields: dict[str, str], root: str, offset: float, duration: float | None = None) -> Words:
    """The word times of the record whose fields are ``fields`` (templates rendered over them)."""
    from schemas.templates import render

    path = os.path.join(root, render(spec.files, fields))
    utterance = render(spec.key, fields) if spec.key is not None else None
    return read_words(spec, path, utterance, offset, duration)
