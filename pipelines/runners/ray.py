"""Ray adapter: one actor per CPU (a worker process running one item at a time) runs the processor
``make`` gives (a ``UnitProcessor``, an ingest ``TaskRunner``); the driver hands out the item ids
(units, ingest tasks) as actors become free.

Local by default (``ray.init()`` with ``workers`` CPUs, ``workers`` actors), every process of it on
127.0.0.1 (``LOOPBACK``: nothing listens on another address of the machine); ``--ray-address``
joins a cluster: an actor per CPU of every node that offers CPUs. Each ``run`` starts Ray and shuts
it down, unless a ``session`` is open: then the first ``run`` starts it and the session's end shuts
it down, so a run's ingest tasks and its units share one start and the same actors (each worker
process imports the pipeline once). Ray initialized by someone else is used as a cluster and never
shut down here.
Processes, not threads: a unit's CPU is mostly the codecs', which release the interpreter lock, but
two units in threads of one process still cost 4-5% more CPU and ~10% more wall time than in two
processes on the 2-core development machine (the lock's hand-overs between the units' Python parts;
bench/README.md, "Ray's workers are processes again"), more than a worker process's start-up costs
on a corpus of hours. Nothing but item ids and small results passes through Ray. With ``s3://``
output, an actor on another node than the driver works in its own node's folder
(``remote.default_workdir``): nothing passes between the nodes except through the bucket.
"""
from __future__ import annotations

import itertools
import os
from contextlib import contextmanager, nullcontext
from typing import Callable, ContextManager, Iterator

from pipelines.core.process import pyarrow_without_pandas
from pipelines.core.remote import default_workdir

#: restarts of a dead worker process (an actor), and retries of the item it was running
WORKER_RESTARTS = 3
#: the share of a CPU an actor reserves: it needs a node offering CPUs, and one whose node dies
#: restarts beside another node's actors (which then share that node's cores)
ACTOR_CPUS = 0.01
#: the address of a local instance's node: its servers listen there only (``_loopback_only``)
LOOPBACK = "127.0.0.1"
#: Ray's switch for clusters of several machines: on (Linux's default), Ray replaces a node address
#: of 127.0.0.1 with the machine's own and its servers listen on every interface
CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class _Worker:
    """One per CPU, an item at a time: the processor of the ``run`` it serves (a job: its number, ``make``
    and folders), made anew when an item of another ``run`` comes."""

    def __init__(self, driver_node: str):
        import ray

        pyarrow_without_pandas()  # this process runs ingest tasks and units only
        self.remote_node = ray.get_runtime_context().get_node_id() != driver_node
        self.job, self.processor = None, None

    def run(self, item: str, job: tuple) -> dict:
        number, make, out, remote = job
        if self.job != number:
            self.processor = None  # the last job's, dropped before the next is made
            self.processor = make(default_workdir(remote) if remote and self.remote_node else out)
            self.job = number
        return {"item": item, **self.processor(item).to_dict()}


def _node_cpus(ray, workers: int, local: bool) -> dict[str, int]:
    """Node id -> actors to start there: ``workers`` on a local instance, each node's CPUs on a cluster."""
    if local:
        return {ray.get_runtime_context().get_node_id(): workers}
    return {
        node["NodeID"]: int(node["Resources"]["CPU"])
        for node in ray.nodes()
        if node["Alive"] and node["Resources"].get("CPU", 0) >= 1
    }


#: the Ray connection this process made (``_start``) while it lasts: ``local`` (an instance of its
#: own, ``workers`` CPUs) or a cluster; ``held`` while ``session`` keeps it open, and then ``actors``,
#: node id -> its actors, for every ``run`` of the session
_OURS: dict = {}
_JOBS = itertools.count(1)


@contextmanager
def session(cpus: int, quiet: Callable[[], ContextManager] = nullcontext) -> Iterator[None]:
    """Keep the Ray connection the first ``run`` inside makes (a local instance of ``cpus`` CPUs, or
    the cluster ``ray_address`` names) and its actors for every ``run`` until the end, then shut it
    down: one Ray start and one set of worker processes (an actor per CPU) per run of the pipeline,
    for its ingest tasks and its units alike. Ray is started only when a ``run`` needs it, and one initialized by someone else is used
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


def _actors(ray, nodes: dict[str, int], kept: dict) -> list:
    """``nodes``' count of actors on each: the session's (``kept``) where it has them, else new ones
    (kept for the session's next runs)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    worker = ray.remote(_Worker)
    driver_node = ray.get_runtime_context().get_node_id()
    actors = []
    for node, count in nodes.items():
        ours = kept.setdefault(node, [])
        ours.extend(
            worker.options(
                num_cpus=ACTOR_CPUS, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True),
                # a dead worker process (OOM killer, a lost node) is restarted, on another node if its own
                # is gone, and the item it was running is run again from scratch (a unit rewrites its
                # partial shard; finished units are skipped): bounded, so a unit that kills every worker
                # it reaches fails the run instead of looping forever
                max_restarts=WORKER_RESTARTS, max_task_retries=WORKER_RESTARTS,
            ).remote(driver_node)
            for _ in range(count - len(ours))
        )
        actors += ours[:count]
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
        # actors: ``workers`` on an instance of our own; on a cluster (or Ray someone else started), each node's CPUs
        nodes = _node_cpus(ray, workers, local=_OURS.get("local", False))
        if not nodes:
            raise RuntimeError(f"the Ray cluster at {address} has no node with a CPU to run units on")
        actors = _actors(ray, nodes, _OURS["actors"] if _OURS.get("held") else {})
        job = (next(_JOBS), make, options["out"], options.get("remote"))
        _hand_out(ray, actors, job, list(items), options.get("finished") or (lambda item: None))
    finally:
        if started and not _OURS.get("held"):
            _stop()


def _hand_out(ray, actors: list, job: tuple, todo: list[str], finished) -> None:
    """Keep each actor busy with the next item until every item is done; ``finished`` is told each
    item done (e.g. to fetch a unit's completion record made on another node)."""
    todo.reverse()
    running: dict = {}
    for actor in actors:
        if todo:
            running[actor.run.remote(todo.pop(), job)] = actor
    while running:
        ready, _ = ray.wait(list(running), num_returns=1)
        actor = running.pop(ready[0])
        # an item that failed (or whose worker died past its restarts) fails the run
        finished(ray.get(ready[0])["item"])
        if todo:
            running[actor.run.remote(todo.pop(), job)] = actor
