"""Build one task view ``{task, prompt, target}`` of an audio clip.

``prompt`` is the tag sequence alone (spec section 4); ``target`` is the text after it, without
``<|endoftext|>``. Every token emitted is checked against the closed vocabulary, and a target may
not contain a special-token spelling: such text would silently become a control token in training.
"""
from __future__ import annotations

from dataclasses import dataclass

from .languages import NO_SPEECH_TOKEN, language_token
from .tasks import TEXT_FORM_TOKENS, Task
from .vocabulary import split_tokens, token_spellings


@dataclass(frozen=True)
class View:
    task: str
    prompt: str
    target: str

    def to_dict(self) -> dict[str, str]:
        return {"task": self.task, "prompt": self.prompt, "target": self.target}


class TagError(ValueError):
    """A view cannot be built; ``reason`` is a stable snake_case id for the quarantine."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def build_prompt(task: Task, audio_language: str | None, text_language: str, text_form: str | None) -> str:
    if task.speech:
        audio_token = language_token(audio_language)
        if audio_token is None:
            raise TagError(
                "no_language_token",
                f"audio language {audio_language!r} has no Qwen-Audio language token",
            )
    else:
        audio_token = NO_SPEECH_TOKEN
    text_token = language_token(text_language)
    if text_token is None:
        raise TagError(
            "no_language_token", f"text language {text_language!r} has no Qwen-Audio language token"
        )
    parts = [task.transcription, audio_token, task.task_token, text_token, "<|notimestamps|>"]
    parts.extend(task.instructions)
    if task.text_form:
        if text_form not in TEXT_FORM_TOKENS:
            raise TagError("no_text_form", f"task {task.name} needs the schema's text_form (spoken or written)")
        parts.append(TEXT_FORM_TOKENS[text_form])
    prompt = "".join(parts)
    split_tokens(prompt)  # raises on anything outside the vocabulary
    return prompt


def build_view(
    task: Task, target: str, *, audio_language: str | None, text_language: str, text_form: str | None
) -> View:
    if not target or not target.strip():
        raise TagError("empty_target", f"task {task.name} has an empty target")
    spellings = token_spellings(target)
    if spellings:
        raise TagError(
            "special_token_in_text", f"target of task {task.name} spells special tokens {spellings}"
        )
    return View(task.name, build_prompt(task, audio_language, text_language, text_form), target)
