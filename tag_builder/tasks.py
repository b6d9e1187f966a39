"""The task registry: every task audioprep can emit, with the exact shape of its tag sequence.

A task's prompt is ``T A K L S I`` (spec section 1): transcription tag, audio language, task token,
text language, timestamp token, instruction tokens. Each entry fixes everything except the two
languages (taken from the record) and, for speech recognition, the text-form token
(``<|wo_itn|>`` spoken form / ``<|itn|>`` written form, declared by the dataset schema).
Adding a task is adding an entry here; docs/tasks.md is checked against this table by a test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .vocabulary import check_token

TextForm = Literal["spoken", "written"]
TEXT_FORM_TOKENS: dict[str, str] = {"spoken": "<|wo_itn|>", "written": "<|itn|>"}


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    transcription: str  # <|startoftranscript|> or <|startofanalysis|>
    speech: bool  # audio language is the spoken language (else <|unknown|>)
    task_token: str
    instructions: tuple[str, ...]
    text_form: bool  # append <|itn|>/<|wo_itn|> from the schema's text form
    source: str  # default record field holding the target: text, translation, captions or labels.<name>
    example_target: str
    target_language: str = "text_language"  # record field with the language of the target (slot L)

    def __post_init__(self) -> None:
        for token in (self.transcription, self.task_token, *self.instructions):
            check_token(token)


_TRANSCRIPT = "<|startoftranscript|>"
_ANALYSIS = "<|startofanalysis|>"

REGISTRY: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            name="asr",
            description="Speech recognition: the transcript in the corpus's own text form.",
            transcription=_TRANSCRIPT,
            speech=True,
            task_token="<|transcribe|>",
            instructions=(),
            text_form=True,
            source="text",
            example_target="he hoped there would be stew for dinner",
        ),
        Task(
            name="s2tt",
            description=(
                "Speech translation (CoVoST 2 style): the translation of the speech; the audio language is the "
                "spoken one, the text language the translation's, written form (<|itn|>) as in the published prompt."
            ),
            transcription=_TRANSCRIPT,
            speech=True,
            task_token="<|translate|>",
            instructions=("<|itn|>",),
            text_form=False,
            source="translation",
            example_target="Good morning, everyone.",
            target_language="translation_language",
        ),
        Task(
            name="asr_overlap",
            description=(
                "Overlapped-speech recognition (LibriMix style): every speaker's transcript in one target, joined "
                "by the schema's joiner (default one space); the prompt is the ASR prompt of the text form."
            ),
            transcription=_TRANSCRIPT,
            speech=True,
            task_token="<|transcribe|>",
            instructions=(),
            text_form=True,
            source="text",
            example_target="he hoped there would be stew for dinner stuff it into you his belly counselled him",
        ),
        Task(
            name="caption_clotho",
            description="Audio captioning in Clotho's style: one sentence describing the sound.",
            transcription=_ANALYSIS,
            speech=False,
            task_token="<|caption|>",
            instructions=("<|caption_clotho|>",),
            text_form=False,
            source="captions",
            example_target="A person is flipping several pages in a book",
        ),
        Task(
            name="scene",
            description="Acoustic scene classification: the bare scene label.",
            transcription=_ANALYSIS,
            speech=False,
            task_token="<|keyword|>",
            instructions=("<|scene|>",),
            text_form=False,
            source="labels.scene",
            example_target="bus",
        ),
    )
}


class UnknownTaskError(KeyError):
    pass


def get_task(name: str) -> Task:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownTaskError(
            f"unknown task {name!r}; known tasks: {', '.join(sorted(REGISTRY))}"
        ) from None
