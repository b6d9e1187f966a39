"""Ray adapter: one actor per node runs the processor ``make`` gives (a ``UnitProcessor``, an ingest
``TaskRunner``) in threads; the driver hands out the item ids (units, ingest tasks).

Local by default (``ray.init()`` with ``workers`` CPUs, one actor with ``workers`` threads);
``--ray-address`` joins a cluster: one actor on every node that offers CPUs, with a thread per CPU.
Each ``run`` starts Ray and shuts it down, unless a ``session`` is open: then the first ``run``
starts it and the session's end shuts it down, so a run's ingest tasks and its units share one
start. Ray initialized by someone else is used as a cluster and never shut down here.
A unit's CPU is the codecs' (soundfile, soxr, FLAC), which release the interpreter lock, so a node's
units run side by side in one process, as Beam's threads do, and nothing but unit ids and small
results passes through Ray (bench/README.md, "Ray's workers are threads"). With ``s3://`` output, an
actor on another node than the driver works in its own node's folder (``remote.default_workdir``):
nothing passes between the nodes except through the bucket.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager, nullcontext
from typing import Callable, ContextManager, Iterator

from pipelines.core.remote import default_workdir

#: restarts of a dead worker process (its node's actor), and retries of the units it was running
WORKER_RESTARTS = 3
#: the share of a CPU an actor reserves: it needs a node offering CPUs, and one whose node dies
#: restarts beside another node's actor (whose threads then share that node's cores)
ACTOR_CPUS = 0.01


class _NodeWorker:
    """One per node: a processor per thread (a processor's state, e.g. a unit's stages, is not shared)."""

    def __init__(self, make, out: str, remote: str | None, driver_node: str):
        import ray

        here = ray.get_runtime_context().get_node_id()
        self.make, self.local = make, threading.local()
        self.out = default_workdir(remote) if remote and here != driver_node else out

    def run(self, item: str) -> dict:
        processor = getattr(self.local, "processor", None)
        if processor is None:
            processor = self.local.processor = self.make(self.out)
        return {"item": item, **processor(item).to_dict()}


def _node_threads(ray, workers: int, local: bool) -> dict[str, int]:
    """Node id -> threads: ``workers`` on a local instance, each node's CPUs on a cluster."""
    if local:
        return {ray.get_runtime_context().get_node_id(): workers}
    return {
        node["NodeID"]: int(node["Resources"]["CPU"])
        for node in ray.nodes()
        if node["Alive"] and node["Resources"].get("CPU", 0) >= 1
    }


#: the Ray connection this process made (``_start``) while it lasts: ``local`` (an instance of its
#: own, whose threads ``workers`` sizes) or a cluster; ``held`` while ``session`` keeps it open
_OURS: dict = {}


@contextmanager
def session(cpus: int, quiet: Callable[[], ContextManager] = nullcontext) -> Iterator[None]:
    """Keep the Ray connection the first ``run`` inside makes (a local instance of ``cpus`` CPUs, or
    the cluster ``ray_address`` names) for every ``run`` until the end, then shut it down: one Ray
    start per run of the pipeline (ingest tasks and units). Ray is started only when a ``run`` needs
    it, and one initialized by someone else is used and left running. ``quiet``: what the shutdown
    runs in (e.g. Ray's notices sent to the engine log)."""
    _OURS.update(held=True, cpus=cpus)
    try:
        yield
    finally:
        _OURS.pop("held", None)
        _OURS.pop("cpus", None)
        if "local" in _OURS:
            with quiet():
                _stop()


def _start(address: str | None, cpus: int) -> None:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray

    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # "local": a new instance even when a cluster runs on this machine (ray.init() would join it)
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    _OURS["local"] = not address


def _stop() -> None:
    import ray

    _OURS.pop("local", None)
    ray.shutdown()


def run(make, items: list[str], workers: int, options: dict, label: str = "") -> None:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    address = options.get("ray_address")
    started = not ray.is_initialized()
    if started:
        _OURS.pop("local", None)  # a connection of ours that someone else shut down
        _start(address, _OURS.get("cpus") or workers)
    try:
        # threads: ``workers`` on an instance of our own; on a cluster (or Ray someone else started), each node's CPUs
        nodes = _node_threads(ray, workers, local=_OURS.get("local", False))
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
            ).remote(make, options["out"], options.get("remote"), driver_node): threads
            for node, threads in nodes.items()
        }
        _hand_out(ray, actors, list(items), options.get("finished") or (lambda item: None))
    finally:
        if started and not _OURS.get("held"):
            _stop()


def _hand_out(ray, actors: dict, todo: list[str], finished) -> None:
    """Keep each actor's threads busy with the next item until every item is done; ``finished`` is
    told each item done (e.g. to fetch a unit's completion record made on another node)."""
    todo.reverse()
    running: dict = {}
    for actor, threads in actors.items():
        for _ in range(threads):
            if todo:
                running[actor.run.remote(todo.pop())] = actor
    while running:
        ready, _ = ray.wait(list(running), num_returns=1)
        actor = running.pop(ready[0])
        # an item that failed (or whose worker died past its restarts) fails the run
        finished(ray.get(ready[0])["item"])
        if todo:
            running[actor.run.remote(todo.pop())] = actor
