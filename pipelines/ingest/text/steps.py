"""The named steps of each language, in order, built from the schema's ``normalize`` section.

A step either rewrites the text (``rewrite``), refuses it (``check`` returns a reason and a detail),
or decides the text language (``language``: Traditional Chinese is tagged <|zh_tr|>). Every step is
a pure function of the text, so normalization is deterministic and ``explain`` can show each one.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from schemas.text import Normalize
from tag_builder.vocabulary import token_spellings

import pipelines.ingest.text.basic as basic
import pipelines.ingest.text.chinese as chinese
import pipelines.ingest.text.markup as markup
import pipelines.ingest.text.numbers as numbers
import pipelines.ingest.text.punctuation as punctuation

Problem = tuple[str, str]  # (reason, detail)


@dataclass(frozen=True)
class Step:
    name: str
    rewrite: Callable[[str], str] | None = None
    check: Callable[[str], Problem | None] | None = None
    language: Callable[[str], str] | None = None


#: Punctuation and quote conventions by text language (docs/text.md). Languages not listed get the
#: basic steps only.
LANGUAGE_STEPS: dict[str, tuple[Step, ...]] = {}
_LATIN = (Step("straight_quotes", basic.straight_quotes), Step("latin_spacing", punctuation.latin_spacing))
for _code in ("en", "de", "es", "it", "ko"):
    LANGUAGE_STEPS[_code] = _LATIN
LANGUAGE_STEPS["fr"] = (Step("straight_quotes", basic.straight_quotes), Step("french_spacing", punctuation.french_spacing))
LANGUAGE_STEPS["zh"] = LANGUAGE_STEPS["zh_tr"] = (
    Step("chinese_punctuation", punctuation.chinese_punctuation),
    Step("cjk_spacing", punctuation.cjk_spacing),
)
LANGUAGE_STEPS["ja"] = (
    Step("japanese_punctuation", punctuation.japanese_punctuation),
    Step("cjk_spacing", punctuation.cjk_spacing),
)


def _refused(tags: list[str]) -> Callable[[str], Problem | None]:
    def check(text: str) -> Problem | None:
        found = markup.find_refused(text, tags)
        if not found:
            return None
        return ("unusable_markup", f"transcript holds {', '.join(found)}, which the schema refuses (normalize.refuse_markup)")

    return check


def _unmapped(text: str) -> Problem | None:
    tags = markup.leftover_tags(text)
    if not tags:
        return None
    return (
        "unmapped_markup",
        f"transcript holds markup {', '.join(tags)} that the schema does not map: add it to normalize.markup (\"\" removes it)",
    )


def _special_tokens(text: str) -> Problem | None:
    spellings = token_spellings(text)
    return ("special_token_in_text", f"transcript spells special tokens {sorted(set(spellings))}") if spellings else None


def _recheck(text: str) -> Problem | None:
    """The punctuation and spacing steps can close up a spelling ('<| ,>' -> '<|,>'): check again."""
    return (_special_tokens(text) or _unmapped(text)) if "<" in text else None  # both need a '<


def _not_empty(text: str) -> Problem | None:
    return None if text else ("empty_transcript", "nothing is left of the transcript after normalization")


def _traditional_tag(text: str) -> str:
    return "zh_tr" if chinese.is_traditional(text) else "zh"


#: (language, id(rules)) -> (rules, steps): the hot path looks a schema's steps up by identity (a
#: schema's rules are one object for a whole corpus); holding ``rules`` keeps its id from being reused
_BY_IDENTITY: dict[tuple[str, int], tuple[Normalize, tuple[Step, ...]]] = {}


def steps_for(language: str, rules: Normalize) -> tuple[Step, ...]:
    """Every step a text in ``language`` goes through under ``rules``, in order (built once per pair)."""
    found = _BY_IDENTITY.get((language, id(rules)))
    if found is not None and found[0] is rules:
        return found[1]
    steps = _steps_for(language, rules.model_dump_json())  # equal rules of another schema share the steps
    if len(_BY_IDENTITY) >= 1024:
        _BY_IDENTITY.clear()
    _BY_IDENTITY[(language, id(rules))] = (rules, steps)
    return steps


@lru_cache(maxsize=128)
def _steps_for(language: str, rules_json: str) -> tuple[Step, ...]:
    rules = Normalize.model_validate_json(rules_json)
    steps = [Step("repair_mojibake", basic.repair_mojibake)] if rules.repair_mojibake else []
    steps += [Step("strip_controls", basic.strip_controls), Step("nfkc", basic.nfkc)]
    if rules.refuse_markup:
        steps.append(Step("refuse_markup", check=_refused(list(rules.refuse_markup))))
    if rules.markup:
        steps.append(Step("map_markup", markup.mapper(rules.markup)))
    steps.append(Step("no_special_tokens", check=_special_tokens))
    steps.append(Step("no_unmapped_markup", check=_unmapped))
    steps.append(Step("fold_whitespace", basic.fold_whitespace))
    if rules.case == "lower":
        steps.append(Step("lower_case", basic.lower))
    elif rules.case == "lower_all_caps":
        steps.append(Step("lower_all_caps", basic.lower_all_caps))
    if rules.numbers == "spoken":
        steps.append(Step("spell_numbers", numbers.speller(language)))
    steps.extend(LANGUAGE_STEPS.get(language, ()))
    if language == "zh" and rules.chinese == "simplified":  # declared zh_tr is kept as it is
        steps.append(Step("to_simplified", chinese.to_simplified))
    elif language == "zh" and rules.chinese == "traditional_tag":
        steps.append(Step("tag_traditional", language=_traditional_tag))
    steps.append(Step("recheck_markup", check=_recheck))
    steps.append(Step("not_empty", check=_not_empty))
    return tuple(steps)


#: Labels are canonical values chosen by the schema: only the basic clean-up applies to them.
LABEL_STEPS = (
    Step("strip_controls", basic.strip_controls),
    Step("nfkc", basic.nfkc),
    Step("fold_whitespace", basic.fold_whitespace),
)
