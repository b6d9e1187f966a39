"""Unannotated speech longer than 30 s, cut at pauses found by Silero VAD (onnxruntime, no torch).

The recording is real synthesized speech (espeak-ng, word by word) with known word times, so the
test can check that no cut falls inside a word and that every word lands whole in a window.
"""
from __future__ import annotations

import functools
import importlib.util
import json

import numpy as np
import pytest
import soundfile as sf

from pipelines.core.config import DatasetSpec, EngineOptions, RunConfig
from pipelines.finalize.collect import finalize
from pipelines.ingest.manifest import iter_manifest
from pipelines.plan.planner import make_plan
from pipelines.runners import run_units
from pipelines.ingest.vad import SileroVad, VadError, cut_points

from conftest import PROJECT

_spec = importlib.util.spec_from_file_location("bench_aligner", PROJECT / "bench" / "aligner.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

needs_espeak = pytest.mark.skipif(
    not bench.espeak_available(), reason="espeak-ng is not installed (`make test` installs it as root with apt-get)"
)


def test_cut_points_prefer_pauses_and_refuse_unbroken_speech():
    speech = [(0.5, 10.0), (10.4, 20.0), (21.0, 29.0), (29.3, 40.0)]
    assert cut_points(speech, 41.0, 30.0) == [(0.3, 29.15), (29.15, 40.2)]  # the last pause that fits
    with pytest.raises(VadError) as error:
        cut_points([(1.0, 33.0)], 40.0, 30.0)
    assert (error.value.reason, error.value.detail) == ("no_pause", "32.00 s of speech from 1.00 s without a pause")


@functools.lru_cache(maxsize=1)
def _long_speech(seed: int = 5):
    rng = np.random.default_rng(seed)
    cache, pieces, words, t = {}, [], [], 0.0
    for sentence in bench.SENTENCES:
        samples, truth = bench.build_utterance(sentence.split(), rng, cache)
        words += [(w, t + a, t + b) for w, a, b in truth]
        pieces.append(samples)
        t += len(samples) / 16000
        pause = int(rng.uniform(0.6, 1.2) * 16000)
        pieces.append((rng.normal(0, 3, pause)).astype(np.int16))
        t += pause / 16000
    return np.concatenate(pieces), words


@needs_espeak
def test_vad_finds_the_speech(tmp_path):
    samples, words = _long_speech()
    speech = SileroVad().speech(samples)
    covered = [any(a - 0.1 <= s and e <= b + 0.1 for a, b in speech) for _, s, e in words]
    assert np.mean(covered) >= 0.95, speech  # every word (nearly) inside a stretch the VAD calls speech
    quiet = sum(b - a for a, b in speech) / (len(samples) / 16000)
    assert quiet < 0.9  # and the pauses are not speech


@needs_espeak
def test_long_unannotated_speech_becomes_windows_cut_in_pauses(tmp_path):
    samples, words = _long_speech()
    root = tmp_path / "corpus"
    (root / "angry").mkdir(parents=True)
    sf.write(str(root / "angry" / "talk.wav"), samples, 16000, subtype="PCM_16")
    total = len(samples) / 16000
    assert total > 45.0
    schema = tmp_path / "toy_vad.yaml"
    schema.write_text(
        """
name: toy_vad
description: one long recording per label folder, no segments (written by the test)
license: CC0-1.0
language: en
text_language: en
splits: {train: train}
layout: {kind: files, files: "{emotion}/{name}.wav"}
record: {key: "{emotion}-{name:stem}", audio: "{path}", split: train, labels: {emotion: "{emotion}"}}
windows: {long_audio: vad, min_seconds: 1.0}
tasks: [{task: emotion}]
""",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    plan = make_plan(RunConfig(datasets=(DatasetSpec("toy_vad", str(schema), str(root)),), out=str(out)))
    records = list(iter_manifest(str(out / "manifests" / "toy_vad.parquet")))
    assert len(records) >= 2 and all(r.duration <= 30.0 for r in records)
    assert [r.key for r in records] == [f"toy_vad-angry-talk-w{round(r.offset * 100):07d}" for r in records]
    assert all(r.labels == {"emotion": "angry"} for r in records)
    spans = [(r.offset, r.offset + r.duration) for r in records]
    assert all(a1 <= b0 + 1e-6 for (_, a1), (b0, _) in zip(spans, spans[1:]))  # in order, no overlap
    for word, start, end in words:  # every word whole inside one window: no cut inside a word
        assert any(a - 0.02 <= start and end <= b + 0.02 for a, b in spans), (word, start, end, spans)
    run_units(plan.run_config(), EngineOptions("local", 1), plan.units)
    summary = finalize(str(out))
    assert summary["balanced"] and summary["written"] == len(records)
    assert json.loads((out / "summary.json").read_text())["datasets"]["toy_vad"]["input"] == len(records)
