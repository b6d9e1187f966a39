"""The dataset schema: a YAML file per corpus, checked by pydantic before any work starts.

A schema says where a corpus's records are (``layout``, schemas/layouts.py), how the fields found
there become a canonical record (``record``: templates like ``"{dir}/{id}.flac"``, schemas/record.py;
after the row rules of schemas/rows.py), which splits are for evaluation (``splits``), and which task
views each record feeds (``tasks``, schemas/tasks.py); ``normalize`` (schemas/text.py), ``windows``
and ``words`` (schemas/longform.py) say what only the corpus knows. This module assembles the
sections and checks them against each other; unknown keys are errors everywhere (schemas/base.py).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.base import NAME_PATTERN, Strict
from schemas.layouts import Layout
from schemas.longform import Windows, WordTimes
from schemas.record import RecordMapping
from schemas.rows import AudioFiles, Derive, Exclude, Join
from schemas.tasks import TaskBinding
from schemas.templates import fields_of
from schemas.text import Normalize
from tag_builder.languages import LANGUAGE_TOKENS
from tag_builder.tasks import REGISTRY

LanguageCode = Literal[tuple(LANGUAGE_TOKENS)]  # type: ignore[valid-type]


class Example(Strict):
    """A worked example executed by the tests and by `audioprep schema validate`."""

    path: str = Field(description="the file the fields come from, relative to the root")
    line: str | None = Field(None, description="for `lines` layouts: the line")
    row: dict[str, str] | None = Field(None, description="for `table` layouts: the row by column")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="further fields as the reader, joins and audio_files would give them (json items, joined values)",
    )
    expect: dict[str, object] = Field(description="record fields expected (key is the final key)")


class DatasetSchema(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="schema name (file name without .yaml)")
    description: str = Field(min_length=1)
    homepage: str | None = None
    license: str = Field(description="licence of the corpus, e.g. CC-BY-4.0")
    citation: str | None = None
    language: LanguageCode | None = Field(description="spoken language of the audio; null for sound and music")
    text_language: LanguageCode = Field("en", description="language of transcripts, captions and labels")
    text_form: Literal["spoken", "written"] | None = Field(
        None, description="transcripts in spoken form (<|wo_itn|>) or written form (<|itn|>)"
    )
    normalize: Normalize = Field(
        default_factory=Normalize, description="text normalization the corpus needs (markup, casing, Chinese script)"
    )
    splits: dict[str, Literal["train", "eval"]] = Field(
        min_length=1, description="every split name of the corpus -> train or eval"
    )
    languages: list[str] = Field(
        default_factory=list,
        description="every language code the corpus holds (documentation; records in a language without a token are refused)",
    )
    roots: dict[str, str] = Field(
        default_factory=dict,
        description="extra roots the corpus needs -> what they are; a run gives them as --dataset NAME=ROOT,EXTRA=PATH",
    )
    layout: Layout
    defaults: dict[str, str] = Field(
        default_factory=dict, description="fields a row lacks get these values (a column only some tables have)"
    )
    derive: list[Derive] = Field(default_factory=list, description="fields from regexes over other fields, in order")
    exclude: list[Exclude] = Field(default_factory=list, description="rows that are not records, with their reason")
    joins: list[Join] = Field(default_factory=list, description="fields from other files, looked up by key")
    audio_files: AudioFiles | None = Field(
        None, description="list the audio files, to pair them with metadata and report audio without metadata"
    )
    record: RecordMapping
    windows: Windows | None = Field(
        None, description="cut long recordings into windows of at most 30 s: pack segments, fixed windows or VAD"
    )
    words: WordTimes | None = Field(None, description="word times the corpus ships (SRWT targets without an aligner)")
    tasks: list[TaskBinding] = Field(min_length=1)
    examples: list[Example] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "DatasetSchema":
        if self.normalize.numbers == "spoken" and self.text_form != "spoken":
            raise ValueError(
                "normalize.numbers: spoken writes numbers as words, a spoken-form transcript: declare `text_form: spoken` "
                "(never convert written form into spoken form under an <|itn|> tag)"
            )
        for binding in self.tasks:
            task = REGISTRY[binding.task]
            if getattr(task, "timestamps", False):
                raise ValueError(f"task {binding.task} is turned on per run (--srwt, or srwt: true in a run config), not in a schema")
            if task.text_form and self.text_form is None:
                raise ValueError(f"task {binding.task} needs `text_form: spoken` or `text_form: written`")
            if task.speech and self.language is None and self.record.language is None:
                raise ValueError(f"task {binding.task} is about speech: set `language` (or `record.language`)")
            if task.source == "translation" and (self.record.translation is None or self.record.translation_language is None):
                raise ValueError(f"task {binding.task} needs `record.translation` and `record.translation_language`")
        used_roots = [("record.audio_root", self.record.audio_root)]
        used_roots += [(f"joins.{j.name}.root", j.root) for j in self.joins]
        if self.audio_files is not None:
            used_roots.append(("audio_files.root", self.audio_files.root))
        for where, name in used_roots:
            if name is not None and name not in self.roots:
                raise ValueError(f"{where}: root {name!r} is not declared under `roots` ({', '.join(self.roots) or 'none'})")
        if self.record.duration is not None and self.record.end is not None:
            raise ValueError("record: give `duration` or `end`, not both")
        for where, template in self.record.templates().items():
            try:
                fields_of(template)
            except ValueError as exc:
                raise ValueError(f"record.{where}: {exc}") from None
        return self
