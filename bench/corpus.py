"""The benchmark's synthetic corpora, in LibriSpeech layout, in three source formats.

``flac/``: 16 kHz mono FLAC (read by the built-in ``librispeech`` schema); ``wav/``: 44.1 kHz stereo
16-bit WAV; ``mp3/``: 48 kHz stereo MP3 (read by ``bench/schemas/libri_wav.yaml`` and
``libri_mp3.yaml``, the same layout with another extension). Each format holds a third of the audio;
clips are 4-16 s of speech-like sound (harmonics, a syllable-rate envelope, noise) with a transcript
line each, split 90% ``train-clean-100`` / 10% ``dev-clean``. Scaled copies (4x, 16x) are
trees of hard links under new speaker ids, so keys and paths are new while the audio is the same bytes.

A table-layout corpus for ingest (``metadata_{split}.csv`` with a duration column) is written too:
its rows point at a few real files, so the ingest measures metadata handling, never decoding.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import zlib
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import soundfile as sf

from pipelines.demo import WORDS

FORMATS = {
    # name: (extension, rate, channels, soundfile format, subtype)
    "flac": (".flac", 16000, 1, "FLAC", "PCM_16"),
    "wav": (".wav", 44100, 2, "WAV", "PCM_16"),
    "mp3": (".mp3", 48000, 2, "MP3", "MPEG_LAYER_III"),
}
SPLITS = (("train-clean-100", 0.9), ("dev-clean", 0.1))
UTTERANCES_PER_CHAPTER = 20
POOL_SECONDS = 64


def _pool(rate: int, channels: int, seed: int) -> np.ndarray:
    """A minute of speech-like audio at ``rate``; clips are slices of it (cheap to make)."""
    rng = np.random.default_rng(seed)
    parts = []
    for piece in range(8):
        seconds = POOL_SECONDS / 8
        t = np.arange(int(seconds * rate)) / rate
        f0 = rng.uniform(90, 240)
        signal = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 7))
        envelope = 0.4 + 0.6 * np.sin(2 * np.pi * rng.uniform(3, 5) * t) ** 2
        mono = 0.25 * signal * envelope + 0.03 * rng.standard_normal(len(t))
        parts.append((mono / np.abs(mono).max() * 0.7).astype(np.float32))
    mono = np.concatenate(parts)
    if channels == 1:
        return mono
    return np.stack([mono * (1 - 0.15 * c) for c in range(channels)], axis=1)


def _sentence(seed: str) -> str:
    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), int(rng.integers(8, 30)))).upper()


def _plan_clips(fmt: str, seconds: float, seed: int) -> list[tuple[str, str, str, str, float, int]]:
    """(split, speaker, chapter, utterance id, seconds, pool offset) for ``seconds`` of audio."""
    rng = np.random.default_rng(seed)
    clips = []
    total = 0.0
    index = 0
    base = {"flac": 1000, "wav": 2000, "mp3": 3000}[fmt]
    while total < seconds:
        length = round(float(rng.uniform(4.0, 16.0)), 3)
        chapter_index, utt = divmod(index, UTTERANCES_PER_CHAPTER)
        split = SPLITS[0][0] if (chapter_index % 10) != 9 else SPLITS[1][0]
        speaker = str(base + chapter_index // 4)
        chapter = str(10000 + chapter_index)
        offset = int(rng.integers(0, POOL_SECONDS - 17))
        clips.append((split, speaker, chapter, f"{speaker}-{chapter}-{utt:04d}", length, offset))
        total += length
        index += 1
    return clips


def _write_chunk(args) -> int:
    root, fmt, chunk = args
    ext, rate, channels, sf_format, subtype = FORMATS[fmt]
    pool = _pool(rate, channels, seed=zlib.crc32(fmt.encode()))
    for split, speaker, chapter, utt_id, length, offset in chunk:
        folder = os.path.join(root, split, speaker, chapter)
        os.makedirs(folder, exist_ok=True)
        start = offset * rate
        data = pool[start : start + int(length * rate)]
        sf.write(os.path.join(folder, utt_id + ext), data, rate, format=sf_format, subtype=subtype)
    return len(chunk)


def _write_transcripts(root: str, clips) -> None:
    by_chapter: dict[tuple[str, str, str], list[str]] = {}
    for split, speaker, chapter, utt_id, _, _ in clips:
        by_chapter.setdefault((split, speaker, chapter), []).append(f"{utt_id} {_sentence(utt_id)}")
    for (split, speaker, chapter), lines in by_chapter.items():
        folder = os.path.join(root, split, speaker, chapter)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{speaker}-{chapter}.trans.txt"), "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


def build_corpus(directory: str, hours: float, jobs: int | None = None, log=print) -> dict:
    """Write (or reuse) the three-format corpus for ``hours`` of audio under ``directory``."""
    marker = os.path.join(directory, "corpus.json")
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as handle:
            info = json.load(handle)
        if info.get("hours") == hours:
            return info
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    per_format = hours * 3600 / len(FORMATS)
    info = {"hours": hours, "formats": {}}
    work = []
    for fmt in FORMATS:
        clips = _plan_clips(fmt, per_format, seed=zlib.crc32(fmt.encode()))
        root = os.path.join(directory, fmt)
        _write_transcripts(root, clips)
        step = max(1, len(clips) // 16)
        work += [(root, fmt, clips[i : i + step]) for i in range(0, len(clips), step)]
        info["formats"][fmt] = {
            "root": root,
            "clips": len(clips),
            "seconds": round(sum(c[4] for c in clips), 3),
            "rate": FORMATS[fmt][1],
            "channels": FORMATS[fmt][2],
        }
    log(f"writing {sum(f['clips'] for f in info['formats'].values())} clips ({hours} h) under {directory}")
    with ProcessPoolExecutor(jobs or os.cpu_count() or 1) as pool:
        list(pool.map(_write_chunk, work))
    with open(marker, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=1)
    return info


def scaled_corpus(base: dict, directory: str, factor: int) -> dict:
    """``factor`` copies of ``base`` as hard-link trees with new speaker ids (new keys, same audio)."""
    marker = os.path.join(directory, "corpus.json")
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as handle:
            info = json.load(handle)
        if info.get("factor") == factor and info.get("hours") == base["hours"]:
            return info
    shutil.rmtree(directory, ignore_errors=True)
    info = {"hours": base["hours"], "factor": factor, "formats": {}}
    for fmt, meta in base["formats"].items():
        src_root = meta["root"]
        root = os.path.join(directory, fmt)
        for copy in range(factor):
            for dirpath, _, files in os.walk(src_root):
                rel = os.path.relpath(dirpath, src_root).split(os.sep)
                if len(rel) != 3:
                    continue
                split, speaker, chapter = rel
                new_speaker = str(int(speaker) + 100000 * copy)
                folder = os.path.join(root, split, new_speaker, chapter)
                os.makedirs(folder, exist_ok=True)
                for name in files:
                    old = os.path.join(dirpath, name)
                    if name.endswith(".trans.txt"):
                        with open(old, encoding="utf-8") as handle:
                            text = handle.read()
                        text = "\n".join(
                            line.replace(f"{speaker}-", f"{new_speaker}-", 1) for line in text.splitlines()
                        )
                        with open(os.path.join(folder, f"{new_speaker}-{chapter}.trans.txt"), "w", encoding="utf-8") as handle:
                            handle.write(text + "\n")
                    else:
                        # a hard link: the same bytes under a new name (a symlink leading out of the
                        # corpus root would be refused by ingest as path_outside_root)
                        os.link(old, os.path.join(folder, name.replace(f"{speaker}-", f"{new_speaker}-", 1)))
        info["formats"][fmt] = {**meta, "root": root, "clips": meta["clips"] * factor, "seconds": meta["seconds"] * factor}
    with open(marker, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=1)
    return info


def audio_files(info: dict) -> list[str]:
    """Every audio file of a corpus, in a fixed order (the codec loop's input)."""
    paths = []
    for fmt, meta in info["formats"].items():
        ext = FORMATS[fmt][0]
        for dirpath, _, files in os.walk(meta["root"]):
            paths += [os.path.join(dirpath, f) for f in files if f.endswith(ext)]
    return sorted(paths)


def build_table_corpus(directory: str, records: int, audio_root: str) -> str:
    """``metadata_{split}.csv`` (id, path, duration, speaker, text) with ``records`` rows, for ingest.

    Rows cycle over 64 real FLAC files (copied in), so the file check at ingest finds them; the
    duration column means no header is read.
    """
    marker = os.path.join(directory, "table.json")
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as handle:
            if json.load(handle).get("records") == records:
                return directory
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(os.path.join(directory, "audio"))
    sources = sorted(p for p in audio_files({"formats": {"flac": {"root": audio_root}}}))[:64]
    for i, src in enumerate(sources):
        shutil.copyfile(src, os.path.join(directory, "audio", f"clip{i:02d}.flac"))
    rng = np.random.default_rng(7)
    durations = rng.uniform(1.0, 20.0, records)
    per_split = {"train": records - records // 10, "test": records // 10}
    row = 0
    for split, count in per_split.items():
        with open(os.path.join(directory, f"metadata_{split}.csv"), "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "path", "duration", "speaker", "text"])
            for _ in range(count):
                writer.writerow([
                    f"utt{row:08d}", f"audio/clip{row % len(sources):02d}.flac", f"{durations[row]:.3f}",
                    f"spk{row % 997:03d}", " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), 12)),
                ])
                row += 1
    with open(marker, "w", encoding="utf-8") as handle:
        json.dump({"records": records}, handle)
    return directory
