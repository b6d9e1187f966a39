"""Build one task view ``{task, prompt, target}`` of an audio clip.

``prompt`` is the tag sequence alone (spec section 4); ``target`` is the text after it, without
``<|endoftext|>``. Every token emitted is checked against the closed vocabulary, and a target may
not contain a special-token spelling: such text would silently become a control token in training.
Two registered exceptions (``tag_builder.tasks``): a question task's prompt holds the question
text between ``<|question|>`` and ``<|answer|>`` (and nothing else outside tokens), and a fields
task's target holds exactly its own field tokens. ``check_view`` applies the same rules to a view
read back from a shard; ``tag_sequence`` is a prompt with the question left out (for counting).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from tag_builder.languages import NO_SPEECH_TOKEN, language_token
from tag_builder.tasks import REGISTRY, TEXT_FORM_TOKENS, Task
from tag_builder.vocabulary import UnknownTokenError, is_token, split_tokens, token_spellings

_QUESTION = re.compile(r"^(?P<head>.*?<\|question\|>)(?P<question>.*)(?P<tail><\|answer\|>)$", re.S)


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


def _question_prompt(task: Task, text_language: str, question: str | None) -> str:
    """``{T}{L}<|question|>{question}<|answer|>``: the one language slot is the question's language."""
    token = language_token(text_language)
    if token is None:
        raise TagError("no_language_token", f"text language {text_language!r} has no Qwen-Audio language token")
    if question is None or not question.strip():
        raise TagError("missing_question", f"task {task.name} has no question ({task.question})")
    if token_spellings(question):
        raise TagError("special_token_in_text", f"question of task {task.name} spells special tokens {token_spellings(question)}")
    prompt = f"{task.transcription}{token}{task.task_token}{question}<|answer|>"
    check_prompt(task, prompt)
    return prompt


def build_prompt(
    task: Task, audio_language: str | None, text_language: str, text_form: str | None, question: str | None = None
) -> str:
    if task.question is not None:
        return _question_prompt(task, text_language, question)
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
    timestamps = "<|timestamps|>" if task.timestamps else "<|notimestamps|>"
    parts = [task.transcription, audio_token, task.task_token, text_token, timestamps]
    parts.extend(task.instructions)
    if task.text_form:
        if text_form not in TEXT_FORM_TOKENS:
            raise TagError("no_text_form", f"task {task.name} needs the schema's text_form (spoken or written)")
        parts.append(TEXT_FORM_TOKENS[text_form])
    prompt = "".join(parts)
    split_tokens(prompt)  # raises on anything outside the vocabulary
    return prompt


def check_prompt(task: Task, prompt: str) -> None:
    """Raise ``UnknownTokenError`` unless ``prompt`` is tokens only, or for a question task exactly
    tokens + ``<|question|>`` + text without token spellings + ``<|answer|>``."""
    if task.question is None:
        split_tokens(prompt)
        return
    match = _QUESTION.match(prompt)
    if match is None or not match.group("question").strip():
        raise UnknownTokenError(f"prompt {prompt!r} of task {task.name} is not tags<|question|>question<|answer|>")
    if token_spellings(match.group("question")):
        raise UnknownTokenError(f"question in prompt {prompt!r} spells special tokens")
    split_tokens(match.group("head"))


def check_target(task: Task, target: str) -> None:
    """Raise ``TagError`` if ``target`` spells a token other than the task's own field tokens."""
    allowed = task.target_tokens()
    spellings = [t for t in token_spellings(target) if t not in allowed or not is_token(t)]
    if spellings:
        raise TagError("special_token_in_text", f"target of task {task.name} spells special tokens {spellings}")


def check_view(task_name: str, prompt: str, target: str) -> None:
    """A view read back (verify): its prompt and target follow its task's rules; raises UnknownTokenError."""
    task = REGISTRY.get(task_name)
    if task is None:
        split_tokens(prompt)
        if token_spellings(target):
            raise UnknownTokenError(f"target of unknown task {task_name!r} spells special tokens")
        return
    check_prompt(task, prompt)
    try:
        check_target(task, target)
    except TagError as exc:
        raise UnknownTokenError(exc.detail) from None


def tag_sequence(prompt: str) -> str:
    """The prompt's tags alone: a question prompt without its question text (for counting)."""
    match = _QUESTION.match(prompt)
    return prompt if match is None else match.group("head") + match.group("tail")


def question_text(prompt: str) -> str | None:
    """The question of a question prompt (between ``<|question|>`` and ``<|answer|>``), else None."""
    match = _QUESTION.match(prompt)
    return None if match is None else match.group("question")


def compose_target(task: Task, labels: dict[str, str]) -> str:
    """The target of a fields task from the record's labels (see ``tasks.TargetField``)."""
    parts = []
    for field in task.fields:
        name = field.source[len("labels.") :]
        value = (labels.get(name) or "").strip()
        if not value:
            if field.empty == "refuse":
                raise TagError("missing_target", f"task {task.name} needs {field.source}, which is empty or absent")
            if field.empty == "omit":
                continue
            parts.append(field.token)
            continue
        if field.value_token is not None:
            spelled = field.value_token.format(value)
            if not value.isdigit() or not is_token(spelled):
                raise TagError("bad_field_value", f"task {task.name}: {field.source} {value!r} has no token {field.value_token}")
            value = spelled
        elif token_spellings(value):
            raise TagError("special_token_in_text", f"{field.source} of task {task.name} spells special tokens {token_spellings(value)}")
        parts.append(f"{field.token}{field.prefix}{value}")
    return task.separator.join(parts)


def build_view(
    task: Task,
    target: str,
    *,
    audio_language: str | None,
    text_language: str,
    text_form: str | None,
    question: str | None = None,
) -> View:
    if not target or not target.strip():
        raise TagError("empty_target", f"task {task.name} has an empty target")
    check_target(task, target)
    return View(task.name, build_prompt(task, audio_language, text_language, text_form, question), target)
