"""Ray Data adapter: a dataset of unit ids mapped by a pool of ``UnitProcessor`` actors.

Local by default (``ray.init()`` with ``workers`` CPUs); ``--ray-address`` joins a cluster.
"""
from __future__ import annotations

import os

from ..units import UnitProcessor


class _Processor:
    def __init__(self, out: str, remote: str | None):
        self.processor = UnitProcessor(out, remote)

    def __call__(self, row: dict) -> dict:
        return self.processor(row["unit"]).to_dict()


def run(out: str, units: list[str], workers: int, options: dict) -> None:
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
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        dataset = ray.data.from_items([{"unit": u} for u in units], override_num_blocks=len(units))
        dataset = dataset.map(
            _Processor, fn_constructor_args=(out, options.get("remote")), concurrency=min(workers, len(units)), num_cpus=1
        )
        for _ in dataset.iter_rows():
            pass
    finally:
        if started:
            ray.shutdown()
