"""The ``normalize`` section: what only the corpus knows about turning its text into one text form
(docs/text.md; the steps themselves are in ``pipelines/ingest/text/``).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from schemas.base import Strict

class Normalize(Strict):
    """How the corpus's text becomes the one text form of its language (docs/text.md).

    Every language gets the basic steps (NFKC, no control or zero-width characters, whitespace
    folded) and its own punctuation rules; this section says what only the corpus knows.
    """

    markup: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "corpus markup -> what it becomes, matched exactly (case-sensitive) anywhere in the text: "
            "punctuation tags to punctuation ('<COMMA>': ','), garbage tags to '' (removed). "
            "Any other <tag> left in a transcript quarantines the record (unmapped_markup)"
        ),
    )
    refuse_markup: list[str] = Field(
        default_factory=list,
        description="markup that makes a transcript unusable (e.g. '<unk>' for a word nobody could hear): "
        "the record is quarantined (unusable_markup)",
    )
    case: Literal["keep", "lower", "lower_all_caps"] = Field(
        "keep",
        description="keep: the corpus's casing; lower: lower-case every text (corpora written in capitals); "
        "lower_all_caps: lower-case a text only when all its letters are capitals (mixed-case text kept)",
    )
    repair_mojibake: bool = Field(
        False,
        description="repair UTF-8 text once decoded as Windows-1252/Latin-1 and re-encoded ('heâ\\x80\\x99s' -> 'he’s'), "
        "before any other step",
    )
    numbers: Literal["keep", "spoken"] = Field(
        "keep",
        description="keep: digits stay as the corpus wrote them (the default: never rewritten unless asked); "
        "spoken: standalone numbers are spelled out as cardinals in the text's language (num2words; cn2an for "
        "Chinese). Spelling numbers out makes a spoken-form transcript, so it needs text_form: spoken",
    )
    chinese: Literal["simplified", "traditional_tag", "keep"] = Field(
        "simplified",
        description="text declared zh: simplified converts Traditional characters to Simplified (OpenCC t2s); "
        "traditional_tag keeps Traditional text and tags it <|zh_tr|>; keep leaves it as written. "
        "Text declared zh_tr (by the schema or per record) is always kept and tagged <|zh_tr|>",
    )

    @field_validator("markup")
    @classmethod
    def _markup(cls, value: dict[str, str]) -> dict[str, str]:
        for tag in value:
            if not tag.strip() or tag != tag.strip():
                raise ValueError(f"markup key {tag!r} must be a non-empty spelling without surrounding spaces")
            if "<|" in value[tag]:
                raise ValueError(f"markup {tag!r} may not become a special-token spelling ({value[tag]!r})")
        return value
