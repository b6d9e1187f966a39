"""How far the English aligner's word boundaries are from the truth, in milliseconds.

Utterances are built by concatenating words synthesized one by one with espeak-ng (each trimmed
to where its energy starts and ends) with seeded pauses between them, so every true word boundary
is known to the sample. ``PocketsphinxAligner`` (the aligner of ``audioprep run --srwt``) then
aligns each utterance's text and the mean absolute error of word starts and ends is reported.
Qwen-Audio's paper reports ~60 ms average shift for forced-aligner baselines on its own data.

    .venv/bin/python bench/aligner.py            # 12 utterances, the figure in docs/long-form.md
    .venv/bin/python bench/aligner.py --utterances 40 --seed 3
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.prepare.align import PocketsphinxAligner  # noqa: E402

RATE = 16_000
#: Sentences of common words (all in the CMU dictionary the pocketsphinx wheel ships).
SENTENCES = (
    "he hoped there would be stew for dinner",
    "the birch canoe slid on the smooth planks",
    "glue the sheet to the dark blue background",
    "it is easy to tell the depth of a well",
    "these days a chicken leg is a rare dish",
    "rice is often served in round bowls",
    "the juice of lemons makes fine punch",
    "the box was thrown beside the parked truck",
    "the hogs were fed chopped corn and garbage",
    "four hours of steady work faced us",
    "a large size in stockings is hard to sell",
    "the boy was there when the sun rose",
    "a rod is used to catch pink salmon",
    "the source of the huge river is the clear spring",
    "kick the ball straight and follow through",
    "help the woman get back to her feet",
)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def synthesize_word(word: str, voice: str = "en-us", speed: int = 150) -> np.ndarray:
    """One word from espeak-ng at 16 kHz, float32, trimmed to where its energy is (2% of its peak)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", word], check=True, capture_output=True
    ).stdout
    samples, rate = sf.read(io.BytesIO(wav), dtype="float32")
    samples = soxr.resample(samples, rate, RATE)
    hop = RATE // 200  # 5 ms frames
    frames = len(samples) // hop
    energy = np.sqrt(np.mean(samples[: frames * hop].reshape(frames, hop) ** 2, axis=1))
    loud = np.nonzero(energy > 0.02 * energy.max())[0]
    return samples[loud[0] * hop : (loud[-1] + 1) * hop]


def build_utterance(words: list[str], rng: np.random.Generator, cache: dict) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """int16 audio and the true (word, start, end) of every word: pauses of 30-600 ms, light noise."""
    pieces, truth, t = [], [], 0.0
    lead = rng.uniform(0.15, 0.5)
    pieces.append(np.zeros(int(lead * RATE), np.float32))
    t += len(pieces[-1]) / RATE
    for index, word in enumerate(words):
        if word not in cache:
            cache[word] = synthesize_word(word)
        audio = cache[word]
        truth.append((word, t, t + len(audio) / RATE))
        pieces.append(audio)
        t += len(audio) / RATE
        gap = rng.uniform(0.3, 0.6) if rng.random() < 0.3 else rng.uniform(0.03, 0.15)
        if index + 1 == len(words):
            gap = rng.uniform(0.2, 0.5)
        pieces.append(np.zeros(int(gap * RATE), np.float32))
        t += len(pieces[-1]) / RATE
    audio = np.concatenate(pieces)
    audio = audio / max(1e-9, float(np.abs(audio).max())) * 0.7
    audio = audio + rng.normal(0.0, 10 ** (-50 / 20), len(audio)).astype(np.float32)  # noise floor at -50 dBFS
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16), truth


def measure(utterances: int = 12, seed: int = 0) -> dict:
    """Align ``utterances`` synthesized utterances; boundary errors in ms (starts and ends together)."""
    rng = np.random.default_rng(seed)
    aligner = PocketsphinxAligner()
    cache: dict = {}
    errors, failures, audio_seconds, align_seconds = [], [], 0.0, 0.0
    for n in range(utterances):
        words = SENTENCES[n % len(SENTENCES)].split()
        samples, truth = build_utterance(words, rng, cache)
        aligner.setup()  # the model loads once, outside the timing
        began = time.perf_counter()
        try:
            found = aligner.align(samples, " ".join(words), "en")
        except ValueError as exc:
            failures.append(f"{' '.join(words)}: {exc}")
            continue
        align_seconds += time.perf_counter() - began
        audio_seconds += len(samples) / RATE
        for (word, start, end), (unit, a, b) in zip(truth, found):
            assert word == unit
            errors.append(abs(a - start) * 1000)
            errors.append(abs(b - end) * 1000)
    errors_ms = np.array(errors)
    return {
        "utterances": utterances,
        "aligned": utterances - len(failures),
        "boundaries": int(len(errors_ms)),
        "mean_abs_error_ms": round(float(errors_ms.mean()), 1) if len(errors_ms) else None,
        "median_abs_error_ms": round(float(np.median(errors_ms)), 1) if len(errors_ms) else None,
        "p90_abs_error_ms": round(float(np.percentile(errors_ms, 90)), 1) if len(errors_ms) else None,
        "within_50ms": round(float((errors_ms <= 50).mean()), 3) if len(errors_ms) else None,
        "real_time_factor": round(align_seconds / audio_seconds, 4) if audio_seconds else None,
        "failures": failures,
        "qwen_audio_baseline_ms": 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args()
    if not espeak_available():
        sys.exit("espeak-ng is not installed (Debian: apt-get install espeak-ng; `make test` installs it as root)")
    result = measure(args.utterances, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"aligned {result['aligned']}/{result['utterances']} utterances, {result['boundaries']} word boundaries")
    print(f"mean absolute boundary error: {result['mean_abs_error_ms']} ms "
          f"(median {result['median_abs_error_ms']} ms, 90th percentile {result['p90_abs_error_ms']} ms, "
          f"{result['within_50ms']:.0%} within 50 ms); Qwen-Audio's forced-aligner baseline: ~60 ms")
    print(f"aligner CPU time per second of audio: {result['real_time_factor']}")
    for failure in result["failures"]:
        print("failed:", failure)


if __name__ == "__main__":
    main()
