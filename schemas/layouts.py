"""The ``layout`` section: where a corpus's records are and how its metadata files are read.

One model per reader of ``pipelines/ingest/layouts/`` (lines, table, json, files, plugin), chosen
by ``kind``. Every path pattern is a template over the path (``"{split}/{speaker}/{id}.wav"``); its
placeholders become fields of the rows the reader gives.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from schemas.base import Strict, named_regex
from schemas.records_path import parse_records_path

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
        return named_regex(value, "(?P<id>\\S+)")


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
