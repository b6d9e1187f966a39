"""Punctuation spacing per writing convention, one named step each.

* ``latin_spacing`` (en, de, es, it, ko): no space before , . ; : ! ? ) ] } nor after ( [ { ¿ ¡.
* ``french_spacing`` (fr): the French convention, one space inside « » and before ; : ! ?, none before
  , and . (no-break spaces are plain spaces after NFKC).
* ``cjk_punctuation`` (zh, ja): ASCII sentence punctuation written after a Chinese or Japanese character
  becomes its full-width form (, -> ，in Chinese, 、in Japanese; . -> 。; a run of dots -> ……), so that
  corpora typed either way end up alike.
* ``cjk_spacing`` (zh, ja): no space between two Han, kana or CJK punctuation characters (AISHELL's word
  spaces), nor next to CJK punctuation; spaces between Han and Latin words are kept.

Digits keep their separators: "3.5", "1,000" and "10:30" are never touched.
"""
from __future__ import annotations

import re

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff"
CJK_PUNCT = "\u3000-\u303f\uff00-\uffef\u2026"
CJK = HAN + KANA + CJK_PUNCT

_LATIN_BEFORE = re.compile(r"\s+([,.](?!\d)|[;:!?)\]}])")
_LATIN_AFTER = re.compile(r"([(\[{¿¡])\s+")
_FR_BEFORE = re.compile(r"\s+([,.](?!\d)|[)\]}])")
_FR_DOUBLE = re.compile(r"([^\s\d;:!?(\[{«])\s*([;:!?](?:\s*[;:!?])*)")
_FR_OPEN = re.compile(r"«\s*")
_FR_CLOSE = re.compile(r"\s*»")
_CJK_DOTS = re.compile(rf"(?<=[{CJK}])\s*\.{{2,}}")
_CJK_MARK = re.compile(rf"(?<=[{CJK}])\s*([,.!?:;])")
_CJK_GAP = re.compile(rf"(?<=[{CJK}])\s+(?=[{CJK}])")
_CJK_PUNCT_GAP = re.compile(rf"(?<=[{CJK_PUNCT}])\s+|\s+(?=[{CJK_PUNCT}])")
_FULL = {"!": "！", "?": "？", ":": "：", ";": "；", ".": "。"}


#: every character either rule above acts on: a text without one is left as it is, found in one
#: scan (most transcripts: a tenth of the cost of the two substitutions)
_LATIN_MARKS = re.compile(r"[,.;:!?)\]}(\[{¿¡]")


def latin_spacing(text: str) -> str:
    if _LATIN_MARKS.search(text) is None:
        return text
    return _LATIN_AFTER.sub(r"\1", _LATIN_BEFORE.sub(r"\1", text))


def french_spacing(text: str) -> str:
    text = _FR_BEFORE.sub(r"\1", text)
    text = _FR_DOUBLE.sub(lambda m: f"{m.group(1)} {''.join(m.group(2).split())}", text)
    text = _FR_CLOSE.sub(" »", _FR_OPEN.sub("« ", text))
    return text.strip()


def _cjk_punctuation(comma: str):
    table = {**_FULL, ",": comma}

    def step(text: str) -> str:
        text = _CJK_DOTS.sub("……", text)
        while True:  # a run of marks ("，,"): each converted mark makes the next one follow CJK
            after = _CJK_MARK.sub(lambda m: table[m.group(1)], text)
            if after == text:
                return text
            text = after

    return step


chinese_punctuation = _cjk_punctuation("，")
japanese_punctuation = _cjk_punctuation("、")


def cjk_spacing(text: str) -> str:
    return _CJK_PUNCT_GAP.sub("", _CJK_GAP.sub("", text))
