"""Every dataset of a run ingested, side by side in a process pool."""
from __future__ import annotations

import importlib.abc
import os
import sys
from typing import Callable

from pipelines.core import outputs
from pipelines.core.config import RunConfig
from pipelines.ingest.manifest import ingest_dataset


class IngestError(RuntimeError):
    """A corpus could not be ingested (its process died); the message says what to do."""


class _ProgressFile:
    """``report`` for an ingest in another process: the count, written where the parent polls it."""

    def __init__(self, path: str):
        self.path = path

    def __call__(self, seen: int) -> None:
        temporary = f"{self.path}.tmp-{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(str(seen))
        os.replace(temporary, self.path)


def _progress_of(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return None


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """``import pandas`` (or a submodule) fails as if pandas were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (not imported by an audioprep ingest process)", name=name)
        return None


def _ingest_process_setup() -> None:
    """Run first in each ingest process. pyarrow imports pandas, when it is installed (Ray Data
    installs it), on its first conversion of a Python list, to ask whether the list is a pandas
    object: CPU time and resident memory in every process (bench/README.md), for nothing, as
    ingest never uses pandas. These processes only ingest and exit, so pandas stays refused in them
    for good (pyarrow remembers the answer; never in the run's own process, where an engine may
    need pandas)."""
    sys.meta_path.insert(0, _WithoutPandas())


def ingest_all(
    config: RunConfig, out: str, progress: Callable[[str], None], processes: int = 1,
    seen: Callable[[str, int], None] | None = None,
) -> dict[str, dict]:
    """``ingest_dataset`` for every dataset of the run, in ``processes`` processes when there are
    several datasets (each writes its own manifest, so the result is the same as one after another).

    ``seen`` (optional) is told, from this thread, how many metadata items each dataset's ingest has
    read so far (a progress display; processes report through a file each, polled twice a second)."""
    specs = list(config.datasets)
    processes = max(1, min(processes, len(specs)))
    if processes == 1:
        counts = {}
        for spec in specs:
            progress(f"ingest {spec.name} from {spec.root}")
            report = None if seen is None else (lambda n, name=spec.name: seen(name, n))
            counts[spec.name] = ingest_dataset(spec, out, config.probe_durations, report)
        return counts
    import multiprocessing
    import threading
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # fork when this process runs no other thread (a child then costs nothing to start); spawn when
    # one runs (an engine's client, a progress display), as forking a threaded process is unsafe
    method = "fork" if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    files = {spec.name: outputs.ingest_progress_path(out, spec.name) for spec in specs}
    for path in files.values():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.remove(path)  # an earlier attempt's count

    def poll() -> None:
        for name, path in files.items():
            count = _progress_of(path)
            if count is not None:
                seen(name, count)

    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context(method),
                             initializer=_ingest_process_setup) as pool:
        futures = {}
        for spec in specs:
            progress(f"ingest {spec.name} from {spec.root}")
            report = None if seen is None else _ProgressFile(files[spec.name])
            futures[spec.name] = pool.submit(ingest_dataset, spec, out, config.probe_durations, report)
        running = set(futures.values())
        while running and seen is not None:
            _, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            poll()
        counts = {}
        for name, future in futures.items():
            try:
                counts[name] = future.result()
            except BrokenProcessPool as exc:  # killed (out of memory?) or crashed in native code
                raise IngestError(
                    f"ingesting {name} (or a corpus beside it) stopped: its process died ({exc}); "
                    "rerun with --workers 1 to ingest one corpus at a time in this process"
                ) from exc
        for path in files.values():
            if os.path.exists(path):
                os.remove(path)
        return counts
