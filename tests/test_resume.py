"""Exactly-once output: SIGKILL the whole run at several points, rerun, compare with an uninterrupted run.

The kill is a real SIGKILL of every process of the run (driver, Ray or Beam workers), triggered at
precise points through ``AUDIOPREP_FAILPOINT`` (pipelines/core/failpoints.py).
"""
import signal
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import audioprep, published, run_in_own_session
from pipelines.core import outputs

def _run(demo_corpora, out: Path, engine: str, failpoint: str | None = None) -> subprocess.CompletedProcess:
    return run_in_own_session(demo_corpora, out, engine, {"AUDIOPREP_FAILPOINT": failpoint or ""})


def _crash_and_resume(demo_corpora, reference, out: Path, engine: str, failpoint: str) -> None:
    crashed = _run(demo_corpora, out, engine, failpoint)
    assert crashed.returncode == -signal.SIGKILL, f"the run was not killed at {failpoint}: {crashed.returncode}\n{crashed.stderr[-2000:]}"
    assert not (out / "summary.json").exists()
    for path, data in published(out).items():
        if path.endswith(".tar"):  # a shard under its final name is always complete
            assert data == reference[path], f"{path} visible after the crash but not complete"
            with tarfile.open(out / path) as tar:
                tar.getmembers()
    finished = _completion_records(out)
    if failpoint.startswith("unit_done"):
        assert finished, "the run was killed before any unit finished"
    resumed = _run(demo_corpora, out, engine)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert published(out) == reference
    # the units finished before the kill were skipped: their completion records are the same files, untouched
    assert {name: _completion_records(out)[name] for name in finished} == finished
    assert audioprep("verify", str(out)).returncode == 0


def _completion_records(out: Path) -> dict[str, tuple[int, int]]:
    """Each unit's completion record with its inode and modification time (what rerunning the unit changes)."""
    folder = Path(outputs.unit_done_path(str(out), "x")).parent
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.json"))}


@pytest.mark.parametrize("failpoint", ["ingest_task_done:2", "dataset_ingested:2", "after_plan:1", "sample_written:6", "shard_published:2", "unit_done:3", "before_index:1"])
def test_local_engine_resumes_byte_identical(demo_corpora, reference, tmp_path, failpoint):
    _crash_and_resume(demo_corpora, reference, tmp_path / "out", "local", failpoint)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["beam", "ray"])
@pytest.mark.parametrize("failpoint", ["sample_written:3", "unit_done:2"])
def test_engines_resume_byte_identical_after_sigkill(demo_corpora, reference, tmp_path, engine, failpoint):
    _crash_and_resume(demo_corpora, reference, tmp_path / "out", engine, failpoint)


def test_a_second_crash_during_the_resume_is_survived_too(demo_corpora, reference, tmp_path):
    out = tmp_path / "out"
    assert _run(demo_corpora, out, "local", "unit_done:2").returncode == -signal.SIGKILL
    assert _run(demo_corpora, out, "local", "sample_written:4").returncode == -signal.SIGKILL
    assert _run(demo_corpora, out, "local").returncode == 0
    assert published(out) == reference


def test_a_corpus_ingest_process_that_dies_stops_the_plan_with_a_message_and_the_rerun_is_identical(demo_corpora, reference, tmp_path):
    """Ingest tasks run side by side in processes on Beam's local runner (a task per corpus here):
    when one of those processes is killed, the run stops naming the way out, and the rerun completes
    byte-identically."""
    out = tmp_path / "out"
    env = {"AUDIOPREP_FAILPOINT": "ingest_task_done:1:process", "AUDIOPREP_FAILPOINT_ONCE": str(tmp_path / "fired")}
    failed = run_in_own_session(demo_corpora, out, "beam", env)
    assert failed.returncode == 2 and (tmp_path / "fired").exists(), failed.stdout[-2000:] + failed.stderr[-2000:]
    said = " ".join((failed.stdout + failed.stderr).split())  # the message may be wrapped to the terminal
    assert "its process died" in said and "rerun with --workers 1" in said
    assert _run(demo_corpora, out, "beam").returncode == 0
    assert published(out) == reference
