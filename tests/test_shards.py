"""Shard writing: deterministic bytes, bounds, atomic publication, read back by webdataset."""
import json
import os
import tarfile

import numpy as np
import webdataset as wds

from pipelines.core.audio import Clip, encode_flac
from pipelines.core.record import Record
from pipelines.prepare.shards import ShardWriter
from pipelines.prepare.stages import Sample
from tag_builder.tasks import get_task
from tag_builder.views import build_view


def _sample(i: int, seconds: float = 1.0) -> Sample:
    record = Record(dataset="toy", split="train", role="train", key=f"toy-{i:03d}", audio=f"{i}.wav", language="en", text_form="spoken", text=f"word {i}")
    clip = Clip((np.sin(np.arange(int(16000 * seconds)) * (0.01 + i / 1000)) * 8000).astype(np.int16))
    view = build_view(get_task("asr"), record.text, audio_language="en", text_language="en", text_form="spoken")
    return Sample(record, (view,), encode_flac(clip), len(clip.samples))


def _write(out, samples, **bounds):
    writer = ShardWriter(str(out), "train.00007", **{"max_bytes": 10**9, "max_samples": 1000, **bounds})
    for s in samples:
        writer.write(s)
    return writer.close()


def test_rolls_over_by_count_without_dropping(tmp_path):
    shards = _write(tmp_path, [_sample(i) for i in range(7)], max_samples=3)
    assert [s.path for s in shards] == ["train/shard-00007-000.tar", "train/shard-00007-001.tar", "train/shard-00007-002.tar"]
    assert [s.samples for s in shards] == [3, 3, 1]  # the last one may be smaller; nothing dropped


def test_rolls_over_by_bytes(tmp_path):
    samples = [_sample(i) for i in range(6)]
    one = len(samples[0].flac)
    shards = _write(tmp_path, samples, max_bytes=int(2.5 * (one + 4096)))
    assert sum(s.samples for s in shards) == 6 and len(shards) >= 3
    for s in shards:
        assert os.path.getsize(tmp_path / s.path) == s.bytes


def test_same_samples_same_bytes_and_fixed_member_metadata(tmp_path):
    a = _write(tmp_path / "a", [_sample(i) for i in range(4)])
    b = _write(tmp_path / "b", [_sample(i) for i in range(4)])
    assert (tmp_path / "a" / a[0].path).read_bytes() == (tmp_path / "b" / b[0].path).read_bytes()
    assert a[0].sha256 == b[0].sha256
    with tarfile.open(tmp_path / "a" / a[0].path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members[:2]] == ["toy-000.flac", "toy-000.json"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {(0, 0, 0, "", 0o644)}


def test_shard_bytes_are_what_tarfile_writes_for_the_same_members(tmp_path):
    """The writer streams headers and data itself; the result is byte for byte Python's tarfile
    (PAX format) for the same members, long and non-ASCII names included, and its sha256 is the file's."""
    import hashlib
    import io

    from pipelines.prepare.shards import _member

    samples = [_sample(i) for i in range(3)]
    long_key = "toy-" + "x" * 120  # a name past the 100 bytes of a ustar header: a PAX header
    samples.append(Sample(samples[0].record.replace(key=long_key), samples[0].views, samples[0].flac, samples[0].frames))
    samples.append(Sample(samples[1].record.replace(key="toy-äöü"), samples[1].views, samples[1].flac, samples[1].frames))
    [shard] = _write(tmp_path, samples)
    data = (tmp_path / shard.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == shard.sha256 and len(data) == shard.bytes
    reference = io.BytesIO()
    with tarfile.open(fileobj=reference, mode="w", format=tarfile.PAX_FORMAT) as tar:
        with tarfile.open(tmp_path / shard.path) as written:
            for member in written.getmembers():
                payload = written.extractfile(member).read()
                tar.addfile(_member(member.name, len(payload)), io.BytesIO(payload))
    assert data == reference.getvalue()
    assert [m for m in tarfile.open(tmp_path / shard.path).getnames() if "x" * 120 in m or "äöü" in m] == [
        f"{long_key}.flac", f"{long_key}.json", "toy-äöü.flac", "toy-äöü.json"]


def test_no_partial_shard_under_a_final_name(tmp_path):
    writer = ShardWriter(str(tmp_path), "train.00000", 10**9, 1000)
    writer.write(_sample(0))
    listing = os.listdir(tmp_path / "train")
    assert listing == [".shard-00000-000.tar.partial"]
    writer.abort()
    assert os.listdir(tmp_path / "train") == []


def test_webdataset_reads_the_shard(tmp_path):
    [shard] = _write(tmp_path, [_sample(i, seconds=0.5 + i / 10) for i in range(3)])
    rows = list(wds.WebDataset(str(tmp_path / shard.path), shardshuffle=False))
    assert [r["__key__"] for r in rows] == ["toy-000", "toy-001", "toy-002"]
    meta = json.loads(rows[1]["json"])
    assert meta["duration"] == 0.6 and meta["tasks"][0]["target"] == "word 1"
    assert meta["tasks"][0]["prompt"] == "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>"


def test_member_headers_are_tarfiles_own_bytes():
    """``member_header`` fills a ustar template for short ASCII names and sizes below 8 GiB, and asks
    ``tarfile`` for the rest: every header is the one ``TarInfo.tobuf`` (PAX format) gives, at each
    boundary (name of 100/101 bytes, size 8**11 - 1 / 8**11) and for non-ASCII or undecodable names."""
    import random

    from pipelines.prepare.shards import TAR_BLOCK, _member, _member_bytes, member_header

    rng = random.Random(7)
    names = ["", "a", "x" * 99, "x" * 100, "x" * 101, "toy-äöü.json", "a/b/c.flac", "\udcff.flac", "k" * 100 + ".flac"]
    names += ["".join(rng.choice("abcdefghij-_./0123") for _ in range(rng.randint(1, 110))) for _ in range(200)]
    sizes = [0, 1, 511, 512, 123_456, 8**11 - 1, 8**11, 10**12]
    for name in names:
        for size in sizes + [rng.randint(0, 10**9)]:
            header = member_header(name, size)
            assert header == _member(name, size).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"), (name, size)
            # the shard writer's size estimate (it decides when a shard rolls over) counts the same header
            assert _member_bytes(name, size) == len(header) + -(-size // TAR_BLOCK) * TAR_BLOCK, (name, size)
