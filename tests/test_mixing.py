"""Run config files, corpus weighting, shard counts, consistent partitioning, separate indexes."""
import json
from collections import Counter

import pytest

from pipelines.core.config import DatasetSpec, EngineOptions, RunConfig
from pipelines.core.keys import jump_bucket, order_key
from pipelines.plan.planner import make_plan
from pipelines.plan.weights import copies_of, mix_factors
from pipelines.core.run_config import RunConfigError, load_run_config

from conftest import audioprep, run_pipeline


def _config_file(tmp_path, demo_corpora, body: str):
    path = tmp_path / "run.yaml"
    path.write_text(body.format(**demo_corpora))
    return path


def test_run_config_file_loads_with_relative_paths(tmp_path, demo_corpora):
    path = _config_file(
        tmp_path,
        demo_corpora,
        """
out: out
seed: 3
temperature: 2.0
shards: {{max_samples: 50, multiple_of: 4}}
engine: {{name: beam, workers: 2, beam_args: ["--direct_running_mode=in_memory"]}}
datasets:
  - {{name: librispeech, root: {librispeech}, splits: [train-clean-5], cap_hours: 0.001}}
  - {{name: clotho, root: {clotho}, repeat: 2}}
""",
    )
    config, engine = load_run_config(path)
    assert config.out == str(tmp_path / "out") and config.seed == 3 and config.temperature == 2.0
    assert config.shard_max_samples == 50 and config.shards_multiple_of == 4
    assert config.datasets[0] == DatasetSpec("librispeech", "librispeech", demo_corpora["librispeech"], ("train-clean-5",), 0.001, 1.0)
    assert config.datasets[1].repeat == 2
    assert (engine.engine, engine.workers, engine.beam_args) == ("beam", 2, ("--direct_running_mode=in_memory",))


def test_run_config_errors_name_the_line(tmp_path, demo_corpora):
    path = _config_file(tmp_path, demo_corpora, "out: o\ndatasets:\n  - {{name: clotho, root: x, reapeat: 2}}\n")
    with pytest.raises(RunConfigError, match=r"line 3: datasets.0.reapeat: unknown field"):
        load_run_config(path)


def test_temperature_and_caps():
    config = RunConfig(
        datasets=(DatasetSpec("big", "x", "/"), DatasetSpec("small", "x", "/"), DatasetSpec("capped", "x", "/", cap_hours=1.0)),
        out="o",
        temperature=2.0,
    )
    factors = mix_factors(config, {"big": 9 * 3600.0, "small": 1 * 3600.0, "capped": 10 * 3600.0})
    # shares .45/.05/.5 -> tempered sqrt, renormalised: the small corpus is upsampled, the big one down
    assert factors["small"] > 1 > factors["big"]
    assert factors["capped"] == pytest.approx(0.1)
    assert copies_of(2.0, 0, "k") == 2 and copies_of(0.0, 0, "k") == 0
    picked = sum(copies_of(0.3, 0, f"k{i}") for i in range(10000))
    assert 2800 < picked < 3200


def test_weights_in_a_real_run_balance_and_never_touch_eval(demo_corpora, tmp_path):
    specs = (
        DatasetSpec("librispeech", "librispeech", demo_corpora["librispeech"], cap_hours=0.004),
        DatasetSpec("clotho", "clotho", demo_corpora["clotho"], repeat=2.0),
        DatasetSpec("cochlscene", "cochlscene", demo_corpora["cochlscene"], splits=("Train", "Test")),
    )
    out = tmp_path / "out"
    plan = make_plan(RunConfig(datasets=specs, out=str(out), shard_max_samples=20))
    assert plan.mix["clotho"]["factor"] == 2.0
    assert plan.mix["librispeech"]["train_hours"] <= 0.004 + 4 / 3600  # one clip of slack: sampling is per record
    assert plan.inputs["cochlscene"] == 12 + 6 + 1  # Val not selected: not input of this run
    from pipelines.runners import run_units
    from pipelines.finalize.collect import finalize

    run_units(plan.run_config(), EngineOptions("local", 1), plan.units)
    summary = finalize(str(out))
    assert summary["balanced"]
    clotho = summary["datasets"]["clotho"]
    # 4 development clips (+1 too long) repeated twice, 2 evaluation clips once
    assert clotho == {"input": 7, "written": 6, "quarantined": 1, "excluded": 0, "samples": 10}
    libri = summary["datasets"]["librispeech"]
    assert libri["excluded"] > 0 and libri["input"] == libri["written"] + libri["quarantined"] + libri["excluded"]
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert sum(r["dataset"] == "clotho" for r in quarantine) == 1  # the repeat of a bad clip is not counted twice
    index = json.loads((out / "index.json").read_text())
    train = json.loads((out / "train" / "index.json").read_text())
    evaluation = json.loads((out / "eval" / "index.json").read_text())
    assert {s["path"] for s in train["shards"]} | {s["path"] for s in evaluation["shards"]} == {s["path"] for s in index["shards"]}
    assert all(s["path"].startswith("train/") for s in train["shards"])
    assert all(s["path"].startswith("eval/") for s in evaluation["shards"])


def test_number_of_training_shards_is_a_multiple_of_the_ranks(demo_corpora, tmp_path):
    summary = run_pipeline(demo_corpora, tmp_path / "out", shard_max_samples=7, shards_multiple_of=4)
    train = json.loads((tmp_path / "out" / "train" / "index.json").read_text())["shards"]
    assert len(train) % 4 == 0 and len(train) >= 4
    evaluation = json.loads((tmp_path / "out" / "eval" / "index.json").read_text())["shards"]
    assert sum(s["samples"] for s in train + evaluation) == summary["samples"] == 42


def test_adding_a_corpus_moves_few_records_between_units():
    keys = [f"a-{i}" for i in range(20000)]
    before = {k: jump_bucket(int(order_key(0, k), 16), 10) for k in keys}
    after = {k: jump_bucket(int(order_key(0, k), 16), 11) for k in keys}
    moved = sum(before[k] != after[k] for k in keys)
    assert moved / len(keys) < 0.12  # about 1/11 move, not ~10/11 as with modulo hashing
    sizes = Counter(after.values())
    assert max(sizes.values()) / min(sizes.values()) < 1.15


def test_plan_flag_prints_hours_and_writes_no_shards(demo_corpora, tmp_path):
    out = tmp_path / "out"
    result = audioprep("run", *[f"--dataset={n}={r}" for n, r in demo_corpora.items()], "--out", str(out), "--plan", env={"COLUMNS": "200"})
    assert "planned mix" in result.stderr and "caption_clotho" in result.stderr
    assert not list(out.rglob("*.tar")) and not (out / "index.json").exists()


def test_task_weights_apply_to_every_corpus_feeding_the_task():
    config = RunConfig(
        datasets=(DatasetSpec("speech_a", "x", "/"), DatasetSpec("speech_b", "x", "/"), DatasetSpec("scenes", "x", "/"), DatasetSpec("meld", "x", "/")),
        out="o",
        task_weights={"asr": {"cap_hours": 3.0, "repeat": 1.0}, "scene": {"cap_hours": None, "repeat": 2.0}},
    )
    tasks = {"speech_a": {"asr"}, "speech_b": {"asr"}, "scenes": {"scene"}, "meld": {"asr", "emotion"}}
    seconds = {"speech_a": 2 * 3600.0, "speech_b": 2 * 3600.0, "scenes": 3600.0, "meld": 2 * 3600.0}
    factors = mix_factors(config, seconds, tasks)
    # 6 h feed asr, capped at 3 h: every corpus feeding asr (meld too) is halved; scenes are doubled
    assert factors == {"speech_a": 0.5, "speech_b": 0.5, "scenes": 2.0, "meld": 0.5}
    assert sum(seconds[n] * factors[n] for n in ("speech_a", "speech_b", "meld")) / 3600 == pytest.approx(3.0)


def test_task_weights_in_a_run_config_file_and_a_real_plan(tmp_path, demo_corpora):
    path = _config_file(
        tmp_path,
        demo_corpora,
        """
out: out
tasks:
  scene: {{repeat: 2}}
  caption_clotho: {{cap_hours: 0.002}}
datasets:
  - {{name: clotho, root: {clotho}}}
  - {{name: cochlscene, root: {cochlscene}}}
""",
    )
    config, _ = load_run_config(path)
    assert config.task_weights == {"caption_clotho": {"cap_hours": 0.002, "repeat": 1.0}, "scene": {"cap_hours": None, "repeat": 2.0}}
    plan = make_plan(config)
    assert plan.mix["cochlscene"]["factor"] == 2.0
    assert plan.mix["clotho"]["train_hours"] < plan.mix["clotho"]["available_train_hours"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("out: o\ntasks: {scenes: {repeat: 2}}\ndatasets: [{name: clotho, root: x}]\n")
    with pytest.raises(RunConfigError, match="tasks.scenes"):
        load_run_config(bad)
