"""The audio index: a corpus's audio files by key, for schemas whose metadata names audio by a key
(``audio_files``) rather than by a path; every file no row used becomes a drop (``audio_without_metadata``).
A listing of many files is held on disk past a bound (``spill.KeyTable``), with the same answers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from schemas.templates import render

from pipelines.core.record import Drop
from pipelines.ingest.layouts.paths import match_files, path_fields, pattern_fields
from pipelines.ingest.refusals import STAGE, Refused
from pipelines.ingest.spill import KeyTable


@dataclass
class AudioIndex:
    """The corpus's audio files by key, and which of them a record used."""

    pattern: str
    match: str
    #: key -> path relative to its root; files whose key an earlier file has are kept as later rows
    #: (never used, so reported as audio without metadata); keys used by a record are marked
    files: KeyTable

    @classmethod
    def load(cls, spec, root: str) -> "AudioIndex":
        files = KeyTable(keep_later=True)
        for relpath, fields in match_files(root, spec.files):
            files.add(render(spec.key, fields), relpath)
        return cls(spec.files, spec.match, files.finish())

    def apply(self, fields: dict[str, str]) -> None:
        """A row's audio file (by the key its fields render), its path's fields added to the row's."""
        key = render(self.match, fields)
        relpath = self.files.get(key)
        if relpath is None:
            raise Refused("audio_missing", f"no audio file with key {key!r} among the files matching {self.pattern!r}")
        self.files.mark(key)
        found = dict(pattern_fields(self.pattern, relpath))
        for name, value in found.items():
            fields.setdefault(name, value)
        fields.update({f"audio_{k}": v for k, v in path_fields(relpath).items()})

    def orphans(self, dataset: str) -> Iterator[Drop]:
        for relpath in self.files.unmarked_and_later():
            yield Drop(
                STAGE, "audio_without_metadata",
                f"{relpath}: an audio file no metadata row refers to (no transcript line, row or item has its key)",
                dataset=dataset, source=relpath,
            )
