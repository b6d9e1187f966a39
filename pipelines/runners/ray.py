"""Ray Data adapter: a dataset of item ids (units, ingest tasks) mapped by a pool of actors, each
holding the processor ``make()`` gives (a ``UnitProcessor``, an ingest ``TaskRunner``).

Local by default (``ray.init()`` with ``workers`` CPUs); ``--ray-address`` joins a cluster.
"""
from __future__ import annotations

import logging
import os
import warnings

#: restarts of a dead worker process, and retries of the unit it was running
WORKER_RESTARTS = 3


class _Processor:
    def __init__(self, make):
        self.processor = make()

    def __call__(self, row: dict) -> dict:
        return self.processor(row["item"]).to_dict()


def run(make, items: list[str], workers: int, options: dict, label: str = "") -> None:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray
    import ray.data

    address = options.get("ray_address")
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    # the run shows its own progress bar: Ray Data's notice that its own bars are off and its INFO
    # lines ("execution finished") are noise in the user's terminal; its warnings about the run stay
    quieted = {name: logging.getLogger(name) for name in ("ray.data", "ray.data._internal.progress")}
    levels = {name: logger.level for name, logger in quieted.items()}
    quieted["ray.data"].setLevel(logging.WARNING)
    quieted["ray.data._internal.progress"].setLevel(logging.ERROR)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        dataset = ray.data.from_items([{"item": item} for item in items], override_num_blocks=len(items))
        with warnings.catch_warnings():
            # bounded restarts have no named parameter yet (Ray 2.60 pinned; see docs/reliability.md)
            warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
            dataset = dataset.map(
                _Processor, fn_constructor_args=(make,), num_cpus=1,
                compute=ray.data.ActorPoolStrategy(size=min(workers, len(items))),
                # a worker process that dies (OOM killer, preempted node) is restarted and its unit run again
                # from scratch (a unit rewrites its partial shard; finished units are skipped): bounded, so a
                # unit that kills every worker it reaches fails the run instead of looping forever
                max_restarts=WORKER_RESTARTS, max_task_retries=WORKER_RESTARTS,
            )
        for _ in dataset.iter_rows():
            pass
    finally:
        for name, logger in quieted.items():
            logger.setLevel(levels[name])
        if started:
            ray.shutdown()
