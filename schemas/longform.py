"""Long recordings (docs/long-form.md): the ``windows`` section (how they become samples of at most
30 s) and the ``words`` section (word times the corpus ships).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.base import Strict

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
