"""Run config files, corpus weighting, shard counts, consistent partitioning, separate indexes."""
import json
import os
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


def test_datasets_ingested_side_by_side_plan_the_same_bytes_and_name_a_failing_corpus(demo_corpora, tmp_path, monkeypatch):
    """One process or two, large unit-file buffers or tiny ones (flushed per file and all at once
    when their total is reached): the same plan, byte for byte."""
    from pipelines import plan as module

    specs = tuple(DatasetSpec(name, name, root) for name, root in sorted(demo_corpora.items()))
    plans = {}
    for processes, unit_buffers in ((1, None), (2, None), (1, 3000)):
        if unit_buffers:
            monkeypatch.setattr(module, "UNIT_BUFFERS_BYTES", unit_buffers)
            monkeypatch.setattr(module, "PARTITION_BUFFER_BYTES", 700)
        out = tmp_path / f"out-{processes}-{unit_buffers}"
        plan = make_plan(RunConfig(datasets=specs, out=str(out), shard_max_samples=20), processes=processes)
        assert len(plan.units) > 5
        plans[processes, unit_buffers] = {p.relative_to(out).as_posix(): p.read_bytes().replace(str(out).encode(), b"OUT")
                                          for p in sorted(out.rglob("*")) if p.is_file()}  # plan.json names its folder
    assert plans[1, None] == plans[2, None] == plans[1, 3000] and any(path.startswith("manifests/") for path in plans[1, None])
    broken = specs + (DatasetSpec("missing", "librispeech", str(tmp_path / "no-such-corpus")),)
    with pytest.raises(FileNotFoundError, match="no-such-corpus.*'missing'"):  # raised in its process, re-raised here
        make_plan(RunConfig(datasets=broken, out=str(tmp_path / "out-broken")), processes=2)


def test_ingest_processes_do_without_pandas_and_the_run_s_own_process_keeps_it(demo_corpora, tmp_path):
    """pyarrow would import pandas in each ingest process (~40 MB, ~0.25 CPU s) to ask whether a list
    is a pandas object; those processes refuse it and still write their manifests, while the
    process that started them can import it (an engine may need it). In a fresh interpreter, so
    that no earlier test has loaded pandas into the processes it forks."""
    import subprocess
    import sys

    (tmp_path / "probe_ingest.py").write_text(
        "import sys\n"
        "from pipelines import plan\n"
        "real = plan.ingest_dataset\n"
        "def ingest_dataset(*args):\n"
        "    return {**real(*args), 'pandas_loaded': 'pandas' in sys.modules}\n"
    )
    script = (
        "import json, sys, importlib.util\n"
        "import probe_ingest\n"
        "from pipelines import plan\n"
        "from pipelines.config import DatasetSpec, RunConfig\n"
        "plan.ingest_dataset = probe_ingest.ingest_dataset\n"
        f"specs = tuple(DatasetSpec(n, n, r) for n, r in sorted({dict(demo_corpora)!r}.items()))\n"
        f"counts = plan.ingest_all(RunConfig(datasets=specs, out={str(tmp_path / 'out')!r}), {str(tmp_path / 'out')!r}, print, processes=2)\n"
        "import pandas\n"
        "print(json.dumps(counts))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])})
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(counts) == set(demo_corpora) and all(c["records"] > 0 for c in counts.values()), counts
    assert not any(c["pandas_loaded"] for c in counts.values()), counts
    assert all((tmp_path / "out" / "manifests" / f"{name}.parquet").exists() for name in demo_corpora)


def test_the_package_gives_arrow_the_c_library_allocator_unless_the_environment_chooses():
    """Arrow's mimalloc kept planning's freed pages resident all run, growing with the corpus
    (bench/README.md, "Memory"): a process that imports the package before pyarrow, and the
    processes it starts, use the system allocator; a user's ARROW_DEFAULT_MEMORY_POOL is kept."""
    import subprocess
    import sys

    script = (
        "import os, subprocess, sys\n"
        "import pipelines\n"
        "import pyarrow as pa\n"
        "child = subprocess.run([sys.executable, '-c', 'import pyarrow as pa; print(pa.default_memory_pool().backend_name)'],\n"
        "                       capture_output=True, text=True, check=True).stdout.strip()\n"
        "print(pa.default_memory_pool().backend_name, child)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    chosen = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, check=True)
    assert chosen.stdout.split() == ["system", "system"], chosen.stdout
    kept = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True,
                          env={**env, "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"})
    assert kept.stdout.split() == ["mimalloc", "mimalloc"], kept.stdout


def test_ingest_reports_how_many_items_each_corpus_has_read(demo_corpora, tmp_path, monkeypatch):
    """The progress display's counts: every metadata item of each corpus (records and drops), in
    this process or from the corpora's own processes (through a file each, then removed)."""
    from pipelines import plan as module

    monkeypatch.setattr(module, "REPORT_EVERY", 3)
    specs = tuple(DatasetSpec(name, name, root) for name, root in sorted(demo_corpora.items()))
    for processes in (1, 2):
        out = tmp_path / f"out-{processes}"
        reports: dict[str, list[int]] = {}
        plan = make_plan(RunConfig(datasets=specs, out=str(out)), processes=processes,
                         seen=lambda name, count: reports.setdefault(name, []).append(count))
        assert set(reports) == {spec.name for spec in specs}
        for name, counts in reports.items():
            assert counts == sorted(counts) and counts[-1] == plan.inputs[name], (processes, name, counts)
        if processes == 1:
            assert len(reports["librispeech"]) > 1  # every 3 items, then the last
        assert not list(out.rglob("*.progress"))
