"""``audioprep demo DIR``: small corpora in their genuine layouts, synthesised, for a first run.

LibriSpeech (FLAC trees with ``*.trans.txt`` and ``SPEAKERS.TXT``), Clotho (captions CSV, WAV with
spaces in names, 44.1 kHz) and CochlScene (folder per scene, 44.1 kHz stereo). The audio is
synthetic (harmonic tones and noise, seeded), the layouts and quirks are the real ones, including a
few records the pipeline must refuse: a transcript line without audio, a clip over 30 s, a
corrupt file. Tests use the same writers to build their fixtures.
"""
from __future__ import annotations

import csv
import os
import zlib

import numpy as np
import soundfile as sf

WORDS = (
    "the quick brown fox jumps over a lazy dog while seven bright stars shine above "
    "quiet rivers and old stone bridges near the silent harbour town"
).split()
SCENES = ("Bus", "Cafe", "CrowdedIndoor", "Park", "Street", "SubwayStation")


def synth(seconds: float, rate: int, channels: int = 1, seed: str = "") -> np.ndarray:
    """Deterministic speech-like audio: harmonics with a syllable-rate envelope, plus noise."""
    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(100, 220)
    signal = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 5) * t) ** 2
    mono = 0.25 * signal * envelope + 0.02 * rng.standard_normal(len(t))
    mono = (mono / max(1e-9, np.abs(mono).max()) * 0.8).astype(np.float32)
    if channels == 1:
        return mono
    return np.stack([mono * (1 - 0.1 * c) for c in range(channels)], axis=1)


def _sentence(seed: str, n: int) -> str:
    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), n))


def write_librispeech(root: str, splits: dict[str, int] | None = None, missing_audio: bool = True) -> None:
    """``<split>/<spk>/<chap>/<spk>-<chap>-<utt>.flac`` + ``<spk>-<chap>.trans.txt`` + SPEAKERS.TXT."""
    splits = splits or {"train-clean-5": 8, "dev-clean-2": 4}
    speakers = []
    for s_index, (split, count) in enumerate(sorted(splits.items())):
        for speaker_index in range(2):
            speaker, chapter = str(100 + 10 * s_index + speaker_index), str(5000 + s_index * 7 + speaker_index)
            speakers.append((speaker, "F" if speaker_index % 2 else "M", split))
            folder = os.path.join(root, split, speaker, chapter)
            os.makedirs(folder, exist_ok=True)
            lines = []
            for utt in range(count // 2):
                utt_id = f"{speaker}-{chapter}-{utt:04d}"
                sf.write(os.path.join(folder, f"{utt_id}.flac"), synth(2 + utt % 3, 16000, seed=utt_id), 16000, subtype="PCM_16")
                lines.append(f"{utt_id} {_sentence(utt_id, 5 + utt).upper()}")
            if missing_audio and speaker_index == 0:
                lines.append(f"{speaker}-{chapter}-{count // 2:04d} THIS LINE HAS NO AUDIO FILE")
            with open(os.path.join(folder, f"{speaker}-{chapter}.trans.txt"), "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines))  # the real files may lack a final newline
    with open(os.path.join(root, "SPEAKERS.TXT"), "w", encoding="utf-8") as handle:
        handle.write("; Some pipe(|) separated metadata about all LibriVox readers\n;ID  |SEX| SUBSET           |MINUTES| NAME\n")
        for speaker, sex, split in speakers:
            handle.write(f"{speaker:<5}| {sex} | {split:<17}| 25.00 | Reader {speaker}\n")


def write_clotho(root: str, splits: dict[str, int] | None = None, too_long: bool = True) -> None:
    """``clotho_captions_<split>.csv`` (file_name,caption_1..5) + ``<split>/<file_name>`` WAV 44.1 kHz."""
    splits = splits or {"development": 4, "evaluation": 2}
    for split, count in sorted(splits.items()):
        os.makedirs(os.path.join(root, split), exist_ok=True)
        rows = []
        for i in range(count + (1 if too_long and split == "development" else 0)):
            name = f"{split} sound {i:02d}.wav" if i < count else "very long field recording.wav"
            seconds = 15 + i % 4 if i < count else 31
            sf.write(os.path.join(root, split, name), synth(seconds, 44100, seed=name), 44100, subtype="PCM_16")
            captions = [f"{_sentence(name + str(c), 6).capitalize()}." for c in range(5)]
            if i == 0:
                captions[3] = captions[3].upper()  # one caption is all upper case in the original
                captions[1] = "Birds chirp, then a car passes by, loudly."  # a quoted cell
            rows.append([name, *captions])
        with open(os.path.join(root, f"clotho_captions_{split}.csv"), "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_name", *[f"caption_{c}" for c in range(1, 6)]])
            writer.writerows(rows)


def write_cochlscene(root: str, per_scene: dict[str, int] | None = None, corrupt: bool = True) -> None:
    """``<Split>/<Scene>/<Scene>_<nnnn>.wav``, 10 s, 44.1 kHz stereo."""
    per_scene = per_scene or {"Train": 2, "Val": 1, "Test": 1}
    for split, count in sorted(per_scene.items()):
        for scene in SCENES:
            folder = os.path.join(root, split, scene)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                name = f"{scene}_{split}_{i:04d}"
                sf.write(os.path.join(folder, f"{name}.wav"), synth(10, 44100, 2, seed=name), 44100, subtype="PCM_16")
    if corrupt:
        with open(os.path.join(root, "Train", SCENES[0], f"{SCENES[0]}_Train_broken.wav"), "wb") as handle:
            handle.write(b"RIFF\x00\x00\x00\x00WAVEthis is not audio")


def write_demo(directory: str) -> dict[str, str]:
    """Write the three demo corpora; returns NAME -> root."""
    roots = {
        "librispeech": os.path.join(directory, "LibriSpeech"),
        "clotho": os.path.join(directory, "clotho"),
        "cochlscene": os.path.join(directory, "CochlScene"),
    }
    write_librispeech(roots["librispeech"])
    write_clotho(roots["clotho"])
    write_cochlscene(roots["cochlscene"])
    return roots
