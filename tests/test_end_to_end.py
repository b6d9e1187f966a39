"""The whole path, corpus on disk -> verified shards, on the real engines."""
import gc
import io
import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import soundfile as sf
import webdataset as wds
from schemas import loader

from pipelines.ingest.corpus import ingest
from pipelines.ingest.manifest import iter_manifest
from pipelines.core.record import Drop
from pipelines.finalize.verify import verify

from conftest import audioprep, published, run_pipeline, shared_corpus

PROMPTS = {
    "librispeech": "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>",
    "clotho": "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_clotho|>",
    "cochlscene": "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>",
}


def read_samples(out: Path) -> dict[str, dict]:
    index = json.loads((out / "index.json").read_text())
    samples = {}
    for shard in index["shards"]:
        for row in wds.WebDataset(str(out / shard["path"]), shardshuffle=False):
            meta = json.loads(row["json"])
            audio, rate = sf.read(io.BytesIO(row["flac"]), dtype="int16", always_2d=True)
            samples[row["__key__"]] = {"meta": meta, "rate": rate, "channels": audio.shape[1], "frames": audio.shape[0], "shard": shard}
    return samples


def test_local_run_accounts_for_every_record(local_run):
    summary = json.loads((local_run / "summary.json").read_text())
    assert summary["balanced"] is True
    assert summary["datasets"] == {
        "clotho": {"input": 7, "written": 6, "quarantined": 1, "excluded": 0, "samples": 6},
        "cochlscene": {"input": 25, "written": 24, "quarantined": 1, "excluded": 0, "samples": 24},
        "librispeech": {"input": 14, "written": 12, "quarantined": 2, "excluded": 0, "samples": 12},
    }
    reasons = [(r["dataset"], r["stage"], r["reason"]) for r in map(json.loads, (local_run / "quarantine.jsonl").read_text().splitlines())]
    assert sorted(reasons) == [
        ("clotho", "audio", "too_long"),
        ("cochlscene", "audio", "undecodable"),
        ("librispeech", "ingest", "audio_missing"),
        ("librispeech", "ingest", "audio_missing"),
    ]


def test_shards_hold_16k_mono_audio_of_the_right_length_and_exact_tags(local_run, demo_corpora):
    samples = read_samples(local_run)
    assert len(samples) == 42
    for key, s in samples.items():
        meta = s["meta"]
        assert (s["rate"], s["channels"]) == (16000, 1)
        assert abs(s["frames"] / 16000 - meta["duration"]) < 1e-4
        assert {v["prompt"] for v in meta["tasks"]} == {PROMPTS[meta["dataset"]]}
        assert "." not in key and "/" not in key
        source = sf.info(os.path.join(demo_corpora[meta["dataset"]], meta["source"]["audio"]))
        assert abs(source.duration - meta["duration"]) < 1e-3
        if meta["role"] == "train":
            assert s["shard"]["path"].startswith("train/")
        else:
            assert s["shard"]["path"].startswith(f"eval/{meta['dataset']}/{meta['split']}/")
    clotho = [s["meta"] for s in samples.values() if s["meta"]["dataset"] == "clotho"]
    assert all(len(m["tasks"]) == 5 for m in clotho)  # five captions, one audio
    scene = samples["cochlscene-CrowdedIndoor_Train_0000"]["meta"]
    assert scene["tasks"] == [{"task": "scene", "prompt": PROMPTS["cochlscene"], "target": "crowded indoor"}]
    speech = next(s["meta"] for k, s in samples.items() if k.startswith("librispeech-"))
    assert speech["tasks"][0]["target"].islower() and speech["text_raw"] == speech["tasks"][0]["target"].upper()  # normalize.case: lower
    assert speech["speaker"] and speech["license"] == "CC-BY-4.0"


def test_training_shards_mix_corpora_and_never_hold_eval_data(local_run):
    index = json.loads((local_run / "index.json").read_text())
    train = [s for s in index["shards"] if s["group"] == "train"]
    datasets = set()
    for shard in train:
        for row in wds.WebDataset(str(local_run / shard["path"]), shardshuffle=False):
            meta = json.loads(row["json"])
            assert meta["role"] == "train"
            datasets.add(meta["dataset"])
    assert datasets == {"librispeech", "clotho", "cochlscene"}
    assert all(s["samples"] <= 10 for s in index["shards"])


def test_verify_passes_and_catches_tampering(local_run, tmp_path):
    import shutil

    assert verify(str(local_run)).ok
    copy = tmp_path / "copy"
    shutil.copytree(local_run, copy)
    shard = copy / json.loads((copy / "index.json").read_text())["shards"][0]["path"]
    data = bytearray(shard.read_bytes())
    data[1000] ^= 0xFF
    shard.write_bytes(bytes(data))
    report = verify(str(copy))
    assert not report.ok and any("sha256" in p for p in report.problems)


def test_rerun_resumes_without_rewriting(local_run, demo_corpora):
    before = {p: p.stat().st_mtime_ns for p in local_run.rglob("*.tar")}
    run_pipeline(demo_corpora, local_run, engine="local", shard_max_samples=10)
    assert {p: p.stat().st_mtime_ns for p in local_run.rglob("*.tar")} == before
    assert gc.isenabled()  # paused only while the engine's modules were imported


@pytest.mark.slow
def test_beam_and_ray_write_byte_identical_output(demo_corpora, tmp_path, local_run):
    beam_out, ray_out = tmp_path / "beam", tmp_path / "ray"
    # no --engine: a local run's default engine is Beam (the engine log below shows its import notice)
    beam = audioprep("run", *[f"--dataset={n}={r}" for n, r in demo_corpora.items()], "--out", str(beam_out), "--workers", "2", "--shard-max-samples", "10",
                     env={"AUDIOPREP_PROGRESS": "1"})
    inputs = json.loads((beam_out / "summary.json").read_text())["datasets"]
    for name, counts in inputs.items():  # the progress display counted every item each corpus's ingest read
        assert re.search(rf"ingest {name} +\S+ {counts['input']} items", beam.stderr), beam.stderr[-2000:]
    ray = audioprep("run", *[f"--dataset={n}={r}" for n, r in demo_corpora.items()], "--out", str(ray_out), "--engine", "ray", "--workers", "2", "--shard-max-samples", "10")
    # the engines' own start-up lines (Beam's import notices, Ray's) go to the engine
    # log, not to the user's terminal, where only the run's own messages and summary are
    for result, out, engine_line in [(beam, beam_out, "apitools not found"), (ray, ray_out, "Started a local Ray instance")]:
        terminal = result.stdout + result.stderr
        assert not [line for line in terminal.splitlines() if line.startswith(("INFO:", "WARNING:", "[20"))], terminal[-3000:]
        assert "Token authentication" not in terminal and "shards," in terminal
        assert engine_line in (out / "_work" / "engine.log").read_text()
    # two workers run in Beam's multi-threading mode: the FnApiRunner has nothing to warn about
    assert "direct_running_mode" not in (beam_out / "_work" / "engine.log").read_text()
    beam_files, ray_files = published(beam_out), published(ray_out)
    assert any(p.endswith(".tar") for p in beam_files)
    assert beam_files.keys() == ray_files.keys()
    assert [p for p in beam_files if beam_files[p] != ray_files[p]] == []
    # and the same as the in-process loop
    local = published(local_run)
    assert {p: local[p] for p in local if p.endswith(".tar")} == {p: beam_files[p] for p in beam_files if p.endswith(".tar")}
    assert audioprep("verify", str(beam_out)).returncode == 0


def test_local_beam_workers_are_threads_of_the_run_unless_the_user_chooses_a_mode(tmp_path):
    """Two workers: Beam's multi-threading mode, one SDK harness per worker in a thread of this
    process (no worker process to start); a running mode or runner the user gives is kept."""
    import threading

    import apache_beam as beam
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    from pipelines.runners.beam import pipeline_options

    def mode(workers, args=()):
        options = pipeline_options(workers, list(args))
        direct = options.view_as(DirectOptions)
        return options.view_as(StandardOptions).runner, direct.direct_num_workers, direct.direct_running_mode

    assert mode(2) == ("FnApiRunner", 2, "multi_threading")
    assert mode(1) == ("FnApiRunner", 1, "in_memory")
    assert mode(2, ["--direct_running_mode=multi_processing"]) == ("FnApiRunner", 2, "multi_processing")
    assert mode(1, ["--direct_num_workers=3"]) == ("FnApiRunner", 3, "multi_threading")
    assert mode(2, ["--runner=FlinkRunner"]) == ("FlinkRunner", 1, "in_memory")

    main = threading.get_ident()

    def report(item, folder=str(tmp_path)):
        with open(os.path.join(folder, f"{item}.json"), "w") as handle:
            json.dump({"pid": os.getpid(), "thread": threading.get_ident()}, handle)

    with beam.Pipeline(options=pipeline_options(2, [])) as pipeline:
        pipeline | beam.Create(list(range(8))) | beam.Reshuffle() | beam.Map(report)
    seen = [json.loads((tmp_path / f"{i}.json").read_text()) for i in range(8)]
    assert {s["pid"] for s in seen} == {os.getpid()}
    assert len({s["thread"] for s in seen}) == 2 and main not in {s["thread"] for s in seen}, seen


def test_a_ray_cluster_given_to_another_engine_is_refused_before_any_work(demo_corpora, tmp_path):
    out = tmp_path / "out"
    refused = audioprep("run", f"--dataset=librispeech={demo_corpora['librispeech']}", "--out", str(out),
                        "--engine", "beam", "--ray-address", "ray://head:10001", check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode == 2 and "a Ray cluster (ray://head:10001) is given but the engine is beam: choose engine ray" in said, said
    assert not out.exists()


def test_beam_pipeline_options_after_the_double_dash_reach_beam(demo_corpora, tmp_path):
    """`audioprep run --dataset ... -- --beam_option=...`: the options after `--` go to Beam (they are
    not taken for the CONFIG argument): a bad value is Beam's error, a good one runs."""
    datasets = [f"--dataset=librispeech={demo_corpora['librispeech']}"]
    refused = audioprep("run", *datasets, "--out", str(tmp_path / "bad"), "--engine", "beam", "--", "--direct_running_mode=sideways", check=False)
    assert refused.returncode != 0 and "sideways" in refused.stderr + refused.stdout
    assert "not both" not in refused.stderr + refused.stdout
    audioprep("run", *datasets, "--out", str(tmp_path / "good"), "--engine", "beam", "--workers", "2", "--", "--direct_running_mode=in_memory")
    assert json.loads((tmp_path / "good" / "summary.json").read_text())["balanced"]
    # two workers in Beam's in-memory mode run as one: Beam's warning about it reaches the engine log
    assert "direct_running_mode" in (tmp_path / "good" / "_work" / "engine.log").read_text()


@pytest.mark.slow
def test_real_samples_end_to_end_on_ray(tmp_path):
    libri = shared_corpus("librispeech", "LibriSpeech")
    clotho = shared_corpus("clotho")
    out = tmp_path / "out"
    summary = run_pipeline({"librispeech": str(libri), "clotho": str(clotho)}, out, engine="ray")
    assert summary["datasets"]["librispeech"] == {"input": 14, "written": 14, "quarantined": 0, "excluded": 0, "samples": 14}
    assert summary["datasets"]["clotho"] == {"input": 3, "written": 3, "quarantined": 0, "excluded": 0, "samples": 3}
    samples = read_samples(out)
    flipping = next(s for k, s in samples.items() if k.startswith("clotho-Flipping_Pages-"))
    assert flipping["meta"]["source"]["audio"] == "evaluation/Flipping Pages.wav"
    assert [v["target"] for v in flipping["meta"]["tasks"]][3] == "PAPER RUSTLING WAS EVIDENT AS THE MAN SEARCHED FOR A MISSING DOCUMENT IN THE FILE."
    assert abs(flipping["frames"] / 16000 - sf.info(str(clotho / "evaluation" / "Flipping Pages.wav")).duration) < 1e-3
    stew = samples["librispeech-1089-134686-0000"]
    assert stew["meta"]["tasks"][0]["target"].startswith("he hoped there would be stew for dinner")
    assert stew["meta"]["text_raw"].startswith("HE HOPED THERE WOULD BE STEW FOR DINNER")
    assert stew["shard"]["path"] == "eval/librispeech/test-clean/shard-00000-000.tar"
    assert verify(str(out)).ok


def test_progress_counts_the_units_whose_completion_record_exists(tmp_path):
    """The progress bar's count: completion records of this run's units, nothing else in the folder."""
    from pipelines.core import outputs
    from pipelines.runners import watch_progress

    units = [outputs.unit_id("train", n) for n in range(5)]
    seen: list[int] = []
    stop = watch_progress(str(tmp_path), units, seen.append)  # no completion folder yet: 0
    folder = Path(outputs.unit_done_path(str(tmp_path), units[0])).parent
    folder.mkdir(parents=True)
    for unit in units[:3] + [outputs.unit_id("train", 99)]:
        Path(outputs.unit_done_path(str(tmp_path), unit)).write_text("{}")
    (folder / f".{units[3]}.json.tmp-1").write_text("")  # a record being written does not count yet
    stop()
    assert seen[0] in (0, 3) and seen[-1] == 3


def test_the_ingest_command_writes_a_manifest_and_shows_how_many_items_it_read(demo_corpora, tmp_path):
    result = audioprep("ingest", "--dataset", f"librispeech={demo_corpora['librispeech']}", "--out", str(tmp_path),
                       env={"AUDIOPREP_PROGRESS": "1"})
    done = json.loads((tmp_path / "_work" / "ingest" / "librispeech.done.json").read_text())
    said = result.stdout + result.stderr
    assert re.search(rf"ingest librispeech +\S+ {done['records'] + done['drops']} items", said), said[-2000:]
    assert f"librispeech: {done['records']} records, {done['drops']} quarantined" in said
    manifest = tmp_path / "manifests" / "librispeech.parquet"
    # the manifest holds the records ingest makes, field for field, with each clip's probed seconds
    records = [item for item in ingest(loader.load("librispeech"), "librispeech", demo_corpora["librispeech"]) if not isinstance(item, Drop)]
    written = list(iter_manifest(str(manifest)))
    assert [replace(r, seconds=None) for r in written] == [replace(r, seconds=None) for r in records] and len(records) == done["records"]
    assert all(r.seconds > 0 for r in written)
    # values that repeat (corpus, split, speaker) are dictionary-encoded; keys, paths and texts are not
    chunks = pq.ParquetFile(manifest).metadata.row_group(0)
    encodings = {chunks.column(i).path_in_schema: chunks.column(i).encodings for i in range(chunks.num_columns)}
    assert all("RLE_DICTIONARY" in encodings[name] for name in ("dataset", "split", "speaker", "language"))
    assert not any("RLE_DICTIONARY" in encodings[name] or "PLAIN_DICTIONARY" in encodings[name] for name in ("key", "audio", "text", "source"))
