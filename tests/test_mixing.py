"""Run config files, corpus weighting, shard counts, consistent partitioning, separate indexes."""
import json
from collections import Counter

import pytest

from pipelines.config import DatasetSpec, RunConfig
from pipelines.keys import jump_bucket, order_key
from pipelines.plan import copies_of, make_plan, mix_factors
from pipelines.run_config import RunConfigError, load_run_config

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
    from pipelines.finalize import finalize

    run_units("local", str(out), plan.units, 1, {})
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
