"""Where an export writes: a folder, or ``s3://`` through a local work folder (``core.remote.Mirror``).

``AudioFiles`` puts each distinct FLAC under ``audio/XX/<hash>.flac``, named by the sha256 of its
bytes: repeated training copies (the same audio) point at one file, a rerun finds the files it
wrote and writes nothing again, and every file appears whole or not at all (``atomic.write_bytes``).
``JsonlParts`` streams the rows of one series into ``part-00000.jsonl``, ``part-00001.jsonl``, ...
(one file when ``rows_per_file`` is None), each written under a temporary name and renamed whole.
In ``s3://`` every file is uploaded when complete, and a local copy of audio is removed after upload.
"""
from __future__ import annotations

import hashlib
import json
import os

from pipelines.core.atomic import write_bytes, write_json
from pipelines.core.remote import Mirror, default_workdir, is_remote

AUDIO_DIR = "audio"


class Destination:
    """The export folder ``to`` (local) or prefix (``s3://``); ``path(rel)`` is a file's local path."""

    def __init__(self, to: str, workdir: str | None = None):
        self.uri = to if is_remote(to) else None
        self.local = os.path.abspath(workdir or default_workdir(to)) if self.uri else os.path.abspath(to)
        self.mirror = Mirror(self.local, self.uri)
        os.makedirs(self.local, exist_ok=True)

    def path(self, rel: str) -> str:
        return os.path.join(self.local, rel)

    def reference(self, rel: str, absolute: bool) -> str:
        """How a row names the file ``rel``: relative to the export folder, or absolute (a path or an ``s3://`` URI)."""
        if not absolute:
            return rel
        return f"{self.mirror.uri}{rel}" if self.uri else self.path(rel)

    def publish(self, rel: str) -> None:
        self.mirror.push(self.path(rel))

    def write_json(self, rel: str, value) -> None:
        write_json(self.path(rel), value)
        self.publish(rel)


class AudioFiles:
    """The export's audio files, one per distinct FLAC content; counts what it wrote and what it found."""

    def __init__(self, destination: Destination):
        self.destination = destination
        self.written = self.found = 0

    @staticmethod
    def relpath(flac: bytes) -> str:
        """``audio/XX/<first 32 hex digits of the sha256>.flac``: the name of these bytes."""
        digest = hashlib.sha256(flac).hexdigest()[:32]
        return f"{AUDIO_DIR}/{digest[:2]}/{digest}.flac"

    def add(self, flac: bytes) -> str:
        """The relative path of ``flac``'s file, written unless it exists already."""
        rel = self.relpath(flac)
        local = self.destination.path(rel)
        if os.path.exists(local):
            self.found += 1
            return rel
        write_bytes(local, flac)
        self.destination.publish(rel)
        if self.destination.uri is not None:
            os.remove(local)  # uploaded: the work folder stays small (a rerun uploads nothing twice)
        self.written += 1
        return rel


class JsonlParts:
    """The rows of one series (``train``, ``eval/NAME/SPLIT``, ``data/asr/NAME_eval``) in JSONL files."""

    def __init__(self, destination: Destination, series: str, rows_per_file: int | None):
        self.destination, self.series, self.rows_per_file = destination, series, rows_per_file
        self.files: list[str] = []
        self.rows = 0
        self._handle = None
        self._in_file = 0

    def _name(self) -> str:
        if self.rows_per_file is None:
            return f"{self.series}.jsonl"
        return f"{self.series}/part-{len(self.files):05d}.jsonl"

    def _open(self) -> None:
        rel = self._name()
        final = self.destination.path(rel)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        self._handle = open(os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.tmp"), "w", encoding="utf-8")
        self._rel, self._in_file = rel, 0

    def _close(self) -> None:
        if self._handle is None:
            return
        temporary = self._handle.name
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(temporary, self.destination.path(self._rel))
        self.destination.publish(self._rel)
        self.files.append(self._rel)
        self._handle = None

    def write(self, row: dict) -> None:
        if self._handle is not None and self.rows_per_file is not None and self._in_file >= self.rows_per_file:
            self._close()
        if self._handle is None:
            self._open()
        self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._in_file += 1
        self.rows += 1

    def close(self) -> list[str]:
        """Publish the last file; parts a larger earlier export left in the series' folder are removed."""
        self._close()
        if self.rows_per_file is not None:
            folder = self.destination.path(self.series)
            for name in sorted(os.listdir(folder)):
                if name.startswith("part-") and f"{self.series}/{name}" not in self.files:
                    os.remove(os.path.join(folder, name))
        return self.files
