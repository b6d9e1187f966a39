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

from schemas.records_path import parse_records_path
from schemas.templates import fields_of
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
    default: str | None = Field(
        None, description="a value missing from `map` becomes this (instead of passing through); '' = none"
    )
    replace: dict[str, str] = Field(
        default_factory=dict,
        description="substrings replaced after mapping, in order (e.g. {'_': ' ', ',': '; '} for a list of names)",
    )

    @model_validator(mode="after")
    def _strict_or_default(self) -> "MappedValue":
        if self.strict and self.default is not None:
            raise ValueError("give `strict: true` or a `default`, not both")
        return self


Template = Union[str, MappedValue]


Patterns = Union[str, list[str]]  # one path pattern, or several read one after the other


class LinesLayout(Strict):
    """Text files, one record per line (LibriSpeech ``*.trans.txt``, Kaldi ``text`` files)."""

    kind: Literal["lines"]
    files: Patterns = Field(description="path pattern of the text files, e.g. '{split}/{spk}/{chap}/{spk}-{chap}.trans.txt'; or a list of patterns, read in order")
    line: str = Field(description="regex with named groups applied to each line, e.g. '(?P<id>\\S+) (?P<text>.*)'")
    comment: str | None = Field(None, description="lines starting with this prefix are skipped")
    skip: str | None = Field(
        None, description="regex: lines it matches at their start are not records (headers, annotator lines); others must match `line`"
    )
    encoding: str = "utf-8"

    @field_validator("line")
    @classmethod
    def _regex(cls, value: str) -> str:
        return _named_regex(value, "(?P<id>\\S+)")


class TableLayout(Strict):
    """Delimited tables, one record per row (Clotho captions CSV, Common Voice TSV)."""

    kind: Literal["table"]
    files: Patterns = Field(description="path pattern of the tables, e.g. 'clotho_captions_{split}.csv'; or a list of patterns, read in order")
    delimiter: str = Field(",", min_length=1, max_length=1, description="cell separator, e.g. ',' '\\t' '|'")
    quotechar: str | None = Field(
        '"', min_length=1, max_length=1, description="quote character; null: quotes are ordinary text (TSVs written unquoted)"
    )
    escapechar: str | None = Field(None, min_length=1, max_length=1, description="escape character, e.g. '\\\\'")
    header: bool = Field(True, description="the first row names the columns")
    header_rows: int = Field(
        1, ge=1, le=5,
        description="rows naming the columns (multi-level headers): a column's name is its non-empty cells joined by '_'",
    )
    columns: list[str] | None = Field(None, description="column names when the table has no header")
    rename: dict[str, str] = Field(default_factory=dict, description="column name as written -> field name")
    strip: bool = Field(
        False, description="strip spaces around every cell (padded, aligned tables); a quote after the spaces still opens a quoted cell"
    )
    comment: str | None = Field(None, description="rows whose first cell starts with this are skipped")
    encoding: str = Field("utf-8", description="text encoding of the files, e.g. utf-8, gbk, latin-1")

    @model_validator(mode="after")
    def _columns(self) -> "TableLayout":
        if not self.header and not self.columns:
            raise ValueError("a table without header needs `columns`")
        return self


class JsonLayout(Strict):
    """JSON documents (or JSON Lines) with records in nested arrays (GigaSpeech, WenetSpeech).

    ``records`` is a small path: member names separated by dots, ``[*]`` for every item of an
    array, e.g. ``audios[*].segments[*]`` (each segment of each audio is one record). A record's
    fields are the scalar members of its item and of every enclosing item (inner names win); a
    list of scalars becomes its items joined by a space. ``fields`` adds or renames fields by a
    path from the record's item, ``^`` stepping out to the enclosing item (``^.path``).
    Documents are streamed (ijson): a multi-gigabyte file is never loaded whole.
    """

    kind: Literal["json"]
    files: Patterns = Field(description="path pattern of the JSON files, e.g. 'GigaSpeech.json'; or a list of patterns, read in order")
    lines: bool = Field(False, description="JSON Lines: one document per line, `records` applies inside each")
    records: str = Field(
        "", description="path of the record items, e.g. 'audios[*].segments[*]'; '{*}' object members; '*' either; '' = the document"
    )
    fields: dict[str, str] = Field(
        default_factory=dict, description="field name -> path from the record item ('^.' steps out; a number picks a list item)"
    )
    list_joiner: str = Field(" ", description="how a list of scalars becomes one field: its items joined by this")
    member_field: str = Field(
        "member", pattern=r"^[A-Za-z_]\w*$", description="with `{*}` steps: the field holding the member's name"
    )
    encoding: str = "utf-8"

    @field_validator("records")
    @classmethod
    def _records(cls, value: str) -> str:
        parse_records_path(value)
        return value


class PluginLayout(Strict):
    """Escape hatch: a Python reader for a layout the schema language cannot express.

    ``reader`` is ``package.module:function``; it is called as ``function(options, root)`` and yields
    ``pipelines.ingest.layouts.Row`` (fields and a source) or ``pipelines.core.record.Drop``.
    """

    kind: Literal["plugin"]
    reader: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="import path, 'package.module:function'")
    files: str | None = Field(None, description="path pattern of the files it reads (for examples and docs)")
    options: dict[str, object] = Field(default_factory=dict, description="passed to the reader unchanged")


class FilesLayout(Strict):
    """One record per audio file, fields from the path (folder-per-label corpora like CochlScene)."""

    kind: Literal["files"]
    files: Patterns = Field(description="path pattern of the audio files, e.g. '{split}/{scene}/{name}.wav'; or a list of patterns, read in order")


Layout = Annotated[Union[LinesLayout, TableLayout, FilesLayout, JsonLayout, PluginLayout], Field(discriminator="kind")]


class Joined(Strict):
    """Several templates joined into one text (overlapped speech: every source's transcript)."""

    join: list[str] = Field(min_length=1, description="templates, in order")
    joiner: str = Field(" ", description="placed between the parts (default: one space)")
    skip_empty: bool = Field(True, description="leave out parts that render empty")
    skip_unfilled: bool = Field(
        False, description="leave out parts in which a placeholder renders empty ('age: {age}' without an age)"
    )


class Number(Strict):
    """A number from a field, divided by ``divide`` (e.g. samples / 16000 = seconds)."""

    value: str = Field(description="template, e.g. '{num_samples}'")
    divide: float = Field(1.0, gt=0)


TextTemplate = Union[str, MappedValue, Joined]
NumberTemplate = Union[str, Number]


class Derive(Strict):
    """New fields from a template: a regex with named groups (file-name patterns), every match of a
    regex rendered and joined (``each``), or a value map (``map`` into ``field``)."""

    value: str = Field(description="template the rule applies to, e.g. '{stem}'")
    regex: str | None = Field(None, description="regex with named groups; the new fields are its groups")
    search: bool = Field(False, description="find the regex anywhere (default: it must match the whole value)")
    required: bool = Field(
        True, description="no match (or a value missing from `map`) drops the record (derive_unmatched); else the fields are ''"
    )
    each: str | None = Field(
        None, description="every match of `regex`, rendered by this template over its groups, joined into `field`"
    )
    joiner: str = Field(", ", description="with `each`: placed between the rendered matches")
    map: dict[str, str] | None = Field(None, description="value -> the new `field`'s value")
    field: str | None = Field(None, pattern=r"^[A-Za-z_]\w*$", description="the field `map` or `each` fills")

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return None if value is None else _named_regex(value)

    @model_validator(mode="after")
    def _one_kind(self) -> "Derive":
        if (self.regex is None) == (self.map is None):
            raise ValueError("a derive rule has `regex` (with optional `each`) or `map`, one of them")
        if (self.map is not None or self.each is not None) and self.field is None:
            raise ValueError("`map` and `each` fill the field named by `field`")
        return self


class Exclude(Strict):
    """Rows that are not records (gaps, noise markers): quarantined with the schema's own reason."""

    value: str = Field(description="template, e.g. '{text}'")
    regex: str = Field(description="rows whose value matches (anywhere) are excluded")
    reason: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="snake_case reason id for the quarantine")


class Join(Strict):
    """Fields from another file of the corpus (or of another root), looked up by key.

    The joined file is read through its own layout and kept in memory as key -> the rendered
    ``fields`` only (a speaker table, the transcripts of the sources of a mixture), so it should be
    smaller than the corpus's audio count; the main metadata still streams.
    """

    name: str = Field(pattern=NAME_PATTERN, description="names the join in drops and messages")
    root: str | None = Field(None, description="an extra root declared under `roots` (default: the corpus root)")
    layout: Layout
    key: str = Field(description="template over the joined rows, e.g. '{id}'")
    match: str = Field(description="template over the record's fields giving the same key, e.g. '{speaker}'")
    fields: dict[str, str] = Field(min_length=1, description="new field -> template over the joined row")
    required: bool = Field(False, description="a record without a match is dropped (join_unmatched); else its fields are ''")
    each: str | None = Field(
        None,
        description="the match is a list split by this separator (e.g. ','): every item is looked up and each "
        "field becomes the items' values joined by `joiner`; with `required`, one unmatched item drops the record",
    )
    joiner: str = Field("; ", description="with `each`: placed between the items' values")


class AudioFiles(Strict):
    """The audio files a corpus ships, listed by a path pattern, so that metadata without audio and
    audio without metadata are both reported. A matched file adds its pattern's fields and
    ``audio_path``, ``audio_dir``, ``audio_name``, ``audio_stem``; every file no record used is one
    quarantined input (audio_without_metadata), so input = written + quarantined still holds."""

    files: str = Field(description="path pattern of the audio files, e.g. 'wav/{split}/{speaker}/{id}.wav'")
    key: str = Field("{stem}", description="template over the audio file's fields")
    match: str = Field(description="template over the metadata row giving the same key, e.g. '{id}'")
    root: str | None = Field(None, description="an extra root declared under `roots` (default: the corpus root)")


def _named_regex(value: str, example: str = "(?P<speaker>\\w+)") -> str:
    """A regex with named groups (each group becomes a field), or the error saying what is wrong."""
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regex: {exc}") from None
    if not compiled.groupindex:
        raise ValueError(f"the regex needs named groups, e.g. {example}")
    return value


class RecordMapping(Strict):
    """How the fields a layout finds become a record. Values are templates over those fields.

    Always available: ``path`` (the matched file, relative to the root), ``dir`` (its folder),
    ``stem`` and ``name`` (its file name without and with extension), plus the pattern's own
    ``{placeholders}``, the line regex's named groups or the table's columns.
    """

    key: str = Field(description="sample key within the corpus; made safe and prefixed with the dataset name")
    audio: str = Field(description="audio file relative to the corpus root (or to `audio_root`)")
    audio_root: str | None = Field(None, description="the audio lies under this extra root (declared in `roots`)")
    split: Template = Field("{split}", description="the corpus's split name (template or {value, map}: e.g. '' -> train)")
    offset: NumberTemplate | None = Field(None, description="seconds into the audio file where the record starts")
    duration: NumberTemplate | None = Field(None, description="seconds of audio the record covers")
    end: NumberTemplate | None = Field(None, description="instead of duration: where the record ends, in seconds")
    seconds: NumberTemplate | None = Field(
        None, description="length of a whole-file clip known from metadata (planning, statistics); the file is still read whole"
    )
    language: Template | None = Field(None, description="per-record spoken language code (default: the schema's)")
    text_language: Template | None = Field(None, description="per-record transcript language (default: the schema's)")
    text: TextTemplate | None = None
    translation: Template | None = Field(None, description="translation of the transcript (speech translation)")
    translation_language: Template | None = Field(None, description="language code of the translation")
    captions: list[str] = Field(default_factory=list)
    labels: dict[str, TextTemplate] = Field(default_factory=dict)
    speaker: str | None = None
    license: str | None = Field(None, description="per-record licence; defaults to the schema's")
    meta: dict[str, str] = Field(default_factory=dict)

    def templates(self) -> dict[str, str]:
        """Every template by the record field it fills (for checking placeholders)."""
        out: dict[str, str] = {"key": self.key, "audio": self.audio, "split": self.split if isinstance(self.split, str) else self.split.value}
        for name in ("offset", "duration", "end", "seconds", "language", "text_language", "translation", "translation_language"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value if isinstance(value, str) else value.value
        if isinstance(self.text, Joined):
            for i, part in enumerate(self.text.join):
                out[f"text.join[{i}]"] = part
        elif self.text is not None:
            out["text"] = self.text if isinstance(self.text, str) else self.text.value
        for i, caption in enumerate(self.captions):
            out[f"captions[{i}]"] = caption
        for name, label in self.labels.items():
            if isinstance(label, Joined):
                for i, part in enumerate(label.join):
                    out[f"labels.{name}.join[{i}]"] = part
            else:
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
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="further fields as the reader, joins and audio_files would give them (json items, joined values)",
    )
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


class Windows(Strict):
    """How long recordings become samples of at most 30 s (docs/long-form.md)."""

    max_seconds: float = Field(30.0, gt=0, le=30.0, description="longest window, in seconds (Qwen-Audio hears at most 30 s)")
    gaps: Literal["split", "silence"] = Field(
        "split",
        description="a gap between packed segments: split closes the window at gaps longer than max_gap; silence keeps "
        "every gap inside the window (a <|sil|> unit in SRWT targets; only where gaps are known to hold no speech)",
    )
    max_gap: float = Field(1.0, ge=0, description="with gaps: split, the longest gap kept inside a window, in seconds")
    long_audio: Literal["refuse", "fixed", "vad"] = Field(
        "refuse",
        description="a whole-file record longer than max_seconds: refuse (quarantined with its length), fixed (cut into "
        "windows of window_seconds, labels kept; never a record with a transcript) or vad (speech cut at pauses)",
    )
    window_seconds: float = Field(30.0, gt=0, le=30.0, description="length of fixed windows")
    min_seconds: float = Field(1.0, ge=0, description="a last fixed or VAD window shorter than this is left out")


class WordTimes(Strict):
    """Word times the corpus ships (forced alignments), read at ingest (docs/long-form.md)."""

    format: Literal["textgrid", "ctm", "wrd"] = Field(
        description="textgrid: Praat TextGrid (Montreal Forced Aligner), one file per record; ctm: NIST CTM lines "
        "'utterance channel start duration word', several records per file; wrd: TIMIT-style 'start end word' in samples"
    )
    files: str = Field(description="template over the record's fields giving the file, e.g. '{dir}/{id}.TextGrid'")
    tier: str = Field("words", description="textgrid: the tier holding words")
    key: str | None = Field(None, description="ctm: template giving the record's utterance id in the first column")
    sample_rate: float | None = Field(None, gt=0, description="wrd: samples per second of the times")
    relative_to: Literal["record", "file"] = Field(
        "record", description="times count from the record's start (offset) or from the start of the audio file"
    )
    required: bool = Field(
        False, description="a record without word times is quarantined (words_missing); else it is left to the aligner"
    )

    @model_validator(mode="after")
    def _options(self) -> "WordTimes":
        if self.format == "ctm" and self.key is None:
            raise ValueError("format ctm needs `key`: the utterance id of the record, e.g. '{id}'")
        if self.format == "wrd" and self.sample_rate is None:
            raise ValueError("format wrd needs `sample_rate` (TIMIT: 16000)")
        return self


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
