"""Hostile corpora (tests/fixtures/hostile.py): every bad item is quarantined with its exact reason
and source, every good item is written, and input = written + quarantined, on every engine."""
import json
import re
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from conftest import audioprep, run_pipeline
from fixtures.hostile import MIN_SECONDS, write_hostile
from pipelines.plan.duplicates import Duplicates
from pipelines.core.record import Record
from schemas.loader import SchemaError, parse

KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return write_hostile(str(tmp_path_factory.mktemp("hostile")))


def _written(out: Path) -> tuple[dict[str, set[str]], dict[str, dict]]:
    keys: dict[str, set[str]] = {}
    samples = {}
    for shard in sorted(out.rglob("*.tar")):
        with tarfile.open(shard) as tar:
            names = tar.getnames()
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    sample = json.loads(tar.extractfile(member).read())
                    keys.setdefault(sample["dataset"], set()).add(sample["key"])
                    samples[sample["key"]] = sample
        stems = [n.rsplit(".", 1)[0] for n in names]
        assert names == [f"{s}.{ext}" for s in stems[::2] for ext in ("flac", "json")], f"{shard}: members out of pairs"
    return keys, samples


def check_hostile_run(out: Path, hostile) -> None:
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]
    got = Counter((r["dataset"], r["stage"], r["reason"], r["source"]) for r in rows)
    want = Counter((b.dataset, b.stage, b.reason, b.source) for b in hostile.bad)
    assert got == want, f"missing: {want - got}\nunexpected: {got - want}"
    for row in rows:  # the detail names the file: the audio file's path, else the metadata file and line
        named = re.match(r"(/\S+/corpora/\S+?\.(wav|flac|mp3)): ", row["detail"]) if row["stage"] == "audio" else row["source"]
        assert named and (row["stage"] == "audio" or named in row["detail"]), row
    keys, samples = _written(out)
    assert keys == {name: keys_ for name, keys_ in hostile.good.items()}
    assert all(KEY.match(key) for group in keys.values() for key in group)
    assert {k for k, s in samples.items() if s.get("flags") == ["silent"]} == hostile.silent
    controls = samples["meta-m12"]  # control characters: removed from the target, kept in text_raw
    assert (controls["tasks"][0]["target"], controls["text_raw"]) == ("bell and vertical tab", "bell\x07 and\x0bvertical tab")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["total"]["samples_by_flag"] == {"audio/silent": len(hostile.silent)}
    assert summary["balanced"] is True
    for name, counts in summary["datasets"].items():
        assert counts["written"] == len(hostile.good.get(name, ()))
        assert counts["quarantined"] == sum(1 for b in hostile.bad if b.dataset == name)
        assert counts["input"] == counts["written"] + counts["quarantined"] + counts["excluded"]
    assert summary["input"] == summary["written"] + summary["quarantined"] == sum(map(len, hostile.good.values())) + len(hostile.bad)
    assert not any(hostile.outside in json.dumps(s["source"]) for s in samples.values())


def test_hostile_corpora_on_the_local_engine(hostile, tmp_path):
    out = tmp_path / "out"
    run_pipeline(hostile.datasets, out, "local", min_seconds=MIN_SECONDS)
    check_hostile_run(out, hostile)
    assert audioprep("verify", str(out)).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["beam", "ray"])
def test_hostile_corpora_on_beam_and_ray(hostile, tmp_path, engine):
    out = tmp_path / "out"
    run_pipeline(hostile.datasets, out, engine, min_seconds=MIN_SECONDS)
    check_hostile_run(out, hostile)


def test_a_three_hour_file_is_refused_from_its_header_without_reading_its_audio(hostile):
    """The sparse 3-hour WAV holds 345 MB of audio; refusing it reads a few kilobytes (/proc/self/io)."""
    from pipelines.core import audio

    path = next(str(Path(root) / "train" / "three_hours.wav") for name, root in hostile.datasets.items() if name.startswith("audio:"))
    assert Path(path).stat().st_size > 300_000_000

    def read_bytes() -> int:
        return int(re.search(r"rchar: (\d+)", Path("/proc/self/io").read_text()).group(1))

    before = read_bytes()
    with pytest.raises(audio.AudioError) as error:
        audio.load(path, max_seconds=30.0)
    assert error.value.reason == "too_long" and "10800.00 s" in error.value.detail
    assert read_bytes() - before < 1_000_000


# -- duplicates: the rule, unit by unit ------------------------------------------------------------


def _record(dataset: str, key: str, audio: str, source: str, text: str = "hello") -> Record:
    return Record(dataset=dataset, split="train", role="train", key=key, audio=audio, text=text, source=source)


def test_duplicate_keys_across_corpora_and_the_same_example_twice(tmp_path):
    roots = {"a": {None: str(tmp_path / "A")}, "a-b": {None: str(tmp_path / "A")}, "c": {None: str(tmp_path / "C")}}
    tasks = {"a": ("asr",), "a-b": ("asr",), "c": ("asr", "s2tt")}
    records = [
        ("a", _record("a", "a-b-c", "x.wav", "t.txt:1")),
        ("a", _record("a", "a-q", "x.wav", "t.txt:2", text="other words")),  # same audio, other text: kept
        ("a-b", _record("a-b", "a-b-c", "y.wav", "u.txt:1")),  # "a" + "b-c" and "a-b" + "c": one key
        ("a-b", _record("a-b", "a-b-z", "x.wav", "u.txt:2")),  # the same example as a:t.txt:1
        ("c", _record("c", "c-x", "x.wav", "v.txt:1")),  # same audio and text, other root: kept
    ]
    with Duplicates(roots, tasks) as duplicates:
        duplicates.find(records)
        drops = [duplicates.check(name, record) for name, record in records]
    assert [d and (d.dataset, d.reason) for d in drops] == [None, None, ("a-b", "duplicate_key"), ("a-b", "duplicate_example"), None]
    assert "a-b:u.txt:1: key a-b-c was already given by a:t.txt:1" in drops[2].detail
    assert "already given by a:t.txt:1" in drops[3].detail


def test_a_duplicate_never_makes_a_later_record_its_duplicate(tmp_path):
    roots, tasks = {"a": {None: str(tmp_path)}}, {"a": ("asr",)}
    records = [
        ("a", _record("a", "a-1", "one.wav", "f:1")),
        ("a", _record("a", "a-1", "two.wav", "f:2")),  # duplicate key: dropped, its audio not remembered
        ("a", _record("a", "a-2", "two.wav", "f:3")),  # so this one, the first kept two.wav, stays
    ]
    with Duplicates(roots, tasks, scratch=str(tmp_path)) as duplicates:
        duplicates.find(records)
        assert [d and d.reason for d in (duplicates.check(n, r) for n, r in records)] == [None, "duplicate_key", None]
        with pytest.raises(RuntimeError, match="did not see in this order"):
            duplicates.check(*records[0])  # one call too many: the first pass's digests are used up
    assert [p.name for p in tmp_path.iterdir()] == []  # its digests are gone with the block
    with Duplicates(roots, tasks) as duplicates:
        duplicates.find(records)
        with pytest.raises(RuntimeError, match="f:3"):
            duplicates.check(*records[2])  # out of order (another key): refused, not a wrong answer


def test_a_run_too_large_for_memory_finds_the_same_duplicates_through_disk(tmp_path, monkeypatch):
    """Past ``SPILL_DIGESTS`` the first pass goes to partition files (memory stays bounded): the
    repeated digests and the drops are those of the in-memory pass, and nothing is left behind."""
    from pipelines.plan import duplicates as module

    roots, tasks = {"a": {None: str(tmp_path)}, "b": {None: str(tmp_path)}}, {"a": ("asr",), "b": ("asr",)}
    records = [("a", _record("a", f"a-{i}", f"{i % 3000}.wav", f"f:{i}", text=f"text {i % 2500}")) for i in range(40_000)]
    records += [("b", _record("b", f"a-{i}", f"{i}.wav", f"g:{i}")) for i in range(0, 40_000, 7)]  # "b-a-i": no clash
    records += [("a", _record("a", f"a-{i}", "x.wav", f"h:{i}")) for i in range(0, 40_000, 1000)]  # repeated keys
    in_memory = Duplicates(roots, tasks).find(records)
    monkeypatch.setattr(module, "SPILL_DIGESTS", 1 << 16)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with Duplicates(roots, tasks, scratch=str(scratch)) as spilled:
        spilled.find(records)
        assert spilled.repeated == in_memory.repeated and len(in_memory.repeated) > 40
        drops = [(d.reason, d.source) for d in (spilled.check(n, r) for n, r in records) if d is not None]
    assert list(scratch.iterdir()) == []
    again = [(d.reason, d.source) for d in (in_memory.check(n, r) for n, r in records) if d is not None]
    in_memory.close()
    assert drops == again and {reason for reason, _ in drops} == {"duplicate_key", "duplicate_example"}
    # the same drops as comparing every record's identities (what the second pass did before it read
    # the first pass's digests back)
    kept: dict[str, str] = {}
    expected = []
    for name, record in records:
        found = None
        for reason, identity in (("duplicate_key", "key\0" + record.key),
                                 ("duplicate_example", "example\0" + module._example(record, str(tmp_path), ("asr",)))):
            if identity in kept:
                found = found or reason
        if found:
            expected.append((found, record.source))
        else:
            for identity in ("key\0" + record.key, "example\0" + module._example(record, str(tmp_path), ("asr",))):
                kept.setdefault(identity, record.source)
    assert drops == expected


# -- schema errors fail before any work, with the line and the allowed values -------------------------

SCHEMA = """name: bad
description: a schema with one mistake
license: CC0
language: en
text_form: spoken
splits: {train: train}
layout: {kind: lines, files: "{split}.txt", line: '(?P<id>\\S+) (?P<text>.*)'}
record: {key: "{id}", audio: "{id}.wav", text: "{text}"}
tasks: [{task: asr}]
"""


@pytest.mark.parametrize(
    "change, line, message",
    [
        (("license: CC0", "licence: CC0"), 3, ["licence: unknown field (a typo?)", "license: Field required"]),
        (("language: en\n", ""), 1, ["language: Field required"]),
        (("splits: {train: train}", "splits: {train: training}"), 6, ["splits.train: 'training' is not allowed; expected 'train' or 'eval'"]),
        (("splits: {train: train}", "splits: [train]"), 6, ["splits: Input should be a valid dictionary"]),
        (("{task: asr}", "{task: asrr}"), 9, ["tasks.0.task: 'asrr' is not allowed; expected 'asr'"]),
        (("language: en", "language: xx"), 4, ["language: 'xx' is not allowed; expected 'en'"]),
    ],
)
def test_schema_errors_name_the_line_and_what_is_allowed(tmp_path, change, line, message):
    text = SCHEMA.replace(*change)
    assert text != SCHEMA
    with pytest.raises(SchemaError) as error:
        parse(text, tmp_path / "bad.yaml")
    shown = str(error.value)
    assert str(tmp_path / "bad.yaml") in shown
    for piece in message:
        assert piece in shown, shown
    assert f"line {line}:" in shown, shown


def test_a_bad_schema_stops_the_run_before_any_work(tmp_path):
    schema = tmp_path / "bad.yaml"
    schema.write_text(SCHEMA.replace("{task: asr}", "{task: asrr}"))
    (tmp_path / "corpus").mkdir()
    result = audioprep("run", "--dataset", f"x:{schema}={tmp_path / 'corpus'}", "--out", str(tmp_path / "out"), "--engine", "local", check=False)
    assert result.returncode != 0
    assert "'asrr' is not allowed" in result.stdout + result.stderr and "line 9" in result.stdout + result.stderr
    assert not (tmp_path / "out" / "_work" / "ingest").exists()


# -- audio whose header does not tell the truth --------------------------------------------------------


def _mp3(path: Path, seconds: float, vbr: bool, xing: bool) -> None:
    import av
    import numpy as np

    from pipelines.demo import synth

    data = synth(seconds, 44100, seed=path.name)
    with av.open(str(path), "w", format="mp3", options={"write_xing": "1" if xing else "0"}) as container:
        stream = container.add_stream("libmp3lame", rate=44100, layout="mono")
        if vbr:
            stream.codec_context.qscale = 4
            stream.codec_context.flags |= av.codec.context.Flags.qscale
        else:
            stream.bit_rate = 64000
        for start in range(0, len(data), 1152):
            frame = av.AudioFrame.from_ndarray(data[None, start : start + 1152].astype(np.float32), format="flt", layout="mono")
            frame.sample_rate = 44100
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.mark.parametrize("vbr, xing", [(True, False), (False, False), (True, True), (False, True)])
def test_an_mp3_is_decoded_whole_with_or_without_a_length_header(tmp_path, vbr, xing):
    """libsndfile stops a variable-bitrate MP3 without a Xing/Info frame at the length it guessed
    from the first frame (5 s came out as 2.4 s): such files are decoded by FFmpeg instead."""
    from pipelines.core import audio

    path = tmp_path / "clip.mp3"
    _mp3(path, 5.0, vbr, xing)
    assert abs(audio.load(str(path)).seconds - 5.0) < 0.08
