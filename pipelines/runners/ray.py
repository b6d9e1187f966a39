"""Ray Data adapter: a dataset of unit ids mapped by a pool of ``UnitProcessor`` actors.

Local by default (``ray.init()`` with ``workers`` CPUs); ``--ray-address`` joins a cluster.
"""
from __future__ import annotations

import os
import threading

from ..units import UnitProcessor

#: restarts of a dead worker process, and retries of the unit it was running
WORKER_RESTARTS = 3


class _Processor:
    def __init__(self, out: str, remote: str | None):
        self.processor = UnitProcessor(out, remote)

    def __call__(self, row: dict) -> dict:
        return self.processor(row["unit"]).to_dict()


class _Start:
    """``ray.init`` in a thread, so that a local cluster's start-up (~3 s of processes being spawned
    and connecting) overlaps ingest and planning in the main thread instead of following them.

    The thread stays alive until Ray is shut down: Ray's daemons die with the thread that started
    them (parent-death signal), so it must outlive the run.
    """

    def __init__(self, workers: int, options: dict):
        self.workers, self.options = workers, options
        self.error: BaseException | None = None
        self.started = False
        self.ready, self.released = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._start, name="ray-init", daemon=True)
        self.thread.start()

    def _start(self) -> None:
        try:
            self.started = _init(self.workers, self.options)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread by wait()
            self.error = exc
        self.ready.set()
        self.released.wait()

    def wait(self) -> bool:
        """True if this start initialized Ray (and so the run shuts it down, then calls ``release``)."""
        self.ready.wait()
        if self.error is not None:
            self.release()
            raise self.error
        return self.started

    def release(self) -> None:
        self.released.set()
        self.thread.join()


_early: _Start | None = None


def warm_up(workers: int, options: dict) -> None:
    """Start Ray now, in the background; the next ``run`` uses it (``cancel`` if there is none)."""
    global _early
    if _early is None:
        _early = _Start(workers, options)


def cancel() -> None:
    """Shut down a Ray that ``warm_up`` started and no run used (planning failed, nothing to do)."""
    global _early
    start, _early = _early, None
    if start is not None:
        try:
            started = start.wait()
        except Exception:  # noqa: BLE001 - it failed to start: nothing to shut down
            return
        if started:
            import ray

            ray.shutdown()
        start.release()


def _init(workers: int, options: dict) -> bool:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray
    import ray.data  # noqa: F401 - imported here so the run does not pay for it after planning

    if ray.is_initialized():
        return False
    address = options.get("ray_address")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    return True


def run(out: str, units: list[str], workers: int, options: dict) -> None:
    global _early
    start, _early = _early, None
    started = start.wait() if start is not None else _init(workers, options)
    import ray

    try:
        _map_units(out, units, workers, options)
    finally:
        if started:
            ray.shutdown()
        if start is not None:
            start.release()


def _map_units(out: str, units: list[str], workers: int, options: dict) -> None:
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    dataset = ray.data.from_items([{"unit": u} for u in units], override_num_blocks=len(units))
    dataset = dataset.map(
        _Processor, fn_constructor_args=(out, options.get("remote")), num_cpus=1,
        compute=ray.data.ActorPoolStrategy(size=min(workers, len(units))),
        # a worker process that dies (OOM killer, preempted node) is restarted and its unit run again
        # from scratch (a unit rewrites its partial shard; finished units are skipped): bounded, so a
        # unit that kills every worker it reaches fails the run instead of looping forever
        max_restarts=WORKER_RESTARTS, max_task_retries=WORKER_RESTARTS,
    )
    for _ in dataset.iter_rows():
        pass
