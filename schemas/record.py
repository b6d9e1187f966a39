"""The ``record`` section: how the fields a layout finds become a canonical record.

Values are templates over those fields (``"{dir}/{id}.flac"``, ``schemas/templates.py``), or a
template whose result is looked up in a map (``MappedValue``), several templates joined into one
text (``Joined``), or a number divided by a factor (``Number``).
"""
from __future__ import annotations

from typing import Union

from pydantic import Field, model_validator

from schemas.base import Strict

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
    origin: str | list[str] | None = Field(
        None,
        description="upstream identity of the audio, or a list (a mix of several sources): 'KIND:ID', or "
        "'KIND:ID@START+LENGTH' for a stretch in seconds of a longer source (e.g. 'youtube:{ytid}@{start}+10', "
        "'freesound:{fsid}', 'librivox:{speaker}-{chapter}-{utt}'); training records whose origin overlaps an "
        "evaluation record's are quarantined (eval_leak, docs/leakage.md)",
    )

    def origins(self) -> list[str]:
        """The origin templates as a list (none, one, or several)."""
        return [] if self.origin is None else [self.origin] if isinstance(self.origin, str) else list(self.origin)

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
        for i, origin in enumerate(self.origins()):
            out[f"origin[{i}]"] = origin
        return out
