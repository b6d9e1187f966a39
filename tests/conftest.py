"""Shared fixtures: corpora generated in their genuine layouts, and finished runs on each engine."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.core.config import DatasetSpec, EngineOptions, RunConfig
from pipelines.demo import write_demo
from pipelines.finalize.collect import finalize
from pipelines.plan.planner import make_plan
from pipelines.runners import run_units

PROJECT = Path(__file__).resolve().parents[1]
SHARED_CORPORA = PROJECT.parent / "shared" / "corpora"


def shared_corpus(*parts: str) -> Path:
    path = SHARED_CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real corpus sample {path} is absent (../shared/corpora is not laid out here)")
    return path


def run_pipeline(datasets: dict[str, str], out: Path, engine: str = "local", workers: int = 2, **config) -> dict:
    """Plan, run and finalize like `audioprep run`, in this process."""
    specs = []
    for n, r in datasets.items():
        parsed = DatasetSpec.parse(f"x={r}")  # a root may carry extra roots: "ROOT,common_voice=PATH"
        name, _, schema = n.partition(":")  # "NAME" or "NAME:SCHEMA_FILE", as on the command line
        specs.append(DatasetSpec(name=name, schema=schema or name, root=parsed.root, roots=parsed.roots))
    specs = tuple(specs)
    run_config = RunConfig(datasets=specs, out=str(out), **config)
    plan = make_plan(run_config)
    run_units(run_config, EngineOptions(engine, workers), plan.units)
    return finalize(str(out))


def audioprep(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed console command, as a user runs it."""
    command = [str(Path(sys.executable).with_name("audioprep")), *args]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


#: small shards and two workers: several units per group, so crashes land between units and within them
CRASH_ARGS = ("--shard-max-samples", "4", "--workers", "2")


def run_in_own_session(corpora: dict[str, str], out: Path, engine: str, env: dict | None = None, preexec=None,
                       engine_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`audioprep run` over ``corpora`` in a session of its own: a failpoint kills every process of the
    run's session (``AUDIOPREP_FAILPOINT`` in ``env``; none by default), never pytest. ``engine_args``
    go after ``--`` (Beam's pipeline options)."""
    command = [str(Path(sys.executable).with_name("audioprep")), "run", *[f"--dataset={n}={r}" for n, r in corpora.items()],
               "--out", str(out), "--engine", engine, *CRASH_ARGS, *(("--", *engine_args) if engine_args else ())]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, start_new_session=True,
        env={**os.environ, "AUDIOPREP_FAILPOINT": "", "COLUMNS": "400", **(env or {})}, preexec_fn=preexec,
    )


def published(out: Path) -> dict[str, bytes]:
    """What a reader can see: every file but the _work folder and temporary dot-files."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.relative_to(out).as_posix().startswith("_work/") and not p.name.startswith(".")
    }


@pytest.fixture(scope="session")
def demo_corpora(tmp_path_factory) -> dict[str, str]:
    return write_demo(str(tmp_path_factory.mktemp("demo")))


@pytest.fixture(scope="session")
def reference(demo_corpora, tmp_path_factory) -> dict[str, bytes]:
    """What an undisturbed `audioprep run` of the demo corpora with ``CRASH_ARGS`` publishes: the
    bytes every crashed, killed or resumed run must end up with."""
    out = tmp_path_factory.mktemp("reference") / "out"
    result = run_in_own_session(demo_corpora, out, "local")
    assert result.returncode == 0, result.stderr
    return published(out)


def toy_schema_text(layout: str, record: str, name: str = "toy", extra: str = "") -> str:
    """A small English speech schema (train and test splits, ASR) around a layout and a record mapping."""
    return f"""
name: {name}
description: {name} corpus written by a test
license: CC0
language: en
text_form: spoken
splits: {{train: train, test: eval}}
layout: {layout}
record: {record}
tasks: [{{task: asr}}]
{extra}
"""


def caption_schema_text(name: str, record: str, description: str = "toy clips written by a test") -> str:
    """A small sound-captioning schema (no language; train and test splits) of a ``clips.csv`` table
    and a record mapping (a YAML flow mapping)."""
    return f"""
name: {name}
description: {description}
license: CC0
language: null
splits: {{train: train, test: eval}}
layout: {{kind: table, files: clips.csv}}
record: {record}
tasks: [{{task: caption_audiocaps}}]
"""


@pytest.fixture(scope="session")
def local_run(demo_corpora, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    run_pipeline(demo_corpora, out, engine="local", shard_max_samples=10)
    return out


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on 127.0.0.1 behind the fault-injecting proxy (tests/s3_server.py), per module."""
    from s3_server import FaultProxy, MotoServer

    server = MotoServer()
    proxy = FaultProxy(server.url)
    yield proxy
    proxy.stop()
    server.stop()


def pytest_collection_modifyitems(session, config, items):
    """The multi-node Ray cluster's tests run first: once a local Ray instance has run in this process,
    Ray keeps token authentication on for it (``RAY_AUTH_MODE=token`` and its in-process state), and a
    cluster started afterwards from this process gives its worker nodes homes of their own, where they
    find no token and never register with the head."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith("tests/test_ray_cluster.py") else 1)
