"""The aligners on real audio: espeak-ng speech with known word times, the LibriSpeech samples.

No mock: pocketsphinx aligns audio espeak-ng synthesized word by word (so every true boundary is
known), the real LibriSpeech clips of ../shared/corpora, and a whole ``audioprep run --srwt``.
"""
from __future__ import annotations

import importlib.util
import io
import json
import re

import numpy as np
import pytest
import soundfile as sf
import webdataset as wds

from pipelines.prepare.align import AlignError, PocketsphinxAligner

from conftest import PROJECT, audioprep, shared_corpus

#: The documented bound (docs/long-form.md): mean absolute word-boundary error on espeak-ng speech.
BOUND_MS = 35.0

_spec = importlib.util.spec_from_file_location("bench_aligner", PROJECT / "bench" / "aligner.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

needs_espeak = pytest.mark.skipif(
    not bench.espeak_available(), reason="espeak-ng is not installed (`make test` installs it as root with apt-get)"
)


@pytest.fixture(scope="module")
def aligner() -> PocketsphinxAligner:
    return PocketsphinxAligner()


@needs_espeak
def test_boundary_error_on_synthesized_speech_stays_under_the_bound():
    result = bench.measure(utterances=8, seed=0)
    assert result["failures"] == [] and result["aligned"] == 8
    assert result["boundaries"] == 2 * sum(len(s.split()) for s in bench.SENTENCES[:8])
    assert result["mean_abs_error_ms"] < BOUND_MS, result
    assert result["within_50ms"] > 0.85, result


def test_words_missing_from_the_dictionary_are_refused_not_guessed(aligner):
    silence = np.zeros(16000, dtype=np.int16)
    with pytest.raises(AlignError) as error:
        aligner.align(silence, "can kash pull zahra aside", "en")
    assert (error.value.reason, error.value.detail) == ("oov_words", "not in the pronunciation dictionary: zahra")


@needs_espeak
def test_units_keep_the_transcripts_spelling_and_punctuation(aligner):
    rng = np.random.default_rng(7)
    samples, truth = bench.build_utterance(["he", "hoped", "there", "would", "be", "stew"], rng, {})
    found = aligner.align(samples, "He hoped, there would be stew!", "en")
    assert [u for u, _, _ in found] == ["He", "hoped,", "there", "would", "be", "stew!"]
    starts = [a for _, a, _ in found]
    assert starts == sorted(starts) and all(a <= b for _, a, b in found)
    assert max(abs(a - t[1]) for (_, a, _), t in zip(found, truth)) < 0.2


@needs_espeak
def test_clitics_written_apart_are_units_of_their_own(aligner):
    samples, truth = bench.build_utterance(["i've", "been", "photographing", "it"], np.random.default_rng(2), {})
    found = aligner.align(samples, "i 've been photographing it", "en")  # TED-LIUM's tokenization
    assert [u for u, _, _ in found] == ["i", "'ve", "been", "photographing", "it"]
    (_, i_start, i_end), (_, ve_start, ve_end) = found[:2]
    assert i_end == ve_start and abs(i_start - truth[0][1]) < 0.05 and abs(ve_end - truth[0][2]) < 0.05
    quoted = aligner.align(samples, "'i've' been photographing it", "en")  # quotes are not part of the word
    assert quoted[0][0] == "'i've'" and abs(quoted[0][2] - truth[0][2]) < 0.05


def _energy(samples: np.ndarray, hop: int = 160) -> np.ndarray:
    frames = len(samples) // hop
    x = samples[: frames * hop].astype(np.float32).reshape(frames, hop)
    return np.sqrt((x**2).mean(axis=1))  # one value per 10 ms


def test_librispeech_clips_align_plausibly(aligner):
    root = shared_corpus("librispeech", "LibriSpeech")
    checked = 0
    for transcript in sorted(root.glob("*/*/*/*.trans.txt")):
        lines = dict(line.split(" ", 1) for line in transcript.read_text().splitlines() if line.strip())
        for utterance, text in sorted(lines.items()):
            flac = transcript.parent / f"{utterance}.flac"
            if not flac.exists():
                continue
            samples, rate = sf.read(str(flac), dtype="int16")
            assert rate == 16000
            text = text.lower()
            try:
                found = aligner.align(samples, text, "en")
            except AlignError as exc:
                assert exc.reason == "oov_words", f"{utterance}: {exc.detail}"  # named, never guessed
                continue
            seconds = len(samples) / 16000
            # every word present, in order; monotone; inside the audio
            assert [u for u, _, _ in found] == text.split(), utterance
            assert all(0.0 <= a <= b <= seconds + 0.01 for _, a, b in found), utterance
            assert all(b1 <= a2 + 1e-9 for (_, _, b1), (_, a2, _) in zip(found, found[1:])), utterance
            # pauses where the energy says so: a gap between words is quiet...
            energy = _energy(samples)
            speech_level = np.median(np.concatenate([energy[int(a * 100) : int(b * 100)] for _, a, b in found]))
            for (_, _, b1), (_, a2, _) in zip(found, found[1:]):
                if a2 - b1 >= 0.15:
                    assert np.median(energy[int(b1 * 100) : int(a2 * 100)]) < 0.3 * speech_level, (utterance, b1, a2)
            # ...and a long quiet stretch inside the utterance is a gap, not the middle of a word
            quiet = energy < 0.1 * speech_level
            first, last = int(found[0][1] * 100), int(found[-1][2] * 100)
            run_start = None
            for i in range(first, last + 1):
                if i < len(quiet) and quiet[i]:
                    run_start = i if run_start is None else run_start
                    continue
                if run_start is not None and i - run_start >= 30:  # 300 ms of silence
                    middle = (run_start + i) / 200
                    assert not any(a + 0.05 < middle < b - 0.05 for _, a, b in found), (utterance, middle)
                run_start = None
            checked += 1
    assert checked >= 10  # the 14 clips, less any refused for a word missing from the dictionary


LIBRISPEECH_LINES = {
    "1089-134686-0000": "he hoped there would be stew for dinner",
    "1089-134686-0001": "glue the sheet to the dark blue background",
}


@needs_espeak
@pytest.mark.slow
def test_audioprep_run_srwt_adds_a_timestamped_view_to_each_window(tmp_path):
    root = tmp_path / "LibriSpeech"
    chapter = root / "train-clean-100" / "1089" / "134686"
    chapter.mkdir(parents=True)
    rng = np.random.default_rng(3)
    truth = {}
    for utterance, text in LIBRISPEECH_LINES.items():
        samples, truth[utterance] = bench.build_utterance(text.split(), rng, {})
        sf.write(str(chapter / f"{utterance}.flac"), samples, 16000, format="FLAC", subtype="PCM_16")
    (chapter / "1089-134686.trans.txt").write_text("".join(f"{k} {v.upper()}\n" for k, v in LIBRISPEECH_LINES.items()))
    out = tmp_path / "out"
    result = audioprep("run", "--dataset", f"librispeech={root}", "--out", str(out), "--engine", "local", "--srwt")
    assert "SRWT views for librispeech" in result.stderr
    audioprep("verify", str(out))  # the SRWT targets pass the vocabulary check of a re-read
    samples = {}
    for shard in json.loads((out / "index.json").read_text())["shards"]:
        for row in wds.WebDataset(str(out / shard["path"]), shardshuffle=False):
            samples[row["__key__"]] = (json.loads(row["json"]), sf.info(io.BytesIO(row["flac"])).duration)
    assert sorted(samples) == [f"librispeech-{k}" for k in sorted(LIBRISPEECH_LINES)]
    for utterance, text in LIBRISPEECH_LINES.items():
        meta, seconds = samples[f"librispeech-{utterance}"]
        (asr, srwt) = meta["tasks"]
        assert (asr["task"], asr["target"]) == ("asr", text)
        assert (srwt["task"], srwt["prompt"]) == ("srwt", "<|startoftranscript|><|en|><|transcribe|><|en|><|timestamps|>")
        pieces = [p for p in re.split(r"(<\|[^|]*\|>)", srwt["target"]) if p]
        units = [p for p in pieces if not p.startswith("<|")]
        assert units == text.split() and pieces[0] == "<|0.00|>"
        times = [float(p[2:-2]) for p in pieces if p.startswith("<|") and p != "<|sil|>"]
        assert times == sorted(times) and times[-1] <= round(seconds, 2)
        # the boundary before each word (shared, or after a <|sil|>) lies in the true pause before it, +-100 ms
        starts = [float(pieces[i - 1][2:-2]) for i, p in enumerate(pieces) if not p.startswith("<|")]
        true = truth[utterance]
        for boundary, (_, _, previous_end), (_, start, _) in zip(starts[1:], true, true[1:]):
            assert previous_end - 0.1 <= boundary <= start + 0.1, (boundary, previous_end, start)


def test_srwt_stage_refuses_a_language_without_aligner_and_names_it():
    from pipelines.prepare.align import Aligners
    from pipelines.core.audio import Clip, encode_flac
    from pipelines.core.record import Drop, Record
    from pipelines.prepare.stages import Sample
    from pipelines.prepare.timestamps import make_srwt_stage

    stage = make_srwt_stage(frozenset({"talks"}), Aligners())
    clip = Clip(np.zeros(16000, dtype=np.int16))
    record = Record("talks", "train", "train", "talks-1", "a.flac", language="de", text_language="de", text="guten tag", source="a.tsv:2")
    dropped = stage(Sample(record, flac=encode_flac(clip), frames=16000))
    assert isinstance(dropped, Drop)
    assert (dropped.stage, dropped.reason, dropped.detail) == ("srwt", "no_aligner", "a.tsv:2: no word times and no aligner for language 'de'")
    timed = record.replace(words=(("guten", 0.1, 0.4), ("tag", 0.5, 0.8)))
    sample = stage(Sample(timed, flac=encode_flac(clip), frames=16000))
    assert [(v.task, v.target) for v in sample.views] == [("srwt", "<|0.00|>guten<|0.45|>tag<|0.80|>")]
    other = record.replace(dataset="other")  # SRWT not turned on for this dataset: passed through untouched
    assert stage(Sample(other, frames=16000)) == Sample(other, frames=16000)


def _has_torchaudio() -> bool:
    try:
        import torchaudio.functional  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def test_ctc_aligner_without_its_extra_says_which_extra(tmp_path):
    from pipelines.prepare.align import CtcAligner

    if _has_torchaudio():
        pytest.skip("torchaudio is installed here: the missing-extra message cannot be shown")
    (tmp_path / "model.pt").write_bytes(b"not used")
    (tmp_path / "tokens.txt").write_text("<blank>\n面\n条\n", encoding="utf-8")
    with pytest.raises(AlignError) as error:
        CtcAligner(str(tmp_path / "model.pt"), language="zh").align(np.zeros(16000, np.int16), "面条", "zh")
    assert error.value.reason == "aligner_missing"
    assert "pip install 'audioprep[ctc]'" in error.value.detail


@pytest.mark.skipif(
    not _has_torchaudio(),
    reason="torchaudio is not installed in this venv: `make test-ctc` runs this test in .venv-ctc with the ctc extra",
)
def test_ctc_aligner_with_a_model_the_test_builds(tmp_path):
    """A TorchScript 'acoustic model' of the test's own: a 440 Hz tone is 面, 880 Hz is 条, quiet is blank."""
    import torch

    from pipelines.prepare.align import CtcAligner

    class ToneModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            t = torch.arange(320) / 16000.0
            bases = [torch.sin(2 * torch.pi * f * t) for f in (440.0, 880.0)] + [torch.cos(2 * torch.pi * f * t) for f in (440.0, 880.0)]
            self.register_buffer("bases", torch.stack(bases))  # (4, 320): 20 ms frames

        def forward(self, waveform: torch.Tensor) -> torch.Tensor:
            frames = waveform[:, : waveform.shape[1] // 320 * 320].reshape(waveform.shape[0], -1, 320)
            power = (frames @ self.bases.T) ** 2  # (batch, frames, 4)
            tones = power[..., :2] + power[..., 2:]
            quiet = torch.full_like(tones[..., :1], 4.0)
            return torch.log_softmax(torch.cat([quiet, tones], dim=-1) * 2.0, dim=-1)

    torch.jit.script(ToneModel()).save(str(tmp_path / "model.pt"))
    (tmp_path / "tokens.txt").write_text("<blank>\n面\n条\n", encoding="utf-8")
    t = np.arange(16000) / 16000
    tone = lambda f, a, b: np.where((t >= a) & (t < b), 0.5 * np.sin(2 * np.pi * f * t), 0.0)  # noqa: E731
    samples = ((tone(440, 0.30, 0.70) + tone(880, 0.80, 0.90)) * 32767).astype(np.int16)
    found = CtcAligner(str(tmp_path / "model.pt"), language="zh").align(samples, "面条", "zh")
    assert [u for u, _, _ in found] == ["面", "条"]
    for (_, a, b), (ta, tb) in zip(found, [(0.30, 0.70), (0.80, 0.90)]):
        assert abs(a - ta) <= 0.04 and abs(b - tb) <= 0.04, found
