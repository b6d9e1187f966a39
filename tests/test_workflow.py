"""The orchestration steps the DAG calls (pipelines/workflow.py), without Airflow: fast checks of
what the params become and of how a broken corpus is reported."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.core import outputs
from pipelines.core.config import EngineOptions, RunConfig
from pipelines.workflow import (
    Permanent,
    check_corpus,
    corpora_outcome,
    engine_options,
    resolve_run,
    run_config,
)

from conftest import PROJECT


def test_corpus_strings_with_overrides_and_a_subset(tmp_path):
    resolved = resolve_run(
        corpora=["librispeech=/data/LibriSpeech", f"clotho:{tmp_path}/c.yaml=/data/clotho"],
        out=str(tmp_path / "out"), only=["clotho"], engine="beam", workers=3,
        beam_runner="FlinkRunner", beam_args=["--flink_master=flink:8081"], shard_max_samples=10,
    )
    assert resolved["corpora"] == ["clotho"]
    run = json.loads(json.dumps(resolved["run"]))  # what travels between tasks is JSON
    config, options = run_config(run), engine_options(run)
    assert [(s.name, s.schema, s.root) for s in config.datasets] == [("clotho", f"{tmp_path}/c.yaml", "/data/clotho")]
    assert config.out == str(tmp_path / "out") and config.shard_max_samples == 10
    assert (options.engine, options.workers) == ("beam", 3)
    assert options.beam_args == ("--runner=FlinkRunner", "--flink_master=flink:8081")


def test_a_run_config_file_with_overrides(tmp_path):
    config_file = tmp_path / "runs" / "mix.yaml"
    config_file.parent.mkdir()
    config_file.write_text(
        "out: out/\n"
        "engine: {name: ray, workers: 4, ray_address: ray://head:10001}\n"
        "datasets:\n"
        "  - {name: librispeech, root: corpora/LibriSpeech, splits: [train-clean-5]}\n"
        "  - {name: clotho, root: /data/clotho, repeat: 3}\n"
    )
    resolved = resolve_run(config_file=str(config_file), engine="beam", seed=7)
    config, options = run_config(resolved["run"]), engine_options(resolved["run"])
    assert resolved["corpora"] == ["librispeech", "clotho"]
    assert config.out == str(tmp_path / "runs" / "out")  # relative to the config file
    assert config.datasets[0].root == str(tmp_path / "runs" / "corpora" / "LibriSpeech")
    assert config.datasets[0].splits == ("train-clean-5",) and config.datasets[1].repeat == 3
    assert config.seed == 7
    # the file's Ray cluster is for its Ray runs: this run chose Beam
    assert (options.engine, options.workers, options.ray_address) == ("beam", 4, None)


def test_a_run_that_names_no_engine_runs_on_beam_or_on_ray_when_given_a_ray_cluster(tmp_path):
    def engine(**params):
        return engine_options(resolve_run(**params)["run"]).engine

    corpora = {"corpora": ["clotho=/data/clotho"], "out": str(tmp_path / "out")}
    assert engine(**corpora) == "beam"
    assert engine(**corpora, ray_address="ray://head:10001") == "ray"
    assert engine(**corpora, ray_address="ray://head:10001", engine="ray") == "ray"
    assert engine(**corpora, engine="local") == "local"
    config_file = tmp_path / "mix.yaml"
    for section, expected in [("", "beam"), ("engine: {workers: 4}\n", "beam"), ("engine: {name: ray}\n", "ray"),
                              ("engine: {ray_address: ray://head:10001}\n", "ray")]:
        config_file.write_text(f"out: out/\n{section}datasets:\n  - {{name: clotho, root: /data/clotho}}\n")
        assert engine(config_file=str(config_file)) == expected, section
        if "name:" not in section:
            assert engine(config_file=str(config_file), ray_address="ray://other:10001") == "ray"
    # a Ray cluster given with another engine is a contradiction, not an address to ignore: in a run's
    # own values, in a config file (named by its line), and a run's address against the file's engine
    with pytest.raises(Permanent, match=r"a Ray cluster \(ray://head:10001\) is given but the engine is local: choose engine ray"):
        engine(**corpora, ray_address="ray://head:10001", engine="local")
    config_file.write_text("out: out/\nengine: {name: beam}\ndatasets:\n  - {name: clotho, root: /data/clotho}\n")
    with pytest.raises(Permanent, match=r"a Ray cluster \(ray://other:10001\) is given but the engine is beam"):
        engine(config_file=str(config_file), ray_address="ray://other:10001")
    assert engine(config_file=str(config_file), ray_address="ray://other:10001", engine="ray") == "ray"
    config_file.write_text("out: out/\nengine: {name: beam, ray_address: ray://head:10001}\ndatasets:\n  - {name: clotho, root: /data/clotho}\n")
    with pytest.raises(Permanent, match=r"(?s)mix.yaml.*line 2: engine: .*ray_address \(ray://head:10001\) is a Ray cluster, but the engine named is beam"):
        engine(config_file=str(config_file))


def test_a_shard_bound_is_refused_once_naming_the_option_and_for_a_file_the_file(tmp_path):
    with pytest.raises(Permanent, match=r"^shard_max_bytes must be at least 65536, not 100$"):
        resolve_run(corpora=["clotho=/data/clotho"], out=str(tmp_path / "out"), shard_max_bytes=100)
    config_file = tmp_path / "mix.yaml"
    config_file.write_text("out: out/\nshards: {max_samples: 0}\ndatasets:\n  - {name: clotho, root: /data/clotho}\n")
    with pytest.raises(Permanent, match=r"mix.yaml: shard_max_samples must be at least 1, not 0$"):
        resolve_run(config_file=str(config_file))
    config_file.write_text("out: out/\nshards: {max_samples: 3}\ndatasets:\n  - {name: clotho, root: /data/clotho}\n")
    assert run_config(resolve_run(config_file=str(config_file), shard_max_samples=5)["run"]).shard_max_samples == 5
    with pytest.raises(Permanent, match=r"^shard_max_samples must be at least 1, not -1$"):  # the run's value, not the file's
        resolve_run(config_file=str(config_file), shard_max_samples=-1)


def test_a_run_config_survives_json_and_the_workers_not_given_stay_unset(tmp_path):
    config_file = tmp_path / "mix.yaml"
    config_file.write_text(
        "out: out/\ntasks: {scene: {repeat: 2}}\nctc_models: {zh: zh.pt}\n"
        "datasets:\n  - {name: covost2, root: c, splits: [train], roots: {common_voice: cv}}\n"
    )
    run = resolve_run(config_file=str(config_file))["run"]
    config = run_config(json.loads(json.dumps(run)))
    assert config == run_config(run) and config.datasets[0].splits == ("train",)
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert engine_options(run).workers is None  # the engine's default: see the next test


def test_an_engine_given_no_workers_starts_one_per_core_at_most_one_per_pending_unit(tmp_path, monkeypatch):
    import pipelines.runners as runners

    started = []
    monkeypatch.setattr(runners, "_import_engine", lambda engine: lambda make, units, workers, options, label: started.append((units, workers, options)))
    monkeypatch.setattr(runners.os, "cpu_count", lambda: 4)
    config = RunConfig(datasets=(), out=str(tmp_path))
    units = [f"train.{i:05d}" for i in range(6)]
    runners.run_units(config, EngineOptions("beam"), units[:3])
    runners.run_units(config, EngineOptions("beam"), units)
    runners.run_units(config, EngineOptions("ray", workers=8, ray_address="ray://head:10001"), units)
    assert [workers for _, workers, _ in started] == [3, 4, 8]
    options = started[-1][2]
    assert {k: options[k] for k in ("beam_args", "ray_address", "remote", "out")} == {
        "beam_args": [], "ray_address": "ray://head:10001", "remote": None, "out": str(tmp_path)}
    assert callable(options["finished"])  # told each unit done (the progress of units run on other nodes)


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "give corpora as NAME=ROOT"),
        ({"corpora": ["librispeech=/data"]}, "give the output folder"),
        ({"corpora": ["librispeech"], "out": "/o"}, "expected NAME=ROOT"),
        ({"corpora": ["a=/x", "a=/y"], "out": "/o"}, "must be unique"),
        ({"corpora": ["a=/x"], "out": "/o", "only": ["b"]}, "corpora b are not in this run; it has: a"),
        ({"corpora": ["a=/x"], "out": "/o", "engine": "spark"}, "unknown engine 'spark'"),
        ({"corpora": ["a=/x"], "config_file": "/c.yaml"}, "not both"),
    ],
)
def test_params_a_run_cannot_use_are_refused_with_the_reason(params, message):
    with pytest.raises(Permanent, match=message):
        resolve_run(**params)


def test_a_broken_schema_fails_its_corpus_and_the_outcome_names_step_and_error(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text((PROJECT / "schemas" / "librispeech.yaml").read_text().replace("speaker: \"1089\"", "speaker: \"9999\""))
    corpus = tmp_path / "LibriSpeech"
    corpus.mkdir()
    run = resolve_run(corpora=[f"librispeech:{broken}={corpus}", f"clotho={tmp_path / 'missing'}"], out=str(tmp_path / "out"))["run"]
    with pytest.raises(Permanent, match=r"worked example\(s\) do not hold: .*speaker is '1089', expected '9999'"):
        check_corpus(run, "librispeech")
    with pytest.raises(Permanent, match=r"corpus root .*missing for corpus 'clotho' is not a directory"):
        check_corpus(run, "clotho")
    status = json.loads(Path(outputs.corpus_status_path(str(tmp_path / "out"), "librispeech")).read_text())
    assert status["validate"]["state"] == "failed" and "9999" in status["validate"]["error"]
    with pytest.raises(Permanent, match=r"2 corpus\(es\) failed .*librispeech \(validate\): Permanent: .*9999.*clotho \(validate\)"):
        corpora_outcome(run, [])
