"""Language identification of transcripts (and translations) against the declared language.

``langid`` restricted to the languages that have a Qwen-Audio token. Two numbers per text:

* ``score``: langid's probability of the detected language, normalized over the allowed languages
  (reported, but it saturates at 1.0 after a few words, so it does not decide alone);
* ``margin``: how much more likely the detected language is than the declared one, in nats per
  letter (log-probability difference divided by the letter count): independent of the length.

Verdicts, in this order:

* ``short``: fewer than ``MIN_LETTERS`` letters (``MIN_CJK`` when Chinese, Japanese or Korean is
  involved, whose characters carry more) -> too short to judge; passes with this flag;
* ``match``: detected as declared;
* ``uncertain``: another language, with a margin below ``MIN_MARGIN`` -> passes with this flag;
* ``mismatch``: another language by ``MIN_MARGIN`` or more -> the record is quarantined
  (``language_mismatch``, naming the detected language, score and margin).

Thresholds were set on real sentences (German, French, Spanish, Italian, Chinese and Japanese
declared as English or German: margins 0.8-45) against random English word salad, langid's worst
case (misread as French or Spanish with scores up to 1.0, but margins below 1.0). Flags are counted
in the statistics; the detected language is kept on the sample (shard JSON ``language_check``).
The model is loaded once per process (lazily, ~1.5 s) and shared by every call (~0.2 ms each).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tag_builder.languages import LANGUAGE_TOKENS

MIN_LETTERS = 20
MIN_CJK = 5
MIN_MARGIN = 1.0
CJK_LANGUAGES = ("zh", "ja", "ko")
#: Declared code -> the code langid answers (Traditional Chinese is Chinese to langid).
LANGID_CODE = {code: ("zh" if code == "zh_tr" else code) for code in LANGUAGE_TOKENS}


@dataclass(frozen=True)
class LanguageCheck:
    declared: str
    detected: str
    score: float  # normalized probability of ``detected``
    margin: float  # nats per letter by which ``detected`` beats ``declared`` (0 on a match)
    verdict: str  # short, match, uncertain, mismatch

    def to_dict(self) -> dict:
        return {"declared": self.declared, "detected": self.detected, "score": self.score, "margin": self.margin, "verdict": self.verdict}


@lru_cache(maxsize=1)
def identifier():
    """langid's model restricted to the languages with a token; loaded once per process."""
    from langid.langid import LanguageIdentifier, model

    found = LanguageIdentifier.from_modelstring(model, norm_probs=False)
    found.set_languages(sorted(set(LANGID_CODE.values())))
    return found


def letters(text: str) -> int:
    """Letters in ``text`` (digits, spaces and punctuation do not count)."""
    return sum(1 for ch in text if unicodedata.category(ch).startswith("L"))


def check(text: str, declared: str) -> LanguageCheck | None:
    """The verdict on ``text`` declared as ``declared``; None when langid does not know that language."""
    expected = LANGID_CODE.get(declared)
    if expected is None:
        return None
    found = identifier()
    logp = np.asarray(found.nb_classprobs(found.instance2fv(text)), dtype=np.float64)
    classes = [str(c) for c in found.nb_classes]
    best = int(np.argmax(logp))
    detected = classes[best]
    score = round(float(1.0 / np.exp(logp - logp[best]).sum()), 4)
    count = letters(text)
    margin = round(float(logp[best] - logp[classes.index(expected)]) / max(1, count), 3)
    if count < (MIN_CJK if expected in CJK_LANGUAGES or detected in CJK_LANGUAGES else MIN_LETTERS):
        verdict = "short"
    elif detected == expected:
        verdict = "match"
    elif margin < MIN_MARGIN:
        verdict = "uncertain"
    else:
        verdict = "mismatch"
    return LanguageCheck(declared, detected, score, margin, verdict)
