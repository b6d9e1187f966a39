"""Ingest on the engine with S3 on both sides: corpora read from ``s3://`` roots, the output in a bucket
(the moto server behind the fault proxy, tests/s3_server.py), the ingest tasks (several per corpus)
run by Ray's workers, their parts passed through the bucket; manifests and shards are those of a run
on the local engine. In this process, so that the size of a task can be made small
(``tasks.TASK_BYTES``); the multi-node cluster is tests/test_ray_cluster.py (which plans on the driver).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fixtures import speech_corpora as F
from pipelines.core.config import DatasetSpec, EngineOptions, RunConfig
from pipelines.finalize.collect import finalize
from pipelines.ingest import tasks as tasks_module
from pipelines.ingest.manifest import start_dataset
from pipelines.plan.planner import make_plan
from pipelines.runners import engine_session, ingest_executor, run_units
from s3_server import s3_env, upload_tree
from s3_server import client as s3_client

pytestmark = pytest.mark.slow

#: a table layout (Common Voice's TSV files) and a lines layout (TED-LIUM's STM files)
WRITERS = {"common_voice": F.write_common_voice, "tedlium3": F.write_tedlium3}


@pytest.fixture(scope="module")
def remote_corpora(s3, tmp_path_factory) -> dict[str, str]:
    client = s3_client(s3.url)
    client.create_bucket(Bucket="corpora")
    roots = {}
    for name, write in WRITERS.items():
        root = tmp_path_factory.mktemp(name) / name
        write(str(root))
        roots[name] = upload_tree(client, root, "corpora", name)
    return roots


def _objects(s3, prefix: str, suffix: str) -> dict[str, bytes]:
    client, found = s3_client(s3.url), {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="runs", Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(suffix):
                found[item["Key"][len(prefix):]] = client.get_object(Bucket="runs", Key=item["Key"])["Body"].read()
    return found


def test_ingest_tasks_of_s3_corpora_run_on_ray_into_an_s3_output_give_a_local_run_s_bytes(s3, remote_corpora, tmp_path, monkeypatch):
    for key, value in s3_env(s3.url).items():  # before Ray starts: its workers inherit them
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AUDIOPREP_CACHE", str(tmp_path / "cache"))
    s3_client(s3.url).create_bucket(Bucket="runs")
    specs = tuple(DatasetSpec(name, name, root) for name, root in sorted(remote_corpora.items()))

    monkeypatch.setattr(tasks_module, "TASK_BYTES", 1)  # a task per metadata file
    for spec in specs:
        assert len(start_dataset(spec, str(tmp_path / "listed")).tasks) > 1, spec.name
    here = RunConfig(datasets=specs, out="s3://runs/here/", work_dir=str(tmp_path / "here"), shard_max_samples=2)
    run_units(here, EngineOptions("local", 1), make_plan(here).units)  # the tasks in this process
    assert finalize(here.local_out, here.remote)["balanced"]
    on_ray = RunConfig(datasets=specs, out="s3://runs/ray/", work_dir=str(tmp_path / "ray"), shard_max_samples=2)
    options = EngineOptions("ray", 2)
    execute, parts = ingest_executor(on_ray, options), {}

    def run_tasks(tasks: list[str]) -> None:
        """The tasks on Ray; then the parts' completion records the workers pushed, before the merge removes them."""
        execute(tasks)
        parts.update({key: json.loads(data) for key, data in _objects(s3, "ray/_work/ingest/", ".done.json").items()
                      if "/part-" in key})

    with engine_session(on_ray, options):
        run_units(on_ray, options, make_plan(on_ray, run_tasks=run_tasks).units)
    assert finalize(on_ray.local_out, on_ray.remote)["balanced"]

    # several tasks per corpus, none run here; their parts gone from the bucket once merged
    for name in WRITERS:
        assert sum(key.startswith(f"{name}/") for key in parts) > 1, sorted(parts)
    assert os.getpid() not in {record["worker"]["pid"] for record in parts.values()}
    left = _objects(s3, "ray/_work/ingest/", "")
    assert left and not [key for key in left if "/" in key], sorted(left)  # each dataset's record, none of its task folder

    manifests = _objects(s3, "here/manifests/", ".parquet")
    assert sorted(manifests) == ["common_voice.parquet", "tedlium3.parquet"]
    assert _objects(s3, "ray/manifests/", ".parquet") == manifests
    assert _objects(s3, "ray/manifests/", ".drops.jsonl") == _objects(s3, "here/manifests/", ".drops.jsonl")
    shards = _objects(s3, "here/", ".tar")
    assert len(shards) > 2 and _objects(s3, "ray/", ".tar") == shards
    assert not list(Path(on_ray.local_out).rglob("part-*")), "parts left after the merge"
