"""What happens to a layout's rows before they become records: fields derived from other fields,
rows that are not records, fields joined from other files, and the corpus's audio files listed.
"""
from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from schemas.base import NAME_PATTERN, Strict, named_regex
from schemas.layouts import Layout


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
        return None if value is None else named_regex(value)

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
