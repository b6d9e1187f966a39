"""Clips of an s3:// corpus fetched ahead (``core/sources.Prefetch``) against the moto server on
127.0.0.1 behind the fault proxy: the same bytes, bounded look-ahead, files let go, failed fetches
done again; and a whole run from a bucket with latency and faults giving a local run's shards."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pipelines.core import remote, sources
from pipelines.demo import write_clotho, write_librispeech

from s3_server import s3_env, upload_tree
from s3_server import client as s3_client



@pytest.fixture
def clips(s3, tmp_path, monkeypatch):
    """Twelve objects of different sizes in a bucket; the project's S3 client pointed at the proxy;
    temporary files made in a folder of this test's own."""
    for name, value in s3_env(s3.url).items():
        monkeypatch.setenv(name, value)
    remote._client.cache_clear()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    client = s3_client(s3.url)
    client.create_bucket(Bucket="clips")
    data = {f"s3://clips/c{i:02d}.wav": os.urandom(1000 * (i + 1)) for i in range(12)}
    for uri, payload in data.items():
        client.put_object(Bucket="clips", Key=uri.rsplit("/", 1)[1], Body=payload)
    yield data
    remote._client.cache_clear()
    s3.latency, s3.faults[:] = 0.0, []


def _read(path: str) -> bytes:
    with sources.local_copy(path) as local:
        assert not sources.is_remote(local)
        return Path(local).read_bytes()


def test_clips_fetched_ahead_are_the_objects_and_nothing_is_left_behind(s3, clips, tmp_path):
    paths = [*clips, "/not/remote.wav", next(iter(clips))]  # a local path is skipped; a clip twice is fetched twice
    s3.latency, s3.peak = 0.05, 0
    with sources.Prefetch(paths, threads=3, ahead=4) as prefetch:
        for path in paths[:12]:
            if path.endswith(("c03.wav", "c07.wav")):
                continue  # refused before the audio stage: passed over, its file let go
            assert _read(path) == clips[path]
            assert len(prefetch.pending) <= 4
        assert _read(paths[-1]) == clips[paths[-1]]
    assert s3.peak >= 2  # fetched side by side
    assert os.listdir(tmp_path / "tmp") == []


@pytest.mark.parametrize("max_bytes, refilled", [(2500, False), (10**9, True)])
def test_the_clips_and_bytes_ahead_are_bounded(s3, clips, tmp_path, max_bytes, refilled):
    with sources.Prefetch(list(clips), threads=2, ahead=8, max_bytes=max_bytes) as prefetch:
        assert len(prefetch.pending) == 8
        for _, future in prefetch.pending:
            future.result()
        assert prefetch._held() == sum(len(v) for v in list(clips.values())[:8])
        first = next(iter(clips))
        assert _read(first) == clips[first]
        assert len(prefetch.pending) == (8 if refilled else 7)  # past the bound of bytes: nothing more yet
        for path in list(clips)[1:]:
            assert _read(path) == clips[path]
    assert os.listdir(tmp_path / "tmp") == []


def test_a_failed_fetch_ahead_is_done_again_in_turn_and_a_missing_object_is_named_by_its_uri(s3, clips):
    from botocore.exceptions import ClientError

    asked = []
    s3.faults.append([lambda m, p: asked.append(p) and False, "never"])  # counts the requests, answers none
    first = next(iter(clips))
    nowhere = "s3://no-such-bucket/a.wav"  # refused at once (not retried), ahead and again in turn
    with sources.Prefetch([first, nowhere, "s3://clips/gone.wav"], threads=1):
        assert _read(first) == clips[first]
        with pytest.raises(ClientError, match="NoSuchBucket"):
            _read(nowhere)
        with sources.local_copy("s3://clips/gone.wav") as local:
            assert local == "s3://clips/gone.wav"  # audio.load reports the missing file by its URI
    assert sum(p.startswith("/no-such-bucket/a.wav") for p in asked) == 2


ARGS = ("--engine", "local", "--workers", "1", "--shard-max-samples", "20")


def _run(datasets: dict[str, str], out: Path, env: dict) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("audioprep")), "run", *[f"--dataset={n}={r}" for n, r in datasets.items()], "--out", str(out), *ARGS]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env={**os.environ, **env})


@pytest.mark.slow
def test_a_run_from_a_bucket_with_latency_and_faults_gives_the_local_shards(s3, tmp_path):
    roots = {"librispeech": tmp_path / "LibriSpeech", "clotho": tmp_path / "clotho"}
    write_librispeech(str(roots["librispeech"]))
    write_clotho(str(roots["clotho"]))
    local = _run({k: str(v) for k, v in roots.items()}, tmp_path / "local", {})
    assert local.returncode == 0, local.stderr
    client = s3_client(s3.url)
    client.create_bucket(Bucket="corpora")
    for name, root in roots.items():
        upload_tree(client, root, "corpora", name)
    audio = [p for p in roots["librispeech"].rglob("*.flac")]
    faulty = {f"/corpora/librispeech/{p.relative_to(roots['librispeech']).as_posix()}" for p in audio[:3]}
    s3.faults[:] = [[lambda m, p, f=f: m == "GET" and p.split("?")[0] == f, action] for f, action in zip(sorted(faulty), ("503", "cut", "500"))]
    s3.latency, s3.peak, s3.injected[:] = 0.02, 0, []
    env = {**s3_env(s3.url), "AUDIOPREP_CACHE": str(tmp_path / "cache")}
    result = _run({name: f"s3://corpora/{name}/" for name in roots}, tmp_path / "remote", env)
    s3.latency = 0.0
    assert result.returncode == 0, result.stderr
    assert len(s3.injected) == 3 and s3.peak >= 2  # every fault met; the clips fetched side by side
    tars = {p.relative_to(tmp_path / "remote").as_posix(): p.read_bytes() for p in (tmp_path / "remote").rglob("*.tar")}
    assert tars and tars == {p.relative_to(tmp_path / "local").as_posix(): p.read_bytes() for p in (tmp_path / "local").rglob("*.tar")}
    summary = [json.loads((tmp_path / d / "summary.json").read_text())["datasets"] for d in ("local", "remote")]
    assert summary[0] == summary[1]
