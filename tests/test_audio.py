"""Decoding every source format to 16 kHz mono 16-bit FLAC, and refusing what cannot be used."""

import json

import av
import numpy as np
import pytest
import soundfile as sf
import webdataset as wds

from fixtures import speech_corpora
from pipelines.core import audio
from pipelines.demo import synth

from conftest import run_pipeline


def _write(path, seconds, rate, channels=1, **kw):
    sf.write(path, synth(seconds, rate, channels, seed=str(path)), rate, **kw)
    return str(path)


def _write_m4a(path, seconds, rate, channels=2):
    data = synth(seconds, rate, channels, seed="m4a")
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate, layout="stereo" if channels == 2 else "mono")
        frame_size = 1024
        samples = data.T.astype(np.float32) if channels > 1 else data[None, :].astype(np.float32)
        for start in range(0, samples.shape[1], frame_size):
            chunk = np.ascontiguousarray(samples[:, start : start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=stream.layout.name)
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return str(path)


@pytest.mark.parametrize(
    "name, rate, channels, kw",
    [
        ("a.flac", 16000, 1, {"subtype": "PCM_16"}),
        ("b.wav", 44100, 2, {"subtype": "PCM_16"}),
        ("c.wav", 8000, 1, {"subtype": "PCM_U8"}),
        ("d.wav", 48000, 6, {"subtype": "PCM_24"}),
        ("e.wav", 22050, 1, {"subtype": "FLOAT"}),
        ("f.mp3", 48000, 2, {"format": "MP3"}),
        ("g.ogg", 48000, 2, {"format": "OGG", "subtype": "OPUS"}),
        ("h.ogg", 32000, 1, {"format": "OGG", "subtype": "VORBIS"}),
        ("i.sph", 16000, 1, {"format": "NIST", "subtype": "PCM_16"}),
    ],
)
def test_formats_decode_to_16k_mono(tmp_path, name, rate, channels, kw):
    path = _write(tmp_path / name, 3.0, rate, channels, **kw)
    clip = audio.load(path)
    assert clip.samples.dtype == np.int16
    # MP3 and Opus encoders add priming/padding samples: allow a little slack there
    assert abs(clip.seconds - 3.0) < (0.08 if name[-3:] in ("mp3", "ogg") else 1e-3)
    samples, out_rate, out_channels = audio.decode_flac(audio.encode_flac(clip))
    assert (out_rate, out_channels) == (16000, 1)
    assert np.array_equal(samples, clip.samples)
    assert np.abs(samples).max() > 1000  # real signal, not silence


def test_mp4_audio_goes_through_pyav(tmp_path):
    clip = audio.load(_write_m4a(tmp_path / "dia1_utt0.mp4", 2.0, 44100))
    assert abs(clip.seconds - 2.0) < 0.06


def test_sixteen_k_pcm16_passes_through_unchanged(tmp_path):
    data = (synth(1.0, 16000, seed="p") * 20000).astype(np.int16)
    path = tmp_path / "p.wav"
    sf.write(path, data, 16000, subtype="PCM_16")
    assert np.array_equal(audio.load(str(path)).samples, data)


def test_downmix_averages_channels(tmp_path):
    left = np.full(16000, 0.5, dtype=np.float32)
    path = tmp_path / "s.wav"
    sf.write(path, np.stack([left, -left * 0.5], axis=1), 16000, subtype="FLOAT")
    assert abs(audio.load(str(path)).samples.mean() / 32767 - 0.125) < 1e-3
    assert abs(audio.load(str(path), channel=1).samples.mean() / 32767 + 0.25) < 1e-3


def test_offset_and_duration_cut_the_clip(tmp_path):
    path = _write(tmp_path / "long.wav", 10.0, 44100)
    clip = audio.load(path, offset=2.5, duration=4.0)
    assert len(clip.samples) == 64000


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(b""), "empty_file"),
        (lambda p: p.write_text("this is a text file named .wav"), "undecodable"),
        (lambda p: p.write_bytes(open(_write(p.with_suffix(".tmp.flac"), 3, 16000), "rb").read()[:3000]), None),
        (lambda p: _write(p, 31.0, 16000), "too_long"),
    ],
)
def test_bad_audio_is_refused_with_a_reason_naming_the_file(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(audio.AudioError) as error:
        audio.load(str(path))
    if reason:
        assert error.value.reason == reason
    assert str(path) in error.value.detail


def test_span_beyond_the_end_and_non_finite_samples(tmp_path):
    path = _write(tmp_path / "x.wav", 2.0, 16000)
    with pytest.raises(audio.AudioError) as error:
        audio.load(path, offset=5.0, duration=1.0)
    assert error.value.reason == "span_beyond_end"
    nan = np.zeros(16000, dtype=np.float32)
    nan[100] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    with pytest.raises(audio.AudioError) as error:
        audio.load(str(tmp_path / "nan.wav"))
    assert error.value.reason == "non_finite_samples"


def test_flac_bytes_are_deterministic(tmp_path):
    path = _write(tmp_path / "d.wav", 2.0, 44100, 2)
    assert audio.encode_flac(audio.load(path)) == audio.encode_flac(audio.load(path))


# -- Ogg (Vorbis, Opus): no length in the header, so a cut-off file must be caught by its pages ----

def _ogg(path, subtype: str, rate: int) -> bytes:
    sf.write(str(path), synth(3.0, rate, seed=subtype), rate, format="OGG", subtype=subtype)
    return path.read_bytes()


def _page_starts(data: bytes) -> list[int]:
    """Where each Ogg page of ``data`` starts, walking the pages' own lengths from the first."""
    starts, at = [], 0
    while at + 27 <= len(data) and data[at : at + 4] == b"OggS":
        starts.append(at)
        at += 27 + data[at + 26] + sum(data[at + 27 : at + 27 + data[at + 26]])
    assert at == len(data)  # the writer's file is whole
    return starts


@pytest.mark.parametrize("subtype, rate", [("VORBIS", 44100), ("OPUS", 48000)])
@pytest.mark.parametrize("cut", ["headers only", "inside a page", "at a page boundary", "one byte short"])
def test_a_cut_off_ogg_vorbis_or_opus_file_is_refused_as_truncated(tmp_path, subtype, rate, cut):
    """libsndfile reads a cut Ogg file up to its last whole page without complaint and reports that
    as its length (there is no length in the header): the pages tell, wherever the cut falls."""
    path = tmp_path / "clip.ogg"
    data = _ogg(path, subtype, rate)
    pages = _page_starts(data)
    assert audio.load(str(path)).seconds > 2.9  # the whole file decodes
    keep = {"headers only": pages[1] + 20, "inside a page": (pages[-3] + pages[-2]) // 2,
            "at a page boundary": pages[-1], "one byte short": len(data) - 1}[cut]
    path.write_bytes(data[:keep])
    with pytest.raises(audio.AudioError) as error:
        audio.load(str(path))
    assert error.value.reason == "truncated" and str(path) in error.value.detail
    with pytest.raises(audio.AudioError) as error:  # a span of it too, as a WAV whose data chunk is short
        audio.load(str(path), offset=0.0, duration=0.2)
    assert error.value.reason == "truncated"


def test_cut_off_opus_and_vorbis_recordings_are_quarantined_and_the_rest_of_the_run_is_written(tmp_path):
    """GigaSpeech ships Opus and VoxPopuli Ogg Vorbis: a recording cut off after the span of its one
    segment is still quarantined as truncated, naming the file; every other sample is written."""
    giga, vox = tmp_path / "GigaSpeech", tmp_path / "voxpopuli"
    speech_corpora.write_gigaspeech(str(giga))
    speech_corpora.write_voxpopuli(str(vox))
    opus = giga / "audio/youtube/P0000/YOU0000000315.opus"  # 6 s; its segment spans 0.5-2.75 s
    vorbis = next((vox / "de").rglob("*.ogg"))
    for path, share in ((opus, 0.6), (vorbis, 0.5)):
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * share)])
    out = tmp_path / "out"
    summary = run_pipeline({"gigaspeech": str(giga), "voxpopuli": str(vox)}, out)
    assert summary["balanced"] is True
    rows = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert sorted((r["dataset"], r["stage"], r["reason"], r["source"]) for r in rows) == [
        ("gigaspeech", "audio", "truncated", "GigaSpeech.json:audios[1].segments[0]"),
        ("gigaspeech", "normalize", "empty_transcript", "GigaSpeech.json:audios[0].segments[1]"),  # as without the cut
        ("gigaspeech", "window", "segment_too_long", "GigaSpeech.json:audios[0].segments[2]"),
        ("voxpopuli", "audio", "truncated", "de/asr_dev.tsv:2"),
    ]
    assert sorted(r["detail"].split(": ")[0] for r in rows if r["reason"] == "truncated") == [str(opus), str(vorbis)]
    written = {}
    for shard in json.loads((out / "index.json").read_text())["shards"]:
        for row in wds.WebDataset(str(out / shard["path"]), shardshuffle=False):
            written[row["__key__"]] = json.loads(row["json"])
    assert sorted(written) == [  # the podcast's segment and the English VoxPopuli clip, as without the cut files
        "gigaspeech-audio_podcast_P0000_POD0000000001-w0000100", "voxpopuli-20180319-0900-PLENARY-10-en_20180319-15_58_41_4-6a897ec9ff"]
    assert (summary["datasets"]["gigaspeech"]["written"], summary["datasets"]["voxpopuli"]["written"]) == (1, 1)
