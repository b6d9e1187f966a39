"""S3 output against a real S3-compatible server on 127.0.0.1 (moto server mode), through a proxy that
injects 503s, dropped connections and failed multipart parts."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.demo import write_clotho, write_cochlscene, write_librispeech

from s3_server import MotoServer, is_upload_part, s3_env, upload_tree
from s3_server import client as s3_client

ARGS = ("--shard-max-samples", "400", "--workers", "2")
pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("s3corpora")
    roots = {"librispeech": root / "LibriSpeech", "clotho": root / "clotho", "cochlscene": root / "CochlScene"}
    write_librispeech(str(roots["librispeech"]))
    write_clotho(str(roots["clotho"]))
    write_cochlscene(str(roots["cochlscene"]), {"Train": 15, "Test": 1})  # a training shard of ~20 MB: multipart
    return {k: str(v) for k, v in roots.items()}


def _run(corpora, out: str, env: dict, work_dir: Path | None = None, engine: str = "local", failpoint: str = "") -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("audioprep")), "run", *[f"--dataset={n}={r}" for n, r in corpora.items()], "--out", out, "--engine", engine, *ARGS]
    if work_dir is not None:
        command += ["--work-dir", str(work_dir)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, start_new_session=True,
        env={**os.environ, **env, "AUDIOPREP_FAILPOINT": failpoint},
    )


def _objects(endpoint: str, bucket: str, prefix: str) -> dict[str, bytes]:
    client = s3_client(endpoint)
    objects = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            objects[item["Key"][len(prefix):]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return objects


def _published(objects: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in objects.items() if not k.startswith("_work/") and not k.startswith("manifests/")}


@pytest.fixture(scope="module")
def reference(corpora, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "out"
    result = _run(corpora, str(out), {})
    assert result.returncode == 0, result.stderr
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and not p.relative_to(out).as_posix().startswith(("_work/", "manifests/"))
    }


def _bucket(s3, name: str) -> None:
    s3_client(s3.url).create_bucket(Bucket=name)


def test_output_on_s3_equals_local_output_and_verifies(s3, corpora, reference, tmp_path):
    _bucket(s3, "clean")
    work = tmp_path / "work"
    result = _run(corpora, "s3://clean/runs/one/", s3_env(s3.url), work)
    assert result.returncode == 0, result.stderr
    objects = _objects(s3.url, "clean", "runs/one/")
    assert _published(objects) == reference
    big = max((k for k in objects if k.endswith(".tar")), key=lambda k: len(objects[k]))
    assert len(objects[big]) > 10 * 1024 * 1024  # went up in several parts
    assert "_work/plan.json" in objects and any(k.startswith("_work/done/") for k in objects)
    assert not list(work.rglob("*.tar"))  # local copies are dropped once published
    check = subprocess.run([str(Path(sys.executable).with_name("audioprep")), "verify", "s3://clean/runs/one/"], capture_output=True, text=True, env={**os.environ, **s3_env(s3.url)})
    assert check.returncode == 0, check.stderr
    assert "OK" in check.stderr


def test_injected_faults_are_retried_without_loss_or_duplicates(s3, corpora, reference, tmp_path):
    _bucket(s3, "faulty")
    s3.injected.clear()
    s3.faults[:] = [
        [is_upload_part, "503"],
        [lambda m, p: is_upload_part(m, p) and "partNumber=3" in p, "cut"],
        [lambda m, p: m == "PUT" and "/_work/done/" in p, "503"],
        [lambda m, p: m == "HEAD" and p.endswith(".tar"), "cut"],
        [lambda m, p: m == "POST" and "uploadId=" in p, "503"],  # CompleteMultipartUpload
    ]
    result = _run(corpora, "s3://faulty/run/", s3_env(s3.url), tmp_path / "work")
    assert result.returncode == 0, result.stderr
    assert len(s3.injected) == 5, s3.injected
    assert _published(_objects(s3.url, "faulty", "run/")) == reference


def test_a_permanent_failure_stops_clearly_and_publishes_nothing_partial(s3, corpora, reference, tmp_path):
    _bucket(s3, "broken")
    s3.faults[:] = [[is_upload_part, "500!"]]
    try:
        result = _run(corpora, "s3://broken/run/", s3_env(s3.url), tmp_path / "work")
    finally:
        s3.faults.clear()
    assert result.returncode == 1
    assert "upload of" in result.stderr and "failed" in result.stderr and "rerun" in result.stderr, result.stderr[-1500:]
    objects = _objects(s3.url, "broken", "run/")
    assert "summary.json" not in objects
    for key, data in objects.items():
        if key.endswith(".tar"):
            assert data == reference[key]  # whatever is visible is complete
    client = s3_client(s3.url)
    assert client.list_multipart_uploads(Bucket="broken").get("Uploads", []) == []  # aborted, not left behind
    again = _run(corpora, "s3://broken/run/", s3_env(s3.url), tmp_path / "work")
    assert again.returncode == 0, again.stderr
    assert _published(_objects(s3.url, "broken", "run/")) == reference


def test_resume_from_the_bucket_alone_after_sigkill(s3, corpora, reference, tmp_path):
    _bucket(s3, "resume")
    crashed = _run(corpora, "s3://resume/run/", s3_env(s3.url), tmp_path / "first-machine", failpoint="unit_done:2")
    assert crashed.returncode == -signal.SIGKILL
    resumed = _run(corpora, "s3://resume/run/", s3_env(s3.url), tmp_path / "second-machine", engine="ray")
    assert resumed.returncode == 0, resumed.stderr
    assert _published(_objects(s3.url, "resume", "run/")) == reference


def test_a_different_object_under_a_shard_name_is_never_overwritten(s3, corpora, reference, tmp_path):
    _bucket(s3, "taken")
    shard = next(k for k in reference if k.startswith("train/") and k.endswith(".tar"))
    client = s3_client(s3.url)
    client.put_object(Bucket="taken", Key=f"run/{shard}", Body=b"someone else's data")
    result = _run(corpora, "s3://taken/run/", s3_env(s3.url), tmp_path / "work")
    assert result.returncode == 1 and "refusing to overwrite" in result.stderr
    assert client.get_object(Bucket="taken", Key=f"run/{shard}")["Body"].read() == b"someone else's data"


def test_corpora_read_from_s3_roots_give_the_same_shards(s3, corpora, reference, tmp_path):
    client = s3_client(s3.url)
    client.create_bucket(Bucket="corpora")
    remote = {name: upload_tree(client, root, "corpora", name) for name, root in corpora.items()}
    out = tmp_path / "out"
    env = {**s3_env(s3.url), "AUDIOPREP_CACHE": str(tmp_path / "cache")}
    result = _run(remote, str(out), env)
    assert result.returncode == 0, result.stderr
    local = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.tar")}
    assert local == {k: v for k, v in reference.items() if k.endswith(".tar")}
    assert json.loads((out / "summary.json").read_text())["datasets"] == json.loads(reference["summary.json"])["datasets"]
    cached = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.suffix in (".wav", ".flac")]
    assert cached and all(p.stat().st_size == 0 for p in cached)  # audio is never copied at ingest


def test_a_stale_local_cache_is_discarded_when_the_bucket_does_not_back_it(corpora, tmp_path):
    """A run into a bucket, then the same bucket name on a fresh server at the same endpoint: the
    local work cache left by the first run is not trusted; the second run redoes everything there."""
    clotho = {"clotho": corpora["clotho"]}
    cache = tmp_path / "cache"
    first = MotoServer()
    try:
        _bucket(first, "fresh")
        env = {**s3_env(first.url), "AUDIOPREP_CACHE": str(cache)}
        result = _run(clotho, "s3://fresh/run/", env)
        assert result.returncode == 0, result.stderr
        before = _published(_objects(first.url, "fresh", "run/"))
    finally:
        first.stop()
    assert list(cache.rglob("plan.json"))  # the cache the next run finds
    second = MotoServer(first.port)
    try:
        _bucket(second, "fresh")
        again = _run(clotho, "s3://fresh/run/", env)
        assert again.returncode == 0, again.stderr
        assert _published(_objects(second.url, "fresh", "run/")) == before  # every shard is in this bucket
        check = subprocess.run([str(Path(sys.executable).with_name("audioprep")), "verify", "s3://fresh/run/"],
                               capture_output=True, text=True, env={**os.environ, **env})
        assert check.returncode == 0, check.stdout + check.stderr
        message = " ".join(again.stderr.split())
        assert "discarded the local work cache" in message and "does not hold its plan" in message, message
    finally:
        second.stop()


def test_the_endpoint_is_part_of_the_work_cache_identity(monkeypatch, tmp_path):
    from pipelines.core import remote

    monkeypatch.setenv("AUDIOPREP_CACHE", str(tmp_path))
    folders = []
    for endpoint in ("http://127.0.0.1:9000", "http://127.0.0.1:9001", "https://minio.example.org"):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        remote._client.cache_clear()
        folders.append(remote.default_workdir("s3://bucket/run/"))
    remote._client.cache_clear()
    assert len(set(folders)) == 3 and all(f.endswith("bucket__run") for f in folders)
    assert "127.0.0.1_9000-" in folders[0] and "minio.example.org-" in folders[2]
