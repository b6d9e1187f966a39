"""The speech corpora of issue 3, each from a miniature copy in its genuine layout, end to end.

Each test writes the corpus with its real codec (FLAC, MP3, Opus, Vorbis, NIST SPHERE, WAV at
8/16/44.1/48 kHz), runs the whole pipeline in-process (``engine="local"``) and checks every written
sample's key, split, tag sequence and target exactly, plus every quarantined record and its reason.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import soundfile as sf
import webdataset as wds

from fixtures import speech_corpora as F
from pipelines.ingest.corpus import ingest
from pipelines.core.record import Record
from schemas.loader import load

from conftest import audioprep, run_pipeline, shared_corpus


def prompt(language: str, form: str = "spoken") -> str:
    token = {"spoken": "<|wo_itn|>", "written": "<|itn|>"}[form]
    return f"<|startoftranscript|><|{language}|><|transcribe|><|{language}|><|notimestamps|>{token}"


def s2tt(src: str, tgt: str) -> str:
    return f"<|startoftranscript|><|{src}|><|translate|><|{tgt}|><|notimestamps|><|itn|>"


def run(tmp_path: Path, name: str, root: str) -> tuple[dict, dict, list]:
    """(summary, samples by key, quarantine rows) of a local run over one corpus."""
    out = tmp_path / "out"
    summary = run_pipeline({name: root}, out, engine="local")
    samples = {}
    for shard in json.loads((out / "index.json").read_text())["shards"]:
        for row in wds.WebDataset(str(out / shard["path"]), shardshuffle=False):
            meta = json.loads(row["json"])
            audio, rate = sf.read(io.BytesIO(row["flac"]), dtype="int16", always_2d=True)
            meta["_frames"], meta["_rate"], meta["_channels"], meta["_shard"] = audio.shape[0], rate, audio.shape[1], shard["path"]
            samples[row["__key__"]] = meta
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert summary["balanced"] is True
    for meta in samples.values():
        assert (meta["_rate"], meta["_channels"]) == (16000, 1)
        assert meta["_shard"].startswith("train/" if meta["role"] == "train" else f"eval/{name}/")
    return summary, samples, quarantine


def counts(summary: dict, name: str) -> dict[str, int]:
    return {k: summary["datasets"][name][k] for k in ("input", "written", "quarantined")}


def views(samples: dict) -> dict[str, list[tuple[str, str, str]]]:
    return {key: [(v["task"], v["prompt"], v["target"]) for v in meta["tasks"]] for key, meta in sorted(samples.items())}


def reasons(quarantine: list) -> list[tuple[str, str, str]]:
    return sorted((row["stage"], row["reason"], row["source"]) for row in quarantine)


def test_librispeech_takes_gender_from_speakers_txt(tmp_path):
    from pipelines.demo import write_librispeech

    root = tmp_path / "LibriSpeech"
    write_librispeech(str(root), {"train-clean-5": 2}, missing_audio=False)
    records = [r for r in ingest(load("librispeech"), "librispeech", str(root)) if isinstance(r, Record)]
    assert [(r.speaker, r.meta) for r in records] == [("100", {"chapter": "5000", "gender": "M"}), ("101", {"chapter": "5001", "gender": "F"})]


def test_librispeech_reports_a_flac_with_no_transcript_line(tmp_path):
    """The schema lists LibriSpeech's FLAC files (``audio_files``): a clip no ``.trans.txt`` line
    names is one more input, quarantined as audio_without_metadata; the run goes on and balances."""
    from pipelines.demo import synth, write_librispeech

    root = tmp_path / "LibriSpeech"
    write_librispeech(str(root), {"train-clean-5": 2})  # speaker 100's transcript has a line without audio
    orphan = "train-clean-5/101/5001/101-5001-0007.flac"
    sf.write(str(root / orphan), synth(2, 16000, seed="orphan"), 16000, subtype="PCM_16")
    summary, samples, quarantine = run(tmp_path, "librispeech", str(root))
    assert sorted(samples) == ["librispeech-100-5000-0000", "librispeech-101-5001-0000"]
    assert counts(summary, "librispeech") == {"input": 4, "written": 2, "quarantined": 2}
    assert reasons(quarantine) == [
        ("ingest", "audio_missing", "train-clean-5/100/5000/100-5000.trans.txt:2"),
        ("ingest", "audio_without_metadata", orphan),
    ]


def test_aishell1_reports_lines_without_audio_and_audio_without_lines(tmp_path):
    root = tmp_path / "data_aishell"
    F.write_aishell1(str(root))
    summary, samples, quarantine = run(tmp_path, "aishell1", str(root))
    assert views(samples) == {
        "aishell1-BAC009S0002W0122": [("asr", prompt("zh"), "而对楼市成交抑制作用最大的限购")],
        "aishell1-BAC009S0002W0123": [("asr", prompt("zh"), "也成为地方政府的眼中钉")],
        "aishell1-BAC009S0764W0121": [("asr", prompt("zh"), "甚至出现交易几乎停滞的情况")],
    }
    assert samples["aishell1-BAC009S0764W0121"]["split"] == "test" and samples["aishell1-BAC009S0764W0121"]["role"] == "eval"
    assert counts(summary, "aishell1") == {"input": 5, "written": 3, "quarantined": 2}
    assert reasons(quarantine) == [
        ("ingest", "audio_missing", "transcript/aishell_transcript_v0.8.txt:3"),
        ("ingest", "audio_without_metadata", "wav/dev/S0724/BAC009S0724W0121.wav"),
    ]


def test_aishell2_devices_and_splits(tmp_path):
    root = tmp_path / "AISHELL-2"
    F.write_aishell2(str(root))
    summary, samples, quarantine = run(tmp_path, "aishell2", str(root))
    assert views(samples) == {
        "aishell2-AC0002W0001": [("asr", prompt("zh"), "打开空调")],
        "aishell2-IC0001W0001": [("asr", prompt("zh"), "厨房用具")],
        "aishell2-IC0001W0002": [("asr", prompt("zh"), "电蒸锅")],
        "aishell2-IT0055W0001": [("asr", prompt("zh"), "联想电脑")],
    }
    assert samples["aishell2-AC0002W0001"]["meta"] == {"device": "Android"}
    assert samples["aishell2-IT0055W0001"]["role"] == "eval" and quarantine == []


def test_common_voice_locales_written_form_and_tamil_refused(tmp_path):
    root = tmp_path / "cv-corpus-17.0"
    F.write_common_voice(str(root))
    summary, samples, quarantine = run(tmp_path, "common_voice", str(root))
    assert views(samples) == {
        "common_voice-common_voice_en_100": [("asr", prompt("en", "written"), '"Hello," she said, "come in."')],
        "common_voice-common_voice_en_101": [("asr", prompt("en", "written"), "It costs 5 dollars.")],
        "common_voice-common_voice_zh-CN_200": [("asr", prompt("zh", "written"), "今天天气很好。")],
    }
    en = samples["common_voice-common_voice_en_100"]
    assert en["speaker"] == "c0ffee01"
    assert en["meta"] == {"accents": "United States English, Midwestern", "age": "twenties", "gender": "female_feminine"}
    assert abs(en["_frames"] / 16000 - 1.5) < 0.06  # 48 kHz MP3 (encoder padding aside)
    seconds = {r.key: r.seconds for r in ingest(load("common_voice"), "common_voice", str(root)) if isinstance(r, Record)}
    assert seconds["common_voice-common_voice_en_100"] == 1.5  # from en/clip_durations.tsv: no header read
    assert seconds["common_voice-common_voice_en_101"] is None  # not listed there (planning probes the header)
    [tamil] = quarantine
    assert (tamil["stage"], tamil["reason"], tamil["source"]) == ("ingest", "no_language_token", "ta/train.tsv:2")
    assert "'ta' has no Qwen-Audio language token" in tamil["detail"]
    assert counts(summary, "common_voice") == {"input": 4, "written": 3, "quarantined": 1}  # validated.tsv not read


def test_mls_flac_and_opus_releases(tmp_path):
    root = tmp_path / "mls"
    F.write_mls(str(root))
    summary, samples, quarantine = run(tmp_path, "mls", str(root))
    assert views(samples) == {
        "mls-french_opus-2223_1745_000007": [("asr", prompt("fr"), "il était une fois")],
        "mls-german-1844_1139_000000": [("asr", prompt("de"), "das sind die worte des herrn")],
        "mls-german-1844_1139_000001": [("asr", prompt("de"), "und er ging hinaus")],
    }
    assert samples["mls-french_opus-2223_1745_000007"]["source"]["audio"].endswith(".opus")
    assert reasons(quarantine) == [("ingest", "no_language_token", "mls_polish/dev/transcripts.txt:1")]


def test_voxpopuli_ogg_by_year(tmp_path):
    root = tmp_path / "transcribed_data"
    F.write_voxpopuli(str(root))
    summary, samples, quarantine = run(tmp_path, "voxpopuli", str(root))
    assert views(samples) == {
        "voxpopuli-20180319-0900-PLENARY-10-en_20180319-15_58_41_4-6a897ec9ff": [("asr", prompt("en", "written"), 'Mr President, I welcome this "report".')],
        "voxpopuli-20190415-0900-PLENARY-7-de_20190415-17_21_09_2-e0aac25900": [("asr", prompt("de", "written"), "Frau Präsidentin, vielen Dank.")],
    }
    de = samples["voxpopuli-20190415-0900-PLENARY-7-de_20190415-17_21_09_2-e0aac25900"]
    assert de["source"]["audio"] == "de/2019/20190415-0900-PLENARY-7-de_20190415-17:21:09_2.ogg" and de["role"] == "eval"
    assert quarantine == []


def test_fleurs_headerless_tsv_durations_and_unsupported_language(tmp_path):
    root = tmp_path / "fleurs"
    F.write_fleurs(str(root))
    summary, samples, quarantine = run(tmp_path, "fleurs", str(root))
    assert views(samples) == {
        "fleurs-cmn_hans_cn-1100459278573468245": [("asr", prompt("zh", "written"), "两者都是自然的。")],
        "fleurs-en_us-10004088536354799741": [("asr", prompt("en", "written"), '"Both are natural," she said.')],
    }
    seconds = {r.key: r.seconds for r in ingest(load("fleurs"), "fleurs", str(root)) if isinstance(r, Record)}
    assert seconds == {"fleurs-cmn_hans_cn-1100459278573468245": 1.0, "fleurs-en_us-10004088536354799741": 1.5}  # num_samples / 16000
    assert reasons(quarantine) == [("ingest", "no_language_token", "ta_in/dev.tsv:1")]


def test_gigaspeech_segments_of_long_opus_recordings(tmp_path):
    root = tmp_path / "GigaSpeech"
    F.write_gigaspeech(str(root))
    summary, samples, quarantine = run(tmp_path, "gigaspeech", str(root))
    assert views(samples) == {
        "gigaspeech-audio_podcast_P0000_POD0000000001-w0000100": [("asr", prompt("en"), "as they're leaving, can kash pull zahra aside?")],
        "gigaspeech-audio_youtube_P0000_YOU0000000315-w0000050": [("asr", prompt("en"), "we are here today.")],
    }  # each segment packed into a window of its recording (docs/long-form.md), keyed by recording and start
    first = samples["gigaspeech-audio_podcast_P0000_POD0000000001-w0000100"]
    assert (first["source"]["offset"], first["source"]["duration"]) == (1.0, 2.5)
    assert abs(first["_frames"] / 16000 - 2.5) < 0.01  # cut from the 40 s recording at write time, not at ingest
    assert first["meta"]["segments"] == "gigaspeech-POD0000000001_S0000000"
    assert samples["gigaspeech-audio_youtube_P0000_YOU0000000315-w0000050"]["split"] == "DEV"
    assert reasons(quarantine) == [
        ("normalize", "empty_transcript", "GigaSpeech.json:audios[0].segments[1]"),  # <MUSIC> only
        ("window", "segment_too_long", "GigaSpeech.json:audios[0].segments[2]"),  # 33 s: never cut
    ]


WENET_DEV = "wenetspeech-audio_dev_podcast_B00000_X0000000001_100638174-w0000000"
WENET_TRAIN = "wenetspeech-audio_train_youtube_B00000_Y0000000000_--5llN02F84-w0000208"


def test_wenetspeech_segments_and_weak_labels(tmp_path):
    root = tmp_path / "WenetSpeech"
    F.write_wenetspeech(str(root))
    summary, samples, quarantine = run(tmp_path, "wenetspeech", str(root))
    assert views(samples) == {
        WENET_DEV: [("asr", prompt("zh"), "今天的新闻")],
        WENET_TRAIN: [("asr", prompt("zh"), "怎么样这些日子住得还习惯吧")],
    }
    train = samples[WENET_TRAIN]
    assert (train["split"], train["source"]["offset"], train["source"]["duration"]) == ("L", 2.08, 2.32)
    assert samples[WENET_DEV]["role"] == "eval"
    assert reasons(quarantine) == [("ingest", "weakly_labelled", "WenetSpeech.json:audios[0].segments[1]")]


def test_tedlium3_sphere_talks_with_stm_segments(tmp_path):
    root = tmp_path / "TEDLIUM_release-3"
    F.write_tedlium3(str(root))
    summary, samples, quarantine = run(tmp_path, "tedlium3", str(root))
    assert views(samples) == {
        "tedlium3-data_sph_AaronHuey_2010X-w0000050": [("asr", prompt("en"), "i 've been photographing native americans")],
        "tedlium3-legacy_test_sph_AimeeMullins_2009P-w0000100": [("asr", prompt("en"), "i 'd like to share with you a discovery")],
    }
    # TED-LIUM's tokenized contractions ("i 've") are kept as the corpus writes them
    test = samples["tedlium3-legacy_test_sph_AimeeMullins_2009P-w0000100"]
    assert test["role"] == "eval" and abs(test["_frames"] / 16000 - 3.0) < 0.01
    assert samples["tedlium3-data_sph_AaronHuey_2010X-w0000050"]["split"] == "data"  # legacy/train's copy is not read
    assert reasons(quarantine) == [
        ("ingest", "not_scored", "data/stm/AaronHuey_2010X.stm:3"),
        ("normalize", "unusable_markup", "data/stm/AaronHuey_2010X.stm:4"),
    ]


def test_covost2_translation_and_source_asr_over_a_common_voice_root(tmp_path):
    root, cv = tmp_path / "covost", tmp_path / "cv-corpus-4"
    F.write_covost2(str(root), str(cv))
    summary, samples, quarantine = run(tmp_path, "covost2", f"{root},common_voice={cv}")
    assert views(samples) == {
        "covost2-en_de-common_voice_en_18000001": [
            ("s2tt", s2tt("en", "de"), "Vielen Dank."),
            ("asr", prompt("en", "written"), "Thank you very much."),
        ],
        "covost2-fr_en-common_voice_fr_17299384": [
            ("s2tt", s2tt("fr", "en"), "Hello everyone."),
            ("asr", prompt("fr", "written"), "Bonjour à tous."),
        ],
        "covost2-fr_en-common_voice_fr_17299385": [
            ("s2tt", s2tt("fr", "en"), 'It is "true".'),
            ("asr", prompt("fr", "written"), 'C\'est "vrai".'),
        ],
    }
    assert samples["covost2-fr_en-common_voice_fr_17299384"]["source"]["audio"] == "fr/clips/common_voice_fr_17299384.mp3"
    assert reasons(quarantine) == [("ingest", "no_language_token", "covost_v2.ca_en.test.tsv:2")]


def test_covost2_without_its_common_voice_root_says_how_to_give_it(tmp_path):
    root = tmp_path / "covost"
    F.write_covost2(str(root), str(tmp_path / "cv"))
    with pytest.raises(FileNotFoundError, match="common_voice.*--dataset covost2=ROOT,common_voice=PATH"):
        list(ingest(load("covost2"), "covost2", str(root)))
    result = audioprep("run", "--dataset", f"covost2={root}", "--out", str(tmp_path / "out"), "--engine", "local", check=False)
    assert result.returncode == 2 and "needs the extra root 'common_voice'" in result.stderr and "Traceback" not in result.stderr


def test_librimix_joins_both_sources_transcripts(tmp_path):
    root, libri = tmp_path / "LibriMix", tmp_path / "LibriSpeech"
    F.write_librimix(str(root), str(libri))
    summary, samples, quarantine = run(tmp_path, "librimix", f"{root},librispeech={libri}")
    overlap = prompt("en")  # overlapped speech keeps the ASR prompt; the task name tells them apart
    assert views(samples) == {
        "librimix-16k-1089-134686-0000_121-121726-0000": [("asr_overlap", overlap, "he hoped there would be stew for dinner also a popular contrivance")],
        "librimix-8k-2412-153948-0000_3752-4944-0000": [("asr_overlap", overlap, "the day was cold how do you do")],
    }
    assert samples["librimix-8k-2412-153948-0000_3752-4944-0000"]["_frames"] == 24000  # 8 kHz WAV resampled
    # the refused row's mixture is then used by no row: one more input (the schema lists the mixtures)
    assert reasons(quarantine) == [
        ("ingest", "audio_without_metadata", "Libri2Mix/wav16k/max/test/mix_clean/1089-134686-0000_9999-1-0000.wav"),
        ("ingest", "join_unmatched", "Libri2Mix/wav16k/max/metadata/mixture_test_mix_clean.csv:3"),
    ]
    assert "join 'source_2' has key '9999-1-0000'" in next(r["detail"] for r in quarantine if r["reason"] == "join_unmatched")


def test_real_aishell_sample_reports_both_kinds_of_mismatch(tmp_path):
    root = shared_corpus("aishell", "data_aishell")
    summary, samples, quarantine = run(tmp_path, "aishell1", str(root))
    assert sorted(samples) == ["aishell1-BAC009S0002W0122", "aishell1-BAC009S0002W0123", "aishell1-BAC009S0002W0124"]
    assert samples["aishell1-BAC009S0002W0122"]["tasks"] == [{"task": "asr", "prompt": prompt("zh"), "target": "而对楼市成交抑制作用最大的限购"}]
    assert counts(summary, "aishell1") == {"input": 11, "written": 3, "quarantined": 8}
    assert [r["reason"] for r in quarantine].count("audio_missing") == 7
    [orphan] = [r for r in quarantine if r["reason"] == "audio_without_metadata"]
    assert orphan["source"] == "wav/dev/S0724/BAC009S0724W0121.wav"


def test_real_librispeech_sample_with_speaker_gender():
    root = shared_corpus("librispeech", "LibriSpeech")
    records = list(ingest(load("librispeech"), "librispeech", str(root)))
    assert len(records) == 14 and all(isinstance(r, Record) for r in records)
    genders = {r.speaker: r.meta["gender"] for r in records}
    assert genders == {"1089": "M", "1988": "F", "2412": "F", "3752": "M"}


def test_dry_run_prints_tags_targets_and_every_problem_before_any_audio(tmp_path):
    root = tmp_path / "data_aishell"
    F.write_aishell1(str(root))
    (root / "wav" / "train" / "S0002" / "BAC009S0002W0122.wav").write_bytes(b"not audio at all")  # never decoded
    result = audioprep("ingest", "--dataset", f"aishell1={root}", "--dry-run", "--limit", "2")
    out = result.stdout + result.stderr
    assert f"aishell1-BAC009S0002W0122 (train, train) wav/train/S0002/BAC009S0002W0122.wav\n    {prompt('zh')}而对楼市成交抑制作用最大的限购" in out
    assert "aishell1-BAC009S0764W0121" not in out  # --limit 2
    assert "problem audio_missing: transcript/aishell_transcript_v0.8.txt:3: no audio file with key 'BAC009S0002W0125'" in out
    assert "problem audio_without_metadata: wav/dev/S0724/BAC009S0724W0121.wav" in out
    assert "aishell1: 5 input(s), 3 record(s), 2 problem(s) (audio_missing 1, audio_without_metadata 1)" in out


def test_dry_run_names_the_unknown_language(tmp_path):
    root = tmp_path / "cv"
    F.write_common_voice(str(root))
    out = audioprep("ingest", "--dataset", f"common_voice={root}", "--dry-run").stderr
    assert "problem no_language_token: ta/train.tsv:2: language 'ta' has no Qwen-Audio language token" in out
