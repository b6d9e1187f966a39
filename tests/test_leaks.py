"""Evaluation clips never reach training across corpora (issue 23, item 2): origins declared by schemas,
training records sharing an evaluation record's origin quarantined at planning (eval_leak), YouTube
stretches matched by overlap, LibriMix-style lists of origins, and origin lists protected from outside
the run. Two toy corpora in a CSV layout, a real local run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.speech_corpora import write_audio
from pipelines.core.origins import has_identity, overlap, parse_origin

from conftest import caption_schema_text, run_pipeline

RECORD = '{{key: "{{clip}}", audio: "{{clip}}.wav", split: "{{split}}", captions: ["{{caption}}"]{origin}}}'


def write_corpus(root: Path, name: str, rows: list[tuple[str, str, str]], origin: str | None) -> str:
    """A corpus of (clip, split, video fields) rows, its records' origin declared as ``origin`` (None:
    not declared); returns its NAME:SCHEMA=... run name."""
    root.mkdir(parents=True)
    (root / "clips.csv").write_text("clip,split,caption,video,start,other\n" + "".join(
        f"{clip},{split},a dog barks near {clip},{video},{start},{other}\n" for clip, split, (video, start, other) in rows))
    for clip, _, _ in rows:
        write_audio(str(root / f"{clip}.wav"), 1.0, 16000, "wav")
    schema = root.parent / f"{name}.yaml"
    schema.write_text(caption_schema_text(name, RECORD.format(origin="" if origin is None else f", origin: {origin}"), "toy clips cut from YouTube videos"))
    return f"{name}:{schema}"


def test_origins_parse_overlap_and_need_an_identity():
    a, b = parse_origin("youtube:abc@30+10"), parse_origin("youtube:abc@35.5+10")
    assert (a.identity, a.start, a.end) == ("youtube:abc", 30.0, 40.0) and overlap(a, b)
    assert not overlap(a, parse_origin("youtube:abc@40+10"))  # touching, not overlapping
    assert overlap(parse_origin("youtube:abc"), b)  # a whole source overlaps every stretch of it
    assert not has_identity("youtube:@30+10") and not has_identity("librivox:--") and has_identity("freesound:1")


def test_training_clips_of_an_evaluation_video_are_quarantined_across_corpora(tmp_path):
    evaluation = write_corpus(tmp_path / "capsA", "capsa", [
        ("e1", "test", ("vidA", "30", "")), ("t0", "train", ("vidZ", "0", "")),
    ], '"youtube:{video}@{start}+10"')
    training = write_corpus(tmp_path / "capsB", "capsb", [
        ("k1", "train", ("vidA", "35", "")),  # overlaps capsa's test clip of vidA (30-40 s): a leak
        ("k2", "train", ("vidA", "40", "")),  # same video, 40-50 s: another stretch, kept
        ("k3", "train", ("vidB", "0", "vidA")),  # a mix: its second source is all of vidA, a leak
        ("k4", "train", ("vidZ", "0", "")),  # shared with capsa's training data only: kept
    ], '["youtube:{video}@{start}+10", "youtube:{other}"]')
    out = tmp_path / "out"
    summary = run_pipeline({evaluation: str(tmp_path / "capsA"),
                            training: str(tmp_path / "capsB")}, out)
    rows = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert sorted((r["dataset"], r["key"], r["stage"], r["reason"]) for r in rows) == [
        ("capsb", "capsb-k1", "plan", "eval_leak"), ("capsb", "capsb-k3", "plan", "eval_leak"),
    ]
    k1 = next(r for r in rows if r["key"] == "capsb-k1")
    assert "youtube:vidA@35+10 is also youtube:vidA@30+10, evaluation record capsa-e1 of capsa" in k1["detail"]
    assert summary["eval_leaks"] == {"capsb <- capsa": 2}
    assert summary["quarantine_reasons"]["capsb/plan/eval_leak"] == 2
    assert summary["datasets"]["capsb"] == {"input": 4, "written": 2, "quarantined": 2, "excluded": 0, "samples": 2}
    assert summary["balanced"]


@pytest.mark.parametrize("kind", ["file", "run"])
def test_evaluation_sets_outside_the_run_are_protected(tmp_path, kind):
    training = write_corpus(tmp_path / "capsB", "capsb", [("k1", "train", ("vidA", "35", "")), ("k2", "train", ("vidC", "0", ""))],
                            '"youtube:{video}@{start}+10"')
    if kind == "file":
        protected = tmp_path / "protected.txt"
        protected.write_text("# evaluation clips of a benchmark\nyoutube:vidA@30+10\n")
        where = "protected origin list (protected.txt:2)"
    else:  # another run's output: the origins of its evaluation records
        evaluation = write_corpus(tmp_path / "capsA", "capsa", [("e1", "test", ("vidA", "30", ""))], '"youtube:{video}@{start}+10"')
        protected = tmp_path / "other-run"
        run_pipeline({evaluation: str(tmp_path / "capsA")}, protected)
        where = "evaluation record capsa-e1 of capsa"
    summary = run_pipeline({training: str(tmp_path / "capsB")}, tmp_path / "out", protected_origins=(str(protected),))
    (row,) = [json.loads(line) for line in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert (row["key"], row["reason"]) == ("capsb-k1", "eval_leak") and where in row["detail"]
    assert summary["datasets"]["capsb"]["written"] == 1


def test_verify_finds_evaluation_leaks_in_an_output_already_built(tmp_path):
    """An output built before the training corpus declared its origins: the plan let the clip through;
    verify, reading the origins of the written records from the manifests, names it."""
    import pyarrow.parquet as pq

    from pipelines.finalize.verify import verify

    evaluation = write_corpus(tmp_path / "capsA", "capsa", [("e1", "test", ("vidA", "30", ""))], '"youtube:{video}@{start}+10"')
    # the training corpus's origins not declared when the output was built
    training = write_corpus(tmp_path / "capsB", "capsb", [("k1", "train", ("vidA", "35", "")), ("k2", "train", ("vidC", "0", ""))], None)
    out = tmp_path / "out"
    summary = run_pipeline({evaluation: str(tmp_path / "capsA"), training: str(tmp_path / "capsB")}, out)
    assert summary["written"] == 3 and summary["eval_leaks"] == {}
    assert verify(str(out)).ok
    manifest = out / "manifests" / "capsb.parquet"  # the origins the corpus has, as a manifest made today holds them
    table = pq.read_table(manifest)
    origins = [["youtube:vidA@35+10"] if key == "capsb-k1" else ["youtube:vidC@0+10"] for key in table.column("key").to_pylist()]
    pq.write_table(table.set_column(table.schema.get_field_index("origins"), "origins", [origins]), manifest)
    report = verify(str(out))
    assert report.problems == [
        "training sample capsb-k1 is an evaluation clip: capsb:clips.csv:2: origin youtube:vidA@35+10 is also "
        "youtube:vidA@30+10, evaluation record capsa-e1 of capsa"
    ]


@pytest.mark.parametrize("spill", [None, 2])
def test_training_copies_of_one_origin_are_kept_and_counted_with_bounded_indexes(tmp_path, monkeypatch, spill):
    """Two training records of one origin feed different tasks: both stay, counted per pair of corpora
    (a corpus with itself too). With a tiny bound the origin indexes spill to partition files: same result."""
    from pipelines.plan import leaks

    if spill:
        monkeypatch.setattr(leaks, "SPILL_ORIGINS", spill)
    evaluation = write_corpus(tmp_path / "capsA", "capsa", [
        ("e1", "test", ("vidA", "30", "")), ("e2", "test", ("vidE", "0", "")), ("t0", "train", ("vidZ", "0", "")),
    ], '"youtube:{video}@{start}+10"')
    training = write_corpus(tmp_path / "capsB", "capsb", [
        ("k1", "train", ("vidA", "35", "")),  # a leak: quarantined, so never counted as a training copy
        ("k4", "train", ("vidZ", "5", "")),  # capsa's training clip t0 of vidZ (0-10 s) overlaps: kept, counted
        ("k5", "train", ("vidY", "0", "")), ("k6", "train", ("vidY", "5", "")),  # one corpus, twice: counted
        ("k7", "train", ("vidY", "10", "")),  # touches k5 only: overlaps k6 (5-15 s)
        ("k8", "train", ("vidW", "0", "")),  # alone
    ], '"youtube:{video}@{start}+10"')
    summary = run_pipeline({evaluation: str(tmp_path / "capsA"), training: str(tmp_path / "capsB")}, tmp_path / "out")
    assert summary["eval_leaks"] == {"capsb <- capsa": 1}
    assert summary["train_repeats"] == {"capsa = capsb": 2, "capsb = capsb": 3}
    assert summary["datasets"]["capsb"]["written"] == 5 and summary["balanced"]
