"""The audio index: a corpus's audio files by key, for schemas whose metadata names audio by a key
(``audio_files``) rather than by a path; every file no row used becomes a drop (``audio_without_metadata``).
A listing of many files is held on disk past a bound (``spill.KeyTable``), with the same answers.

A dataset cut into ingest tasks has its audio listed once, on the driver, into a file (``write_index``)
that every task looks keys up in (``opened``); each task records the keys its rows used, and the
files none used are told once, after every task's rows (``merge.merge_parts``)."""
from __future__ import annotations

import os
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
    def load(cls, spec, root: str, path: str = "") -> "AudioIndex":
        """The audio files under ``root`` (``spec``: the schema's ``audio_files``); ``path``: held in that file."""
        files = KeyTable(keep_later=True, path=path)
        for relpath, fields in match_files(root, spec.files):
            files.add(render(spec.key, fields), relpath)
        return cls(spec.files, spec.match, files.finish())

    @classmethod
    def opened(cls, spec, path: str) -> "AudioIndex":
        """The index ``write_index`` wrote to ``path``, read-only, with no key used yet."""
        return cls(spec.files, spec.match, KeyTable.open(path, keep_later=True))

    def used(self) -> Iterator[str]:
        """The keys a record used, sorted."""
        return self.files.marked()

    def close(self) -> None:
        self.files.close()

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


def write_index(spec, root: str, path: str) -> str:
    """The audio files under ``root`` listed into the file ``path`` (written whole, then renamed)."""
    temporary = path + ".partial"
    if os.path.exists(temporary):
        os.remove(temporary)
    AudioIndex.load(spec, root, temporary).close()
    os.replace(temporary, path)
    return path
