"""Identical audio is found across sets (issue 23, item 2): every sample's JSON holds the sha256 of its
16 kHz PCM, the units keep a digest list per shard, finalize counts the audio written twice per pair
of sets (summary.json ``duplicate_audio``) and ``audioprep verify --duplicates`` lists it. Two toy
corpora in a CSV layout whose clips share files (the synthetic audio is seeded by the file name)."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from fixtures.speech_corpora import write_audio
from pipelines.core import audio
from pipelines.finalize.collect import finalize
from pipelines.plan import duplicates

from conftest import audioprep, caption_schema_text, run_pipeline

RECORD = '{key: "{clip}", audio: "{file}.wav", split: "{split}", captions: ["a dog barks near {clip}"]}'


def write_corpus(root: Path, name: str, rows: list[tuple[str, str, str]]) -> str:
    """A corpus of (clip, split, audio file) rows; a file name gives the same audio in every corpus."""
    root.mkdir(parents=True)
    (root / "clips.csv").write_text("clip,split,file\n" + "".join(f"{c},{s},{f}\n" for c, s, f in rows))
    for _, _, file in rows:
        write_audio(str(root / f"{file}.wav"), 1.0, 16000, "wav")
    (root.parent / f"{name}.yaml").write_text(caption_schema_text(name, RECORD, "toy clips, some of whose audio files another corpus ships too"))
    return f"{name}:{root.parent / f'{name}.yaml'}"


def two_corpora(tmp_path: Path) -> dict[str, str]:
    a = write_corpus(tmp_path / "a", "capsa", [("e1", "test", "shared"), ("t1", "train", "common")])
    b = write_corpus(tmp_path / "b", "capsb", [
        ("k1", "train", "shared"),  # capsa's test clip, bit for bit: training and evaluation
        ("k2", "train", "common"),  # capsa's training clip: across corpora
        ("k3", "train", "own"), ("k4", "train", "own"),  # one corpus, one role: its design, not reported
    ])
    return {a: str(tmp_path / "a"), b: str(tmp_path / "b")}


def samples_of(out: Path) -> dict[str, tuple[dict, bytes]]:
    found = {}
    for path in sorted(out.rglob("*.tar")):
        with tarfile.open(path) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar}
        for name, data in members.items():
            if name.endswith(".json"):
                found[name[:-5]] = (json.loads(data), members[name[:-5] + ".flac"])
    return found


def test_pcm_digests_find_audio_written_twice_across_sets(tmp_path, monkeypatch):
    out = tmp_path / "out"
    summary = run_pipeline(two_corpora(tmp_path), out)
    samples = samples_of(out)
    for meta, flac in samples.values():  # the hash of the very samples in the FLAC
        pcm, _, _ = audio.decode_flac(flac)
        assert meta["pcm_sha256"] == hashlib.sha256(pcm.astype("<i2").tobytes()).hexdigest()
    assert samples["capsa-e1"][0]["pcm_sha256"] == samples["capsb-k1"][0]["pcm_sha256"]
    repeated = summary["duplicate_audio"]
    assert repeated["pairs"] == {"eval capsa = train capsb": 1, "train capsa = train capsb": 1}
    assert repeated["groups"] == 2
    assert sorted(e["samples"] for e in repeated["examples"]) == [
        ["eval capsa capsa-e1", "train capsb capsb-k1"], ["train capsa capsa-t1", "train capsb capsb-k2"],
    ]
    assert summary["balanced"] and summary["written"] == 6  # reported, never dropped
    stats = json.loads((out / "stats.json").read_text())
    assert not any("audio" in shard for shard in json.loads((out / "index.json").read_text())["shards"])
    assert "capsa" in json.dumps(stats) and "pcm" not in json.dumps(stats)  # the digests stay in _work
    monkeypatch.setattr(duplicates, "SPILL_DIGESTS", 1)  # every chunk spilled to partition files: same result
    assert finalize(str(out))["duplicate_audio"] == repeated


def test_verify_lists_duplicate_audio_and_checks_the_digest(tmp_path):
    out = tmp_path / "out"
    run_pipeline(two_corpora(tmp_path), out)
    listed = audioprep("verify", str(out), "--duplicates", check=False, env={"COLUMNS": "400"})
    text = " ".join((listed.stdout + listed.stderr).split())
    assert listed.returncode == 1, text  # identical audio in training and evaluation is a problem
    assert "capsa-e1 (eval capsa) and capsb-k1 (train capsb)" in text
    assert "capsa-t1 (train capsa) and capsb-k2 (train capsb)" in text  # across corpora: listed, not a problem
    assert "1 problem(s)" in text
    assert audioprep("verify", str(out), check=False).returncode == 0  # without --duplicates: not looked for


def test_verify_finds_audio_that_does_not_hash_to_its_json(tmp_path):
    out = tmp_path / "out"
    run_pipeline(two_corpora(tmp_path), out)
    shard = next(p for p in sorted(out.rglob("*.tar")) if "_work" not in p.parts)
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar]
    with tarfile.open(shard, "w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            if member.name.endswith(".json"):
                meta = json.loads(data)
                meta["pcm_sha256"] = "0" * 64
                data = json.dumps(meta).encode()
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    from pipelines.finalize.verify import verify

    problems = verify(str(out)).problems
    assert any(p.endswith(".flac does not hash to the pcm_sha256 of its JSON") for p in problems), problems


def test_stats_show_leaks_training_copies_and_identical_audio_per_pair(tmp_path):
    from test_leaks import write_corpus as write_origin_corpus  # clips named alike share their audio

    a = write_origin_corpus(tmp_path / "a", "capsa", [("e1", "test", ("vidA", "30", "")), ("t0", "train", ("vidZ", "0", ""))],
                            '"youtube:{video}@{start}+10"')
    b = write_origin_corpus(tmp_path / "b", "capsb", [
        ("k1", "train", ("vidA", "35", "")),  # capsa's test clip by origin: kept out
        ("e1", "train", ("vidB", "0", "")),  # capsa's test clip by its audio only (another origin)
        ("t0", "train", ("vidZ", "0", "")),  # capsa's training clip, by origin and audio: kept
    ], '"youtube:{video}@{start}+10"')
    out = tmp_path / "out"
    run_pipeline({a: str(tmp_path / "a"), b: str(tmp_path / "b")}, out)
    result = audioprep("stats", str(out), "--json", str(tmp_path / "stats.json"), env={"COLUMNS": "300"})
    overlaps = json.loads((tmp_path / "stats.json").read_text())["overlaps"]
    assert overlaps["eval_leaks"] == {"capsb <- capsa": 1}
    assert overlaps["train_repeats"] == {"capsa = capsb": 2}
    assert overlaps["duplicate_audio"]["pairs"] == {"eval capsa = train capsb": 1, "train capsa = train capsb": 1}
    warnings = json.loads((tmp_path / "stats.json").read_text())["warnings"]
    assert [w["subject"] for w in warnings if w["kind"] == "eval_audio_in_train"] == ["eval capsa = train capsb"]
    text = " ".join(result.stdout.split())
    assert "Overlaps between corpora" in text and "capsb <- capsa" in text and "capsa = capsb" in text
    assert "eval capsa capsa-e1, train capsb capsb-e1" in text
