"""Ray adapter: one actor per node runs ``UnitProcessor`` in threads; the driver hands out unit ids.

Local by default (``ray.init()`` with ``workers`` CPUs, one actor with ``workers`` threads);
``--ray-address`` joins a cluster: one actor on every node that offers CPUs, with a thread per CPU.
A unit's CPU is the codecs' (soundfile, soxr, FLAC), which release the interpreter lock, so a node's
units run side by side in one process, as Beam's threads do, and nothing but unit ids and small
results passes through Ray (bench/README.md, "Ray's workers are threads"). With ``s3://`` output, an
actor on another node than the driver works in its own node's folder (``remote.default_workdir``):
nothing passes between the nodes except through the bucket.
"""
from __future__ import annotations

import os
import threading

from pipelines.core import outputs
from pipelines.core.remote import Mirror, default_workdir
from pipelines.prepare.units import UnitProcessor

#: restarts of a dead worker process (its node's actor), and retries of the units it was running
WORKER_RESTARTS = 3
#: the share of a CPU an actor reserves: it needs a node offering CPUs, and one whose node dies
#: restarts beside another node's actor (whose threads then share that node's cores)
ACTOR_CPUS = 0.01


class _NodeWorker:
    """One per node: a ``UnitProcessor`` per thread (a processor's stages are not shared)."""

    def __init__(self, out: str, remote: str | None, driver_node: str):
        import ray

        here = ray.get_runtime_context().get_node_id()
        self.out = default_workdir(remote) if remote and here != driver_node else out
        self.remote, self.local = remote, threading.local()

    def run(self, unit: str) -> dict:
        processor = getattr(self.local, "processor", None)
        if processor is None:
            processor = self.local.processor = UnitProcessor(self.out, self.remote)
        return processor(unit).to_dict()


def _node_threads(ray, workers: int, local: bool) -> dict[str, int]:
    """Node id -> threads: ``workers`` on a local instance, each node's CPUs on a cluster."""
    if local:
        return {ray.get_runtime_context().get_node_id(): workers}
    return {
        node["NodeID"]: int(node["Resources"]["CPU"])
        for node in ray.nodes()
        if node["Alive"] and node["Resources"].get("CPU", 0) >= 1
    }


def run(out: str, units: list[str], workers: int, options: dict) -> None:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    address = options.get("ray_address")
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # "local": a new instance even when a cluster runs on this machine (ray.init() would join it)
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        nodes = _node_threads(ray, workers, local=started and not address)
        if not nodes:
            raise RuntimeError(f"the Ray cluster at {address} has no node with a CPU to run units on")
        worker = ray.remote(_NodeWorker)
        driver_node = ray.get_runtime_context().get_node_id()
        actors = {
            worker.options(
                num_cpus=ACTOR_CPUS, max_concurrency=threads,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True),
                # a dead worker process (OOM killer, a lost node) is restarted, on another node if its own
                # is gone, and the units it was running are run again from scratch (a unit rewrites its
                # partial shard; finished units are skipped): bounded, so a unit that kills every worker
                # it reaches fails the run instead of looping forever
                max_restarts=WORKER_RESTARTS, max_task_retries=WORKER_RESTARTS,
            ).remote(out, options.get("remote"), driver_node): threads
            for node, threads in nodes.items()
        }
        mirror = Mirror(out, options.get("remote"))
        # a unit done on another node: its completion record fetched, for the progress this process shows
        _hand_out(ray, actors, list(units), lambda unit: mirror.fetch(outputs.unit_done_path(out, unit)))
    finally:
        if started:
            ray.shutdown()


def _hand_out(ray, actors: dict, todo: list[str], finished_unit) -> None:
    """Keep each actor's threads busy with the next unit until every unit is done."""
    todo.reverse()
    running: dict = {}
    for actor, threads in actors.items():
        for _ in range(threads):
            if todo:
                running[actor.run.remote(todo.pop())] = actor
    while running:
        finished, _ = ray.wait(list(running), num_returns=1)
        actor = running.pop(finished[0])
        # a unit that failed (or whose worker died past its restarts) fails the run
        finished_unit(ray.get(finished[0])["unit"])
        if todo:
            running[actor.run.remote(todo.pop())] = actor
