"""`audioprep export`: the instruction table, and each format checked against its framework's own examples.

References: Qwen-Audio's eval_audio/evaluate_*.py (the JSONL fields they read and the prompts they build,
spec section 4), ms-swift's custom-dataset documentation (messages + audios), LLaMA-Factory's
data/mllm_audio_demo.json and its dataset_info.json entry, Qwen-Audio's tokenizer ``from_list_format``.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tag_builder.instructions import instruction, instruction_table, phrasings
from tag_builder.tasks import REGISTRY
from tag_builder.vocabulary import special_tokens, token_spellings

from conftest import PROJECT, audioprep
from pipelines.core import remote
from pipelines.core.config import DatasetSpec, EngineOptions, RunConfig
from pipelines.export.command import ExportFailed, export
from pipelines.export.files import AudioFiles, Destination
from pipelines.export.qwen_eval import QwenAudioEval, source_name
from pipelines.finalize.collect import finalize
from pipelines.plan.planner import make_plan
from pipelines.reader.shards import RawSample, iter_samples
from pipelines.runners import run_units

# --- the instruction table ----------------------------------------------------------------------


def test_every_task_of_the_registry_has_several_instructions_without_a_tag_token():
    tokens = special_tokens()
    for task in REGISTRY:
        texts = phrasings(task)
        assert len(texts) >= 3, task
        for text in texts:
            assert not token_spellings(text), (task, text)
            assert not any(token in text for token in tokens), (task, text)
    assert set(instruction_table()[1]) == set(REGISTRY)


def test_an_instruction_is_chosen_from_the_key_and_filled_from_the_prompt():
    prompt = "<|startoftranscript|><|en|><|translate|><|de|><|notimestamps|><|itn|>"
    chosen = {instruction("s2tt", prompt, f"k{i}") for i in range(40)}
    assert len(chosen) > 1 and all("German" in text for text in chosen)
    assert instruction("s2tt", prompt, "k1") == instruction("s2tt", prompt, "k1")
    question = "<|startofanalysis|><|en|><|question|>Is a dog barking?<|answer|>"
    assert all("Is a dog barking?" in instruction("aqa", question, f"k{i}") for i in range(10))


def test_docs_list_every_instruction():
    text = (PROJECT / "docs" / "exports.md").read_text(encoding="utf-8")
    for task in REGISTRY:
        for phrasing in phrasings(task):
            assert phrasing in text, (task, phrasing)


# --- exports of the demo run ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def exports(local_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    made = {}
    for fmt in ("qwen-audio-eval", "ms-swift", "llama-factory", "chatml"):
        summary = export(str(local_run), fmt, str(root / fmt), rows_per_file=7)
        made[fmt] = (root / fmt, summary)
    return made


def shard_samples(run: Path, group: str | None = None) -> list[RawSample]:
    index = json.loads((run / "index.json").read_text())["shards"]
    return [s for e in index if group in (None, e["group"]) for s in iter_samples(str(run / e["path"]))]


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


#: the prompts of Qwen-Audio's evaluation scripts, byte for byte (spec section 4), with the script's arguments
SCRIPT_PROMPTS = {
    "data/asr": lambda row, lang: f"<audio>{row['audio']}</audio><|startoftranscript|><|{lang}|><|transcribe|><|{lang}|><|notimestamps|><|wo_itn|>",
    "data/asc": lambda row, lang: f"<audio>{row['audio']}</audio><|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>",
    "data/caption": lambda row, lang: f"<audio>{row['audio']}</audio><|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_clotho|>",
}


def test_qwen_audio_eval_rows_are_what_the_scripts_read(local_run, exports, monkeypatch):
    folder, summary = exports["qwen-audio-eval"]
    manifest = json.loads((folder / "qwen-audio-eval.json").read_text())
    assert set(manifest["collections"]) == {"data/asr/librispeech_eval.jsonl", "data/asc/cochlscene_eval.jsonl", "data/caption/clotho_eval.jsonl"}
    assert manifest["collections"]["data/caption/clotho_eval.jsonl"]["ds_collections"] == {"clotho": {"path": "data/caption/clotho_eval.jsonl", "style": "clotho"}}
    monkeypatch.chdir(folder)  # the scripts run where data/ is, and open the audio from there
    by_audio = {}
    for group in ("eval/librispeech/dev-clean-2", "eval/cochlscene/Test", "eval/cochlscene/Val", "eval/clotho/evaluation"):
        for sample in shard_samples(local_run, group):
            by_audio.setdefault(AudioFiles.relpath(sample.flac), []).append(sample)
    rows = 0
    for file, entry in manifest["collections"].items():
        (name, collection), = entry["ds_collections"].items()
        for row in jsonl(Path(collection["path"])):
            rows += 1
            assert set(row) == {"audio", "source", "gt"} and os.path.isfile(row["audio"])
            sample = by_audio[row["audio"]][0]
            assert row["source"] == f"{sample.meta['dataset']}_{sample.meta['split']}"
            built = SCRIPT_PROMPTS[file.rsplit("/", 1)[0]](row, collection.get("language"))
            views = sample.meta["tasks"]
            assert built in {f"<audio>{row['audio']}</audio>{v['prompt']}" for v in views}  # the shard's own prompt
            if file.startswith("data/caption"):
                assert row["gt"] == [v["target"] for v in views] and len(row["gt"]) == 5  # every reference caption
            else:
                assert row["gt"] in {v["target"] for v in views}
    assert rows == sum(s["rows"] for s in summary["sets"].values()) and summary["prompts_differ"] == 0


def test_qwen_audio_eval_names_sources_as_the_translation_script_splits_them():
    prompt = "<|startoftranscript|><|fr|><|translate|><|en|><|notimestamps|><|itn|>"
    source = source_name("s2tt", {"dataset": "covost2", "split": "test_set", "key": "k"}, prompt)
    assert (source.split("_")[-3], source.split("_")[-2]) == ("fr", "en")  # evaluate_st.py's audio_lan, text_lan
    family = QwenAudioEval()
    aqa = RawSample("k", b"", {"dataset": "clotho_aqa", "split": "test", "tasks": [
        {"task": "aqa", "prompt": "<|startofanalysis|><|en|><|question|>Is it raining?<|answer|>", "target": "yes"},
        {"task": "speaker_meta", "prompt": "x", "target": "y"}]})
    (series, row), = family.rows("eval/clotho_aqa/test", aqa, "audio/ab/x.flac")
    assert series == "data/st/clotho_aqa_eval" and row == {"audio": "audio/ab/x.flac", "source": "clotho_aqa_test", "gt": "yes", "question": "Is it raining?"}
    assert family.left_out == {"speaker_meta": 1}


def chat_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.jsonl"))


@pytest.mark.parametrize("fmt", ["ms-swift", "llama-factory"])
def test_messages_rows_follow_the_documented_example(exports, fmt, local_run):
    folder, summary = exports[fmt]
    files = chat_files(folder)
    assert len(files) > len(summary["sets"])  # split into parts of 7 rows
    rows = [row for path in files for row in jsonl(path)]
    assert len(rows) == sum(len(s.meta["tasks"]) for s in shard_samples(local_run))
    for row in rows:
        assert set(row) == {"messages", "audios"}
        user, assistant = row["messages"]
        assert set(user) == set(assistant) == {"role", "content"}
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert user["content"].count("<audio>") == len(row["audios"]) == 1 and user["content"].startswith("<audio>")
        assert not token_spellings(user["content"]) and assistant["content"]
        assert (folder / row["audios"][0]).is_file()


def test_llama_factory_registers_each_set_and_its_loader_finds_the_audio(exports, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    folder, summary = exports["llama-factory"]
    info = json.loads((folder / "dataset_info.json").read_text())
    # the form of LLaMA-Factory's own mllm_audio_demo entry
    demo = {"formatting": "sharegpt", "columns": {"messages": "messages", "audios": "audios"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}
    assert set(info) == set(summary["datasets"]) and "audioprep_train" in info
    monkeypatch.chdir(tmp_path)  # a training job started elsewhere: dataset_dir and media_dir are the export folder
    for name, entry in info.items():
        assert {k: v for k, v in entry.items() if k != "file_name"} == demo
        local_path = folder / entry["file_name"]  # loader.py: a folder of files of one type
        files = sorted(str(p) for p in local_path.iterdir())
        assert files and all(f.endswith(".jsonl") for f in files)
        loaded = datasets.load_dataset("json", data_files=files, split="train", cache_dir=str(tmp_path / "cache"))
        for example in loaded:
            media = os.path.join(str(folder), example["audios"][0])  # converter.py's _find_medias
            assert os.path.isfile(media)


def test_chatml_rows_spell_the_audio_as_qwen_audios_tokenizer(exports):
    folder, _ = exports["chatml"]
    pattern = re.compile(
        r"<\|im_start\|>system\nYou are a helpful assistant\.<\|im_end\|>\n<\|im_start\|>user\nAudio 1:<audio>([^<]+)</audio>\n"
        r"([^\n]+)<\|im_end\|>\n<\|im_start\|>assistant\n(.+)<\|im_end\|>", re.S)
    rows = [row for path in chat_files(folder) for row in jsonl(path)]
    assert rows
    for row in rows:
        match = pattern.fullmatch(row["text"])
        assert match, row["text"]
        assert (folder / match.group(1)).is_file() and not token_spellings(match.group(2))


def test_absolute_paths_resolve_from_anywhere(local_run, tmp_path, monkeypatch):
    export(str(local_run), "ms-swift", str(tmp_path / "x"), absolute_paths=True, sets=["eval/clotho/evaluation"])
    monkeypatch.chdir("/")
    rows = [row for path in chat_files(tmp_path / "x") for row in jsonl(path)]
    assert len(rows) == 10 and all(os.path.isabs(r["audios"][0]) and os.path.isfile(r["audios"][0]) for r in rows)


def test_a_rerun_writes_no_audio_again_and_the_same_rows(local_run, tmp_path):
    first = export(str(local_run), "chatml", str(tmp_path / "x"), rows_per_file=5)
    before = {p: p.read_bytes() for p in chat_files(tmp_path / "x")}
    victim = next((tmp_path / "x" / "audio").rglob("*.flac"))
    victim.unlink()
    second = export(str(local_run), "chatml", str(tmp_path / "x"), rows_per_file=5)
    assert second["audio_files"] == {"written": 1, "already_there": first["audio_files"]["written"] - 1}
    assert {p: p.read_bytes() for p in chat_files(tmp_path / "x")} == before
    assert not [p for p in (tmp_path / "x").rglob(".*") if p.is_file()]  # no temporary file left


def test_repeated_training_copies_point_at_one_audio_file(demo_corpora, tmp_path):
    spec = DatasetSpec(name="cochlscene", schema="cochlscene", root=demo_corpora["cochlscene"], repeat=2)
    out = tmp_path / "out"
    plan = make_plan(RunConfig(datasets=(spec,), out=str(out)))
    run_units(plan.run_config(), EngineOptions("local", 1), plan.units)
    finalize(str(out))
    samples = shard_samples(out, "train")
    assert any(s.key.endswith("-r1") for s in samples)
    summary = export(str(out), "ms-swift", str(tmp_path / "x"), sets=["train"])
    rows = [row for path in chat_files(tmp_path / "x") for row in jsonl(path)]
    assert len(rows) == len(samples) == 2 * len({r["audios"][0] for r in rows})
    assert summary["audio_files"]["written"] == len(list((tmp_path / "x" / "audio").rglob("*.flac"))) == len(samples) // 2


def test_bad_requests_are_refused_by_name(local_run, tmp_path):
    with pytest.raises(ExportFailed, match="unknown export format 'swift'"):
        export(str(local_run), "swift", str(tmp_path / "x"))
    with pytest.raises(ExportFailed, match="cannot export set"):
        export(str(local_run), "qwen-audio-eval", str(tmp_path / "x"), sets=["train"])
    result = audioprep("export", str(tmp_path / "nothing"), "--format", "chatml", "--to", str(tmp_path / "x"), check=False)
    assert result.returncode == 2 and "has no index.json" in result.stderr


def test_export_to_s3(local_run, tmp_path, monkeypatch):
    boto3 = pytest.importorskip("boto3")
    from s3_server import MotoServer, s3_env

    server = MotoServer()
    try:
        for name, value in s3_env(server.url).items():
            monkeypatch.setenv(name, value)
        remote._client.cache_clear()
        client = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1")
        client.create_bucket(Bucket="exports")
        summary = export(str(local_run), "llama-factory", "s3://exports/run-1/", workdir=str(tmp_path / "work"))
        keys = {o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket="exports") for o in page.get("Contents", [])}
        assert {"run-1/export.json", "run-1/dataset_info.json"} <= keys
        assert sum(k.endswith(".flac") for k in keys) == summary["audio_files"]["written"]
        assert {f"run-1/{f}" for files in summary["files"].values() for f in files} <= keys
        assert not list((tmp_path / "work" / "audio").rglob("*.flac"))  # uploaded, then removed locally
    finally:
        remote._client.cache_clear()
        server.stop()


def test_destination_names_audio_by_content(tmp_path):
    files = AudioFiles(Destination(str(tmp_path)))
    assert files.add(b"abc") == files.add(b"abc") == AudioFiles.relpath(b"abc")
    assert (files.written, files.found) == (1, 1)
