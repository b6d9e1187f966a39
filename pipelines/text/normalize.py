"""Run the steps: one text (``normalize_text``, ``explain``) or one record (``normalize_record``).

``normalize_record`` is the ``normalize`` stage. It runs at ingest, so the manifest holds the raw
transcript (``text_raw``) beside the normalized one (``text``) and a record refused for its text is
quarantined before planning.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from schemas.model import Normalize

from ..record import Drop, Record
from .steps import LABEL_STEPS, Step, steps_for

STAGE = "normalize"


@dataclass(frozen=True)
class Traced:
    step: str
    text: str  # the text after the step
    changed: bool
    note: str = ""  # a check's refusal or a language decision


@dataclass(frozen=True)
class Normalized:
    text: str
    language: str  # the text language after the steps (zh may become zh_tr)
    reason: str | None = None  # set when the text is refused
    detail: str = ""
    trace: tuple[Traced, ...] = field(default=(), compare=False)

    @property
    def ok(self) -> bool:
        return self.reason is None


def run_steps(text: str, language: str, steps: tuple[Step, ...], trace: bool = False) -> Normalized:
    traced: list[Traced] = []
    for step in steps:
        if step.rewrite is not None:
            after = step.rewrite(text)
            if trace:
                traced.append(Traced(step.name, after, after != text))
            text = after
        elif step.check is not None:
            problem = step.check(text)
            if trace:
                traced.append(Traced(step.name, text, False, f"refused: {problem[0]}: {problem[1]}" if problem else "passed"))
            if problem:
                return Normalized(text, language, problem[0], problem[1], tuple(traced))
        elif step.language is not None:
            decided = step.language(text)
            if trace:
                traced.append(Traced(step.name, text, False, f"text language {decided}"))
            language = decided
    return Normalized(text, language, trace=tuple(traced))


def normalize_text(text: str, language: str, rules: Normalize | None = None) -> Normalized:
    """The normalized text and its language, or the reason it is refused."""
    return run_steps(text, language, steps_for(language, rules or Normalize()))


def explain(text: str, language: str, rules: Normalize | None = None) -> Normalized:
    """Like ``normalize_text``, with the text after every step in ``trace``."""
    return run_steps(text, language, steps_for(language, rules or Normalize()), trace=True)


def normalize_record(record: Record, rules: Normalize) -> Record | Drop:
    """The ``normalize`` stage: transcript, translation and captions by their language's steps
    (``text_raw`` keeps the transcript as read), labels by the basic steps only."""

    def refuse(what: str, result: Normalized) -> Drop:
        return Drop(STAGE, result.reason, f"{record.source}: {what}: {result.detail}", dataset=record.dataset, key=record.key, source=record.source)

    changes: dict = {}
    language = record.text_language
    if record.text is not None:
        result = normalize_text(record.text, record.text_language, rules)
        if not result.ok:
            return refuse("text", result)
        changes.update(text=result.text, text_raw=record.text, text_language=result.language)
        language = result.language
    if record.translation is not None and record.translation_language:
        result = normalize_text(record.translation, record.translation_language, rules)
        if not result.ok:
            return refuse("translation", result)
        changes.update(translation=result.text, translation_language=result.language)
    if record.captions:
        captions = []
        for index, caption in enumerate(record.captions):
            result = normalize_text(caption, language, rules)
            if not result.ok:
                return refuse(f"captions[{index}]", result)
            captions.append(result.text)
        changes["captions"] = tuple(captions)
    if record.labels:
        changes["labels"] = {name: run_steps(value, language, LABEL_STEPS).text for name, value in record.labels.items()}
    return record.replace(**changes) if changes else record
