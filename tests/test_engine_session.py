"""One engine start per run (pipelines/runners ``engine_session``): `audioprep run --engine ray` runs its
ingest tasks and its units on one Ray instance, started once, in the same worker processes (actors),
and writes the shards of a local run; the instance listens on 127.0.0.1 only.

What is counted is Ray's own: every start of a local instance makes a session folder under
``$RAY_TMPDIR/ray`` (Ray's environment variable for its temporary root).
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import tempfile
from pathlib import Path

import psutil
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


class _Pid:
    """A processor for the Ray adapter: writes the pid of the process it runs in, under the item's name."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, item: str):
        import pyarrow as pa

        pa.array([item])  # a conversion, as an ingest task's: pyarrow must not import pandas for it
        Path(self.folder, item).write_text(f"{os.getpid()} {'pandas' in sys.modules}")
        return _Nothing()


class _Nothing:
    def to_dict(self) -> dict:
        return {}


def _listening(pids: set[int]) -> set[str]:
    """The addresses sockets of these processes listen on."""
    return {c.laddr.ip for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in pids}


def _loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1, also as an IPv6 socket's IPv4-mapped address (::ffff:127.0.0.1); never a wildcard."""
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def test_runs_of_one_ray_session_share_their_worker_processes_and_listen_on_loopback_only(ray_tmpdir, tmp_path, monkeypatch):
    """Two runs of the adapter in one session (a run's ingest tasks, then its units) are served by the
    same actors, a worker process per CPU, each paying the imports once (and answering pyarrow's
    question without pandas: ``process.pyarrow_without_pandas``); every process of the local instance
    (its servers, the actors) listens on 127.0.0.1 and the node's address is 127.0.0.1, not the machine's."""
    import ray

    from pipelines.runners import ray as adapter

    monkeypatch.setenv("RAY_TMPDIR", str(ray_tmpdir))
    monkeypatch.setenv("RAY_DEDUP_LOGS", os.environ.get("RAY_DEDUP_LOGS", "0"))
    addresses: set[str] = set()

    def finished(item: str) -> None:  # while Ray runs: what its processes (ours and their children) listen on
        addresses.update(_listening({p.pid for p in psutil.Process().children(recursive=True)} | {os.getpid()}))

    # the processor's classes travel by value: Ray's worker process cannot import this test module
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with adapter.session(2):
            adapter.run(_Pid, ["a", "b", "c"], 2, {"out": str(tmp_path), "finished": finished})
            adapter.run(_Pid, ["d", "e"], 2, {"out": str(tmp_path), "finished": finished})
            nodes = {node["NodeManagerAddress"] for node in ray.nodes()}
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert not ray.is_initialized()
    seen = {item: (tmp_path / item).read_text().split() for item in "abcde"}  # [pid, pandas imported] of each item's process
    first, second = ({seen[item][0] for item in items} for items in ("abc", "de"))
    assert len(first) == 2 and second <= first and str(os.getpid()) not in first, seen  # two worker processes, kept
    assert all(imported == "False" for _, imported in seen.values()), seen
    assert nodes == {"127.0.0.1"}
    assert addresses and all(_loopback(address) for address in addresses), addresses
