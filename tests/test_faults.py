"""Faults: a worker process killed mid-unit, a disk that fills up or a file size limit while a shard is
being written. Nothing is lost and nothing truncated is ever published under a final name.

Worker kills use ``AUDIOPREP_FAILPOINT=name:N:process`` (pipelines/core/failpoints.py): a real SIGKILL of
the one worker process that reaches the point, once (``AUDIOPREP_FAILPOINT_ONCE``), never the driver.
Disk full is a real 3 MiB tmpfs mounted for the test (root can mount; skipped, saying so, elsewhere);
the file size limit is a real RLIMIT_FSIZE on the run's process (EFBIG), which needs no privilege.
"""
import re
import resource
import signal
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import audioprep, published, run_in_own_session

def _partials(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.name.endswith(".partial")]


def _no_truncated_shard(out: Path, reference: dict[str, bytes], killed: bool = False) -> None:
    """Every shard under a final name is complete (the reference's bytes). A process that could clean
    up removed its partial file; a SIGKILLed one leaves it under its temporary name (the rerun rewrites it)."""
    for path in out.rglob("*.tar"):
        rel = path.relative_to(out).as_posix()
        assert path.read_bytes() == reference[rel], f"{rel} is published but not complete"
        with tarfile.open(path) as tar:
            tar.getmembers()
    if not killed:
        assert not _partials(out)


# -- a worker process dies ------------------------------------------------------------------------


@pytest.mark.slow
def test_ray_retries_a_killed_worker_and_the_output_is_byte_identical(demo_corpora, reference, tmp_path):
    marker = tmp_path / "killed"
    env = {"AUDIOPREP_FAILPOINT": "sample_written:3:process", "AUDIOPREP_FAILPOINT_ONCE": str(marker)}
    result = run_in_own_session(demo_corpora, tmp_path / "out", "ray", env)
    assert marker.exists(), "no worker was killed: the failpoint never fired"
    assert result.returncode == 0, result.stderr[-3000:]
    assert "worker died or was killed" in result.stdout + result.stderr  # Ray saw the death and retried the unit
    assert published(tmp_path / "out") == reference
    assert audioprep("verify", str(tmp_path / "out")).returncode == 0


@pytest.mark.slow
def test_beam_stops_at_once_when_a_worker_dies_and_the_rerun_is_byte_identical(demo_corpora, reference, tmp_path):
    """With a process per worker (a running mode the user chooses; the default runs workers as
    threads), the local FnApiRunner does not retry a bundle whose worker process died (it would wait
    forever): the run exits with status 75 saying so; rerunning resumes. Distributed Beam runners
    retry bundles."""
    out, marker = tmp_path / "out", tmp_path / "killed"
    env = {"AUDIOPREP_FAILPOINT": "sample_written:3:process", "AUDIOPREP_FAILPOINT_ONCE": str(marker)}
    crashed = run_in_own_session(demo_corpora, out, "beam", env, engine_args=("--direct_running_mode=multi_processing",))
    assert marker.exists()
    assert crashed.returncode == 75, crashed.stderr[-3000:]
    assert "a Beam worker process died" in crashed.stderr and "rerun the same command to resume" in crashed.stderr
    assert not (out / "summary.json").exists()
    _no_truncated_shard(out, reference, killed=True)
    resumed = run_in_own_session(demo_corpora, out, "beam")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert published(out) == reference
    assert not _partials(out)


# -- storage fails under a shard ------------------------------------------------------------------


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_file_size_limit_mid_shard_publishes_nothing_truncated_and_says_so(demo_corpora, reference, tmp_path):
    out = tmp_path / "out"
    failed = run_in_own_session(demo_corpora, out, "local", preexec=_file_size_limit(1 << 20))  # shards grow past 1 MiB
    message = _words(failed.stdout + failed.stderr)
    assert failed.returncode == 1, message[-3000:]
    assert re.search(r"writing shard \S+/shard-\d{5}-\d{3}\.tar failed: the file size limit was reached", message), message[-3000:]
    assert "its partial file was removed and no shard was published under that name" in message
    assert not (out / "summary.json").exists()
    _no_truncated_shard(out, reference)
    resumed = run_in_own_session(demo_corpora, out, "local")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert published(out) == reference


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MiB filesystem (tmpfs); grown afterwards with a remount, as an operator would."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); the RLIMIT_FSIZE test covers the same path")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_mid_shard_publishes_nothing_truncated_and_says_so(demo_corpora, reference, small_disk):
    out = small_disk / "out"
    failed = run_in_own_session(demo_corpora, out, "local")
    message = _words(failed.stdout + failed.stderr)
    assert failed.returncode == 1, message[-3000:]
    assert re.search(r"writing shard \S+/shard-\d{5}-\d{3}\.tar failed: the disk is full \(No space left on device\)", message), message[-3000:]
    assert "no shard was published under that name" in message
    _no_truncated_shard(out, reference)
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    resumed = run_in_own_session(demo_corpora, out, "local")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert published(out) == reference


def test_a_stream_that_fails_while_its_json_lines_are_written_leaves_nothing(tmp_path):
    """Ingest streams its drops into their file while it reads the corpus: when the reading fails,
    neither the file nor its temporary is left behind (a rerun starts clean)."""
    from pipelines.core.atomic import write_jsonl

    def rows():
        yield {"reason": "first"}
        raise FileNotFoundError("the corpus went away")

    with pytest.raises(FileNotFoundError, match="went away"):
        write_jsonl(str(tmp_path / "drops.jsonl"), rows())
    assert list(tmp_path.iterdir()) == []
    assert write_jsonl(str(tmp_path / "drops.jsonl"), ({"n": n} for n in range(3))) == 3
    assert (tmp_path / "drops.jsonl").read_text().splitlines() == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
