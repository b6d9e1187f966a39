"""Coverage-guided fuzzing of the metadata readers and the audio decoder with atheris (libFuzzer).

Not part of the test suite (pytest collects only test_*.py). How to run it: docs/testing.md. Each
input chooses a target (lines, table, tsv, jsonl, json or audio) by its first byte; the rest is the
metadata file (or the audio file). A finding is any exception escaping ``ingest`` (or any
``audio.load`` exception that is not an ``AudioError``), or a record or drop the manifest and the
quarantine could not store.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile

import atheris

with atheris.instrument_imports(include=["pipelines", "tag_builder"]):
    import pyarrow as pa

    from pipelines.core import audio
    from pipelines.ingest.corpus import ingest
    from pipelines.core.record import ARROW_SCHEMA, Drop, Record
    from pipelines.prepare.stages import Sample

sys.path.insert(0, os.path.dirname(__file__))
from test_properties import SCHEMAS, TAG  # noqa: E402  (the same schemas and tag stage as the property tests)

KINDS = sorted(SCHEMAS)
ROOT = tempfile.mkdtemp(prefix="fuzz-readers-")
os.makedirs(os.path.join(ROOT, "train"))
for name in ("a1", "a2"):
    with open(os.path.join(ROOT, "train", f"{name}.wav"), "wb") as handle:
        handle.write(b"RIFF")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".m4a")


def one_input(data: bytes) -> None:
    if not data:
        return
    choice, body = data[0], data[1:]
    if choice % (len(KINDS) + 1) == len(KINDS):
        path = os.path.join(ROOT, "clip" + AUDIO_EXTENSIONS[(choice // 8) % len(AUDIO_EXTENSIONS)])
        with open(path, "wb") as handle:
            handle.write(body)
        try:
            audio.load(path)
        except audio.AudioError:
            pass
        return
    for name in ("train.csv", "train.txt"):
        with open(os.path.join(ROOT, name), "wb") as handle:
            handle.write(body)
    for item in ingest(SCHEMAS[KINDS[choice % (len(KINDS) + 1)]], "prop", ROOT):
        if isinstance(item, Drop):
            json.dumps(item.to_row(), ensure_ascii=False).encode("utf-8")
        else:
            assert isinstance(item, Record)
            pa.Table.from_pylist([item.to_row()], schema=ARROW_SCHEMA)
            TAG(Sample(item.replace(dataset="prop")))


def write_seeds(folder: str) -> None:
    """Starting inputs: plausible metadata lines for every reader, and a short file of each codec."""
    from test_properties import PLAUSIBLE

    from pipelines.demo import synth
    import soundfile as sf

    os.makedirs(folder, exist_ok=True)
    for k, kind in enumerate(KINDS):
        for n, line in enumerate(PLAUSIBLE):
            with open(os.path.join(folder, f"{kind}-{n}"), "wb") as handle:
                handle.write(bytes([k]) + line + b"\n" + PLAUSIBLE[(n + 1) % len(PLAUSIBLE)] + b"\n")
    for e, (ext, fmt) in enumerate(((".wav", "WAV"), (".flac", "FLAC"), (".mp3", "MP3"), (".ogg", "OGG"))):
        path = os.path.join(ROOT, "seed" + ext)
        sf.write(path, synth(0.2, 16000, seed=ext), 16000, format=fmt)
        with open(path, "rb") as source, open(os.path.join(folder, f"audio{ext}"), "wb") as handle:
            handle.write(bytes([_audio_choice(e)]) + source.read())


def _audio_choice(extension_index: int) -> int:
    """The first byte that selects the audio target with the extension at ``extension_index``."""
    for byte in range(256):
        if byte % (len(KINDS) + 1) == len(KINDS) and (byte // 8) % len(AUDIO_EXTENSIONS) == extension_index:
            return byte
    raise ValueError(extension_index)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--seeds":
        write_seeds(sys.argv[2])
        sys.exit(0)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
