"""SRWT targets (spec section 5): the format, and corpora shipping word times, end to end.

Three miniature corpora of the test's own invention, each with a genuine alignment format: MFA
TextGrids per utterance, a Kaldi-style CTM per recording over segments packed into windows (the
gap kept as silence), TIMIT-style .WRD files in samples. Every SRWT target is checked exactly.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import soundfile as sf
import webdataset as wds
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.config import DatasetSpec, EngineOptions, RunConfig
from pipelines.demo import synth
from pipelines.finalize.collect import finalize
from pipelines.plan.planner import make_plan
from pipelines.runners import run_units
from pipelines.prepare.srwt import SrwtError, Timed, srwt_target, target, units
from tag_builder.tasks import get_task
from tag_builder.views import TagError, build_view
from tag_builder.vocabulary import TOKEN_PATTERN

SRWT_EN = "<|startoftranscript|><|en|><|transcribe|><|en|><|timestamps|>"


def test_spec_example_exactly():
    words = [("面", 0.54, 0.86), ("条", 0.86, 1.17), ("机", 1.17, 1.46)]
    assert srwt_target("面条机", "zh", words, 2.01) == "<|0.00|><|sil|><|0.54|>面<|0.86|>条<|1.17|>机<|1.46|><|sil|><|2.01|>"


def test_short_pauses_shared_long_pauses_silent_punctuation_attached():
    words = [("HE", 0.1, 0.3), ("hoped", 0.35, 0.7), ("there", 1.2, 1.5), ("ok", 1.5, 1.9)]
    got = srwt_target("he hoped, there - ok.", "en", words, 2.0)
    assert got == "<|0.00|>he<|0.32|>hoped,<|0.70|><|sil|><|1.20|>there -<|1.50|>ok.<|1.90|>"
    # the threshold is an option: 0.6 s keeps the 0.5 s pause inside the shared boundary
    assert srwt_target("he hoped, there - ok.", "en", words, 2.0, sil_threshold=0.6) == (
        "<|0.00|>he<|0.32|>hoped,<|0.95|>there -<|1.50|>ok.<|1.90|>"
    )


def test_chinese_units_are_characters_and_word_level_times_are_refused():
    assert units("我们去了 ok 吗?好", "zh") == ["我", "们", "去", "了", "ok", "吗?", "好"]
    with pytest.raises(SrwtError) as error:
        srwt_target("面条机", "zh", [("面条", 0.5, 1.1), ("机", 1.1, 1.4)], 2.0)
    assert error.value.reason == "words_not_units"
    with pytest.raises(SrwtError) as error:
        srwt_target("the cat", "en", [("the", 0.0, 0.2), ("dog", 0.2, 0.5)], 1.0)
    assert (error.value.reason, error.value.detail) == ("words_mismatch", "timed word 'dog' where the transcript has 'cat'")


def test_view_allows_exactly_time_tokens_and_sil():
    task = get_task("srwt")
    view = build_view(task, "<|0.00|>hi<|0.40|>", audio_language="en", text_language="en", text_form=None)
    assert (view.prompt, view.target) == (SRWT_EN, "<|0.00|>hi<|0.40|>")
    for bad in ("<|0.00|>hi<|en|><|0.40|>", "<|0.00|>hi<|30.01|>", "<|0.00|><|endoftext|>"):
        with pytest.raises(TagError) as error:
            build_view(task, bad, audio_language="en", text_language="en", text_form=None)
        assert error.value.reason == "special_token_in_text"
    with pytest.raises(TagError):  # and ASR still refuses time tokens in its target
        build_view(get_task("asr"), "<|0.00|>hi", audio_language="en", text_language="en", text_form="spoken")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 2.0), st.floats(0.0, 1.5)), min_size=1, max_size=30), st.floats(0.05, 1.0))
def test_targets_are_well_formed(gaps_and_lengths, threshold):
    timed, t = [], 0.0
    for i, (gap, length) in enumerate(gaps_and_lengths):
        timed.append(Timed(f"w{i}", t + gap, t + gap + length))
        t += gap + length
    duration = min(30.0, t + 0.5)
    if t > 30.0:
        timed = [x for x in timed if x.end <= 30.0] or [Timed("w0", 0.0, 0.1)]
    got = target(timed, duration, threshold)
    pieces = [p for p in TOKEN_PATTERN.split(got)]
    tokens = TOKEN_PATTERN.findall(got)
    times = [float(tok[2:-2]) for tok in tokens if tok != "<|sil|>"]
    assert got.startswith("<|0.00|>") and times == sorted(times) and 0.0 <= times[-1] <= round(duration * 100) / 100 <= 30.0
    units_found = [p for p in pieces if p] + ["<|sil|>"] * tokens.count("<|sil|>")
    assert sorted(u for u in units_found if u != "<|sil|>") == sorted(x.unit for x in timed)
    # alternation: N units between N+1 time tokens, never two units or two times side by side
    kinds = ["t" if TOKEN_PATTERN.fullmatch(p) and p != "<|sil|>" else "u" for p in re.split(r"(<\|[^|]*\|>)", got) if p]
    assert kinds[0] == kinds[-1] == "t" and all(a != b for a, b in zip(kinds, kinds[1:]))


import re  # noqa: E402  (used by the property above)


# --- corpora shipping word times --------------------------------------------------------------

SCHEMA_HEAD = """
description: a toy corpus with alignments, written by the test
license: CC0-1.0
language: en
text_language: en
text_form: spoken
splits: {train: train}
tasks: [{task: asr}]
"""

MFA_SCHEMA = SCHEMA_HEAD + """
name: toy_mfa
layout: {kind: lines, files: "text", line: '(?P<id>\\S+) (?P<text>.*)'}
record: {key: "{id}", audio: "wav/{id}.wav", split: train, text: "{text}"}
words: {format: textgrid, files: "align/{id}.TextGrid", required: true}
"""

KALDI_SCHEMA = SCHEMA_HEAD + """
name: toy_kaldi
layout: {kind: lines, files: "segments", line: '(?P<utt>\\S+) (?P<rec>\\S+) (?P<start>\\S+) (?P<end>\\S+)'}
joins:
  - {name: text, layout: {kind: lines, files: text, line: '(?P<utt>\\S+) (?P<text>.*)'}, key: "{utt}", match: "{utt}", fields: {text: "{text}"}, required: true}
record: {key: "{utt}", audio: "wav/{rec}.wav", split: train, offset: "{start}", end: "{end}", text: "{text}"}
windows: {gaps: silence}
words: {format: ctm, files: "ctm", key: "{rec}", relative_to: file}
"""

TIMIT_SCHEMA = SCHEMA_HEAD + """
name: toy_timit
layout: {kind: lines, files: "{split}/{dialect}/{speaker}/{id}.TXT", line: '(?P<first>\\d+) (?P<last>\\d+) (?P<text>.*)'}
record: {key: "{speaker}-{id}", audio: "{dir}/{id}.WAV", text: "{text}"}
words: {format: wrd, files: "{dir}/{id}.WRD", sample_rate: 16000}
"""
TIMIT_SCHEMA = TIMIT_SCHEMA.replace("splits: {train: train}", "splits: {TRAIN: train}")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _wav(path: Path, seconds: float, subtype: str = "PCM_16", fmt: str = "WAV") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), synth(seconds, 16000, seed=path.name), 16000, format=fmt, subtype=subtype)


def _textgrid(path: Path, words: list[tuple[str, float, float]], total: float) -> None:
    from praatio import textgrid
    from praatio.data_classes.interval_tier import IntervalTier

    grid = textgrid.Textgrid()
    grid.addTier(IntervalTier("words", [(a, b, w) for w, a, b in words], 0.0, total))
    grid.addTier(IntervalTier("phones", [(a, b, "X") for _, a, b in words], 0.0, total))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)


def _run(tmp_path: Path, name: str, schema: str, root: Path, sil_threshold: float = 0.3) -> tuple[dict, dict, list]:
    schema_path = tmp_path / f"{name}.yaml"
    schema_path.write_text(schema, encoding="utf-8")
    out = tmp_path / "out"
    spec = DatasetSpec(name=name, schema=str(schema_path), root=str(root), srwt=True)
    plan = make_plan(RunConfig(datasets=(spec,), out=str(out), sil_threshold=sil_threshold))
    run_units(plan.run_config(), EngineOptions("local", 1), plan.units)
    summary = finalize(str(out))
    samples = {}
    for shard in json.loads((out / "index.json").read_text())["shards"]:
        for row in wds.WebDataset(str(out / shard["path"]), shardshuffle=False):
            meta = json.loads(row["json"])
            meta["_seconds"] = sf.info(io.BytesIO(row["flac"])).frames / 16000
            samples[row["__key__"]] = meta
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert summary["balanced"] is True
    return summary, samples, quarantine


def _views(samples: dict) -> dict:
    return {key: [(v["task"], v["target"]) for v in meta["tasks"]] for key, meta in sorted(samples.items())}


def test_mfa_textgrids(tmp_path):
    root = tmp_path / "mfa"
    _write(root / "text", "u1 he hoped there would be stew\nu2 stew for dinner\nu3 no alignment here\n")
    _wav(root / "wav/u1.wav", 3.0)
    _wav(root / "wav/u2.wav", 2.0)
    _wav(root / "wav/u3.wav", 1.0)
    _textgrid(root / "align/u1.TextGrid", [("he", 0.21, 0.35), ("hoped", 0.35, 0.74), ("there", 1.3, 1.52),
                                           ("would", 1.52, 1.69), ("be", 1.69, 1.83), ("stew", 1.83, 2.4)], 3.0)
    _textgrid(root / "align/u2.TextGrid", [("stew", 0.0, 0.41), ("for", 0.45, 0.6), ("dinner", 0.6, 1.05), ("spn", 1.1, 1.3)], 2.0)
    summary, samples, quarantine = _run(tmp_path, "toy_mfa", MFA_SCHEMA, root)
    assert _views(samples) == {
        "toy_mfa-u1": [
            ("asr", "he hoped there would be stew"),
            ("srwt", "<|0.00|>he<|0.35|>hoped<|0.74|><|sil|><|1.30|>there<|1.52|>would<|1.69|>be<|1.83|>stew<|2.40|><|sil|><|3.00|>"),
        ],
        "toy_mfa-u2": [("asr", "stew for dinner"), ("srwt", "<|0.00|>stew<|0.43|>for<|0.60|>dinner<|1.05|><|sil|><|2.00|>")],
    }
    assert samples["toy_mfa-u1"]["tasks"][1]["prompt"] == SRWT_EN
    assert [(q["stage"], q["reason"], q["key"]) for q in quarantine] == [("ingest", "words_missing", "")]


def test_kaldi_ctm_over_packed_segments_keeps_the_gap_as_silence(tmp_path):
    root = tmp_path / "kaldi"
    _write(root / "segments", "rec1-a rec1 10.00 12.50\nrec1-b rec1 14.00 15.00\nrec1-c rec1 50.00 53.00\n")
    _write(root / "text", "rec1-a good morning everyone\nrec1-b welcome\nrec1-c bye\n")
    _write(root / "ctm", "\n".join([
        "rec1 1 10.20 0.30 good", "rec1 1 10.50 0.45 morning", "rec1 1 11.00 0.40 <eps>", "rec1 1 11.55 0.80 everyone",
        "rec1 1 14.10 0.60 welcome", "rec1 1 50.50 0.30 bye",
    ]) + "\n")
    _wav(root / "wav/rec1.wav", 60.0)
    summary, samples, quarantine = _run(tmp_path, "toy_kaldi", KALDI_SCHEMA, root)
    assert _views(samples) == {
        "toy_kaldi-wav_rec1-w0001000": [
            ("asr", "good morning everyone welcome"),
            # window 10.00-15.00 s: times from its start; the untranscribed 12.50-14.00 s gap is silence;
            # the last 0.30 s are not longer than the threshold: no closing <|sil|>
            ("srwt", "<|0.00|>good<|0.50|>morning<|0.95|><|sil|><|1.55|>everyone<|2.35|><|sil|><|4.10|>welcome<|4.70|>"),
        ],
        "toy_kaldi-wav_rec1-w0005000": [("asr", "bye"), ("srwt", "<|0.00|><|sil|><|0.50|>bye<|0.80|><|sil|><|3.00|>")],
    }
    assert abs(samples["toy_kaldi-wav_rec1-w0001000"]["_seconds"] - 5.0) < 1e-3
    assert summary["datasets"]["toy_kaldi"]["input"] == 2 and quarantine == []  # two windows of three segments


def test_timit_wrd_files_in_samples(tmp_path):
    root = tmp_path / "timit"
    d = root / "TRAIN/DR1/FCJF0"
    _write(d / "SA1.TXT", "0 36000 She had your dark suit.\n")
    _write(d / "SA1.WRD", "3050 5723 she\n5723 10337 had\n9190 11517 your\n11517 16334 dark\n16334 21199 suit\n")
    _wav(d / "SA1.WAV", 2.25, fmt="NIST")
    summary, samples, quarantine = _run(tmp_path, "toy_timit", TIMIT_SCHEMA, root)
    # "your" starts before "had" ends (TIMIT words overlap): the boundary is clamped, still non-decreasing
    assert _views(samples) == {
        "toy_timit-FCJF0-SA1": [
            ("asr", "She had your dark suit."),
            ("srwt", "<|0.00|>She<|0.36|>had<|0.65|>your<|0.72|>dark<|1.02|>suit.<|1.32|><|sil|><|2.25|>"),
        ],
    }


def test_which_corpora_srwt_turns_on_for():
    from pipelines.prepare.timestamps import srwt_capable
    from schemas.loader import load

    english = frozenset({"en"})
    assert [n for n in ("librispeech", "gigaspeech", "tedlium3", "aishell1", "clotho", "librimix") if srwt_capable(load(n), english)] == [
        "librispeech", "gigaspeech", "tedlium3",
    ]  # Mandarin needs a CTC model; sound has no transcript; overlapped speech has no single timeline
    assert srwt_capable(load("aishell1"), frozenset({"en", "zh"}))


def test_a_schema_cannot_bind_srwt(tmp_path):
    from schemas.loader import SchemaError, load

    path = tmp_path / "bad.yaml"
    path.write_text(MFA_SCHEMA.replace("tasks: [{task: asr}]", "tasks: [{task: srwt}]"), encoding="utf-8")
    with pytest.raises(SchemaError, match="task srwt is turned on per run"):
        load(str(path))
