"""Every dataset of a run ingested: their tasks listed, run together, then merged dataset by dataset.

The tasks of all datasets go to one executor at once: an engine's workers (``run_tasks``, given by
the layer that starts engines), else a local process pool of ``processes`` processes (or this
process alone), which reports how many metadata items each dataset has read.
"""
from __future__ import annotations

import os
from typing import Callable

from pipelines.core import outputs
from pipelines.core.config import RunConfig
from pipelines.core.process import pyarrow_without_pandas
from pipelines.core.remote import Mirror
from pipelines.ingest.manifest import TaskExecutor, finish_dataset, in_process, pending_tasks, start_dataset
from pipelines.ingest.part import TaskRunner
from pipelines.ingest.tasks import TaskList


class IngestError(RuntimeError):
    """A corpus could not be ingested (its process died); the message says what to do."""


class _ProgressFile:
    """``report`` for an ingest task in another process: its count, written where the parent polls it."""

    def __init__(self, out: str):
        self.out = out

    def __call__(self, task: str, seen: int) -> None:
        path = outputs.ingest_progress_path(self.out, task)
        temporary = f"{path}.tmp-{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(str(seen))
        os.replace(temporary, path)


def _progress_of(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return None


_RUNNERS: dict[str, TaskRunner] = {}  # one per output folder in a pool's process


def _run_in_process(out: str, task: str, reporting: bool) -> dict:
    runner = _RUNNERS.get(out) or _RUNNERS.setdefault(out, TaskRunner(out, None, _ProgressFile(out) if reporting else None))
    return runner(task).to_dict()


class _Totals:
    """Items read per dataset, summed over its tasks, told to ``seen``."""

    def __init__(self, seen: Callable[[str, int], None] | None):
        self.seen, self.tasks = seen, {}

    def __call__(self, task: str, count: int) -> None:
        self.tasks[task] = count
        dataset = task.rsplit("/", 1)[0]
        if self.seen is not None:
            self.seen(dataset, sum(n for t, n in self.tasks.items() if t.rsplit("/", 1)[0] == dataset))


def pool_executor(out: str, processes: int, seen: Callable[[str, int], None] | None = None) -> TaskExecutor:
    """Ingest tasks in ``processes`` processes (this one alone when 1), ``seen`` told each dataset's items read."""
    totals = _Totals(seen)
    here = in_process(out, totals if seen is not None else None)

    def run(tasks: list[str]) -> None:
        if processes == 1 or len(tasks) <= 1:
            here(tasks)
        else:
            _run_in_pool(out, tasks, min(processes, len(tasks)), totals if seen is not None else None)

    return run


def _run_in_pool(out: str, tasks: list[str], processes: int, totals: _Totals | None) -> None:
    import multiprocessing
    import threading
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # fork when this process runs no other thread (a child then costs nothing to start); spawn when
    # one runs (an engine's client, a progress display), as forking a threaded process is unsafe
    method = "fork" if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    files = {task: outputs.ingest_progress_path(out, task) for task in tasks}
    for path in files.values():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.remove(path)  # an earlier attempt's count

    def poll() -> None:
        for task, path in files.items():
            count = _progress_of(path)
            if count is not None:
                totals(task, count)

    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context(method),
                             initializer=pyarrow_without_pandas) as pool:  # no pandas imported only for pyarrow
        futures = {task: pool.submit(_run_in_process, out, task, totals is not None) for task in tasks}
        running = set(futures.values())
        while running and totals is not None:
            _, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            poll()
        for task, future in futures.items():
            try:
                future.result()
            except BrokenProcessPool as exc:  # killed (out of memory?) or crashed in native code
                raise IngestError(
                    f"ingest task {task} (or one beside it) stopped: its process died ({exc}); "
                    "rerun with --workers 1 to ingest in this process"
                ) from exc
    for path in files.values():
        if os.path.exists(path):
            os.remove(path)


def ingest_all(
    config: RunConfig, out: str, progress: Callable[[str], None], processes: int = 1,
    seen: Callable[[str, int], None] | None = None, run_tasks: TaskExecutor | None = None, remote: str | None = None,
) -> dict[str, dict]:
    """Every dataset of the run ingested (``manifest``'s steps): the tasks of all of them run at once
    on ``run_tasks`` (an engine), else on ``pool_executor(out, processes, seen)``; a dataset
    already complete is skipped. Each dataset writes its own manifest, so the result does not
    depend on where or how side by side the tasks ran. ``remote``: the bucket the parts pass through."""
    mirror = Mirror(out, remote)
    executor = run_tasks or pool_executor(out, processes, seen)
    started: dict[str, dict | TaskList] = {}
    for spec in config.datasets:
        progress(f"ingest {spec.name} from {spec.root}")
        started[spec.name] = start_dataset(spec, out, config.probe_durations, mirror)
    todo = [task for listing in started.values() if isinstance(listing, TaskList) for task in pending_tasks(listing, out, mirror)]
    if todo:
        executor(todo)
    counts = {}
    for name, listing in started.items():
        counts[name] = listing if isinstance(listing, dict) else finish_dataset(listing, out, executor, mirror)
        if run_tasks is not None and seen is not None:  # an engine's workers report nothing on the way
            seen(name, counts[name]["records"] + counts[name]["drops"])
    return counts
