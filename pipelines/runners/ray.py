"""Ray adapter: one actor per node runs the processor ``make`` gives (a ``UnitProcessor``, an ingest
``TaskRunner``) in threads; the driver hands out the item ids (units, ingest tasks).

Local by default (``ray.init()`` with ``workers`` CPUs, one actor with ``workers`` threads), every
process of it on 127.0.0.1 (``LOOPBACK``: nothing listens on another address of the machine);
``--ray-address`` joins a cluster: one actor on every node that offers CPUs, with a thread per CPU.
Each ``run`` starts Ray and shuts it down, unless a ``session`` is open: then the first ``run``
starts it and the session's end shuts it down, so a run's ingest tasks and its units share one
start, and the same actors (one worker process per node, its imports paid once). Ray initialized
by someone else is used as a cluster and never shut down here.
A unit's CPU is the codecs' (soundfile, soxr, FLAC), which release the interpreter lock, so a node's
units run side by side in one process, as Beam's threads do, and nothing but unit ids and small
results passes through Ray (bench/README.md, "Ray's workers are threads"). With ``s3://`` output, an
actor on another node than the driver works in its own node's folder (``remote.default_workdir``):
nothing passes between the nodes except through the bucket.
"""
from __future__ import annotations

import itertools
import os
import threading
from contextlib import contextmanager, nullcontext
from typing import Callable, ContextManager, Iterator

from pipelines.core.process import pyarrow_without_pandas
from pipelines.core.remote import default_workdir

#: restarts of a dead worker process (its node's actor), and retries of the units it was running
WORKER_RESTARTS = 3
#: the share of a CPU an actor reserves: it needs a node offering CPUs, and one whose node dies
#: restarts beside another node's actor (whose threads then share that node's cores)
ACTOR_CPUS = 0.01
#: the address of a local instance's node: its servers listen there only (``_loopback_only``)
LOOPBACK = "127.0.0.1"
#: Ray's switch for clusters of several machines: on (Linux's default), Ray replaces a node address
#: of 127.0.0.1 with the machine's own and its servers listen on every interface
CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class _NodeWorker:
    """One per node: a processor per thread (a processor's state, e.g. a unit's stages, is not shared),
    made anew when a thread first serves another ``run`` (a job: its number, ``make`` and folders)."""

    def __init__(self, driver_node: str):
        import ray

        pyarrow_without_pandas()  # this process runs ingest tasks and units only
        self.remote_node = ray.get_runtime_context().get_node_id() != driver_node
        self.local = threading.local()

    def run(self, item: str, job: tuple) -> dict:
        number, make, out, remote = job
        local = self.local
        if getattr(local, "job", None) != number:
            local.processor = None  # the last job's, dropped before the next is made
            local.processor = make(default_workdir(remote) if remote and self.remote_node else out)
            local.job = number
        return {"item": item, **local.processor(item).to_dict()}


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
#: own, whose threads ``workers`` sizes) or a cluster; ``held`` while ``session`` keeps it open, and
#: then ``actors``, node id -> (actor, its threads), for every ``run`` of the session
_OURS: dict = {}
_JOBS = itertools.count(1)


@contextmanager
def session(cpus: int, quiet: Callable[[], ContextManager] = nullcontext) -> Iterator[None]:
    """Keep the Ray connection the first ``run`` inside makes (a local instance of ``cpus`` CPUs, or
    the cluster ``ray_address`` names) and its actors for every ``run`` until the end, then shut it
    down: one Ray start and one worker process per node per run of the pipeline (ingest tasks and
    units). Ray is started only when a ``run`` needs it, and one initialized by someone else is used
    and left running. ``quiet``: what the shutdown runs in (e.g. Ray's notices sent to the engine log)."""
    _OURS.update(held=True, cpus=cpus, actors={})
    try:
        yield
    finally:
        for name in ("held", "cpus", "actors"):
            _OURS.pop(name, None)
        if "local" in _OURS:
            with quiet():
                _stop()


@contextmanager
def _loopback_only() -> Iterator[None]:
    """While a local instance starts: Ray's cluster switch off, for the processes it starts (the
    variable, which they read) and for this one (the value Ray read from it when it was imported,
    perhaps before this call), so that the node keeps the address 127.0.0.1 and nothing listens on
    another. Restored after: a later connection to a real cluster from this process is Ray's default."""
    from ray._private import ray_constants

    before = os.environ.get(CLUSTER_SWITCH), getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[CLUSTER_SWITCH] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if before[0] is None:
            os.environ.pop(CLUSTER_SWITCH, None)
        else:
            os.environ[CLUSTER_SWITCH] = before[0]
        if before[1] is not None:
            ray_constants.ENABLE_RAY_CLUSTER = before[1]


def _start(address: str | None, cpus: int) -> None:
    import ray

    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # "local": a new instance even when a cluster runs on this machine (ray.init() would join it)
        with _loopback_only():
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, _node_ip_address=LOOPBACK)
    _OURS["local"] = not address


def _stop() -> None:
    import ray

    _OURS.pop("local", None)
    ray.shutdown()


def _actors(ray, nodes: dict[str, int], kept: dict) -> dict:
    """An actor per node of ``nodes`` with at least its threads: the session's (``kept``) where it has
    one, else a new one (kept for the session's next runs)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    worker = ray.remote(_NodeWorker)
    driver_node = ray.get_runtime_context().get_node_id()
    actors = {}
    for node, threads in nodes.items():
        actor, concurrency = kept.get(node, (None, 0))
        if concurrency < threads:
            if actor is not None:
                ray.kill(actor)
            actor = worker.options(
                num_cpus=ACTOR_CPUS, max_concurrency=threads,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True),
                # a dead worker process (OOM killer, a lost node) is restarted, on another node if its own
                # is gone, and the units it was running are run again from scratch (a unit rewrites its
                # partial shard; finished units are skipped): bounded, so a unit that kills every worker
                # it reaches fails the run instead of looping forever
                max_restarts=WORKER_RESTARTS, max_task_retries=WORKER_RESTARTS,
            ).remote(driver_node)
            kept[node] = (actor, threads)
        actors[actor] = threads
    return actors


def run(make, items: list[str], workers: int, options: dict, label: str = "") -> None:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray

    address = options.get("ray_address")
    started = not ray.is_initialized()
    if started:
        _OURS.pop("local", None)  # a connection of ours that someone else shut down
        _OURS.get("actors", {}).clear()
        _start(address, _OURS.get("cpus") or workers)
    try:
        # threads: ``workers`` on an instance of our own; on a cluster (or Ray someone else started), each node's CPUs
        nodes = _node_threads(ray, workers, local=_OURS.get("local", False))
        if not nodes:
            raise RuntimeError(f"the Ray cluster at {address} has no node with a CPU to run units on")
        actors = _actors(ray, nodes, _OURS["actors"] if _OURS.get("held") else {})
        job = (next(_JOBS), make, options["out"], options.get("remote"))
        _hand_out(ray, actors, job, list(items), options.get("finished") or (lambda item: None))
    finally:
        if started and not _OURS.get("held"):
            _stop()


def _hand_out(ray, actors: dict, job: tuple, todo: list[str], finished) -> None:
    """Keep each actor's threads busy with the next item until every item is done; ``finished`` is
    told each item done (e.g. to fetch a unit's completion record made on another node)."""
    todo.reverse()
    running: dict = {}
    for actor, threads in actors.items():
        for _ in range(threads):
            if todo:
                running[actor.run.remote(todo.pop(), job)] = actor
    while running:
        ready, _ = ray.wait(list(running), num_returns=1)
        actor = running.pop(ready[0])
        # an item that failed (or whose worker died past its restarts) fails the run
        finished(ray.get(ready[0])["item"])
        if todo:
            running[actor.run.remote(todo.pop(), job)] = actor
