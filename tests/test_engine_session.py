"""One engine start per run (pipelines/runners ``engine_session``): `audioprep run --engine ray` runs its
ingest tasks and its units on one Ray instance, started once, and writes the shards of a local run.

What is counted is Ray's own: every start of a local instance makes a session folder under
``$RAY_TMPDIR/ray`` (Ray's environment variable for its temporary root).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import published, run_in_own_session

pytestmark = pytest.mark.slow


@pytest.fixture
def ray_tmpdir():
    # short: Ray's sockets live under it, and a Unix socket's path is at most 107 bytes
    folder = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    yield Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _sessions(ray_tmpdir: Path) -> list[str]:
    return sorted(p.name for p in (ray_tmpdir / "ray").glob("session_*") if p.name != "session_latest" and p.is_dir())


def test_a_ray_run_starts_ray_once_for_its_ingest_tasks_and_its_units(demo_corpora, reference, ray_tmpdir, tmp_path):
    """The first ingest task's worker process is killed as it finishes (a failpoint that fires in
    the process that reaches it, once): the run still succeeds, so the tasks ran in Ray's worker
    processes (Ray restarted the actor and the task found its part done), not in the driver."""
    out = tmp_path / "out"
    fired = tmp_path / "fired"
    env = {"RAY_TMPDIR": str(ray_tmpdir), "AUDIOPREP_FAILPOINT": "ingest_task_done:1:process",
           "AUDIOPREP_FAILPOINT_ONCE": str(fired)}
    result = run_in_own_session(demo_corpora, out, "ray", env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert fired.exists(), "no ingest task finished in a process of the run"
    assert len(_sessions(ray_tmpdir)) == 1, _sessions(ray_tmpdir)
    assert published(out) == reference

    # the same run again: the plan and every unit are done, so Ray is not even started
    again = run_in_own_session(demo_corpora, out, "ray", {"RAY_TMPDIR": str(ray_tmpdir)})
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(_sessions(ray_tmpdir)) == 1, _sessions(ray_tmpdir)
    assert published(out) == reference
