"""The dataset schema: a YAML file per corpus, checked by pydantic before any work starts.

A schema says where a corpus's records are (``layout``), how the fields found there become a
canonical record (``record``: templates like ``"{dir}/{id}.flac"``), which splits are for
evaluation (``splits``), and which task views each record feeds (``tasks``). Unknown keys are
errors (``extra="forbid"``), so a typo fails with its line instead of being ignored.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.templates import fields_of
from tag_builder.languages import LANGUAGE_TOKENS
from tag_builder.tasks import REGISTRY

LanguageCode = Literal[tuple(LANGUAGE_TOKENS)]  # type: ignore[valid-type]
TaskName = Literal[tuple(REGISTRY)]  # type: ignore[valid-type]
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MappedValue(Strict):
    """A template whose result is looked up in ``map`` (corpus spelling -> canonical spelling)."""

    value: str = Field(description="template, e.g. '{scene}'")
    map: dict[str, str] = Field(default_factory=dict, description="corpus value -> canonical value")
    lower: bool = Field(False, description="lower-case the result after mapping")
    strict: bool = Field(
        False, description="a value missing from `map` drops the record instead of passing through"
    )


Template = Union[str, MappedValue]


class LinesLayout(Strict):
    """Text files, one record per line (LibriSpeech ``*.trans.txt``, Kaldi ``text`` files)."""

    kind: Literal["lines"]
    files: str = Field(description="path pattern of the text files, e.g. '{split}/{spk}/{chap}/{spk}-{chap}.trans.txt'")
    line: str = Field(description="regex with named groups applied to each line, e.g. '(?P<id>\\S+) (?P<text>.*)'")
    comment: str | None = Field(None, description="lines starting with this prefix are skipped")
    encoding: str = "utf-8"

    @field_validator("line")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regex: {exc}") from None
        if not compiled.groupindex:
            raise ValueError("the line regex needs named groups, e.g. (?P<id>\\S+)")
        return value


class TableLayout(Strict):
    """Delimited tables, one record per row (Clotho captions CSV, Common Voice TSV)."""

    kind: Literal["table"]
    files: str = Field(description="path pattern of the tables, e.g. 'clotho_captions_{split}.csv'")
    delimiter: str = Field(",", min_length=1, max_length=1)
    quotechar: str = Field('"', min_length=1, max_length=1)
    header: bool = Field(True, description="the first row names the columns")
    columns: list[str] | None = Field(None, description="column names when the table has no header")
    comment: str | None = Field(None, description="rows whose first cell starts with this are skipped")
    encoding: str = "utf-8"

    @model_validator(mode="after")
    def _columns(self) -> "TableLayout":
        if not self.header and not self.columns:
            raise ValueError("a table without header needs `columns`")
        return self


class FilesLayout(Strict):
    """One record per audio file, fields from the path (folder-per-label corpora like CochlScene)."""

    kind: Literal["files"]
    files: str = Field(description="path pattern of the audio files, e.g. '{split}/{scene}/{name}.wav'")


Layout = Annotated[Union[LinesLayout, TableLayout, FilesLayout], Field(discriminator="kind")]


class RecordMapping(Strict):
    """How the fields a layout finds become a record. Values are templates over those fields.

    Always available: ``path`` (the matched file, relative to the root), ``dir`` (its folder),
    ``stem`` and ``name`` (its file name without and with extension), plus the pattern's own
    ``{placeholders}``, the line regex's named groups or the table's columns.
    """

    key: str = Field(description="sample key within the corpus; made safe and prefixed with the dataset name")
    audio: str = Field(description="audio file relative to the corpus root")
    split: str = Field("{split}", description="the corpus's split name")
    text: Template | None = None
    captions: list[str] = Field(default_factory=list)
    labels: dict[str, Template] = Field(default_factory=dict)
    speaker: str | None = None
    license: str | None = Field(None, description="per-record licence; defaults to the schema's")
    meta: dict[str, str] = Field(default_factory=dict)

    def templates(self) -> dict[str, str]:
        """Every template by the record field it fills (for checking placeholders)."""
        out: dict[str, str] = {"key": self.key, "audio": self.audio, "split": self.split}
        if self.text is not None:
            out["text"] = self.text if isinstance(self.text, str) else self.text.value
        for i, caption in enumerate(self.captions):
            out[f"captions[{i}]"] = caption
        for name, label in self.labels.items():
            out[f"labels.{name}"] = label if isinstance(label, str) else label.value
        for name, value in (("speaker", self.speaker), ("license", self.license)):
            if value is not None:
                out[name] = value
        for name, value in self.meta.items():
            out[f"meta.{name}"] = value
        return out


class TaskBinding(Strict):
    task: TaskName = Field(description="a task of tag_builder's registry")
    source: str | None = Field(
        None, description="record field holding the target (text, captions, labels.<name>); default: the task's"
    )


class Example(Strict):
    """A worked example executed by the tests and by `audioprep schema validate`."""

    path: str = Field(description="the file the fields come from, relative to the root")
    line: str | None = Field(None, description="for `lines` layouts: the line")
    row: dict[str, str] | None = Field(None, description="for `table` layouts: the row by column")
    expect: dict[str, object] = Field(description="record fields expected (key is the final key)")


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
    chinese: Literal["simplified", "traditional_tag", "keep"] = Field(
        "simplified",
        description="Chinese text only: simplified converts Traditional characters to Simplified (OpenCC t2s); "
        "traditional_tag keeps Traditional text and tags it <|zh_tr|>; keep leaves it as written",
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
    layout: Layout
    record: RecordMapping
    tasks: list[TaskBinding] = Field(min_length=1)
    examples: list[Example] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "DatasetSchema":
        for binding in self.tasks:
            task = REGISTRY[binding.task]
            if task.text_form and self.text_form is None:
                raise ValueError(f"task {binding.task} needs `text_form: spoken` or `text_form: written`")
            if task.speech and self.language is None:
                raise ValueError(f"task {binding.task} is about speech: set `language`")
        for where, template in self.record.templates().items():
            try:
                fields_of(template)
            except ValueError as exc:
                raise ValueError(f"record.{where}: {exc}") from None
        return self
