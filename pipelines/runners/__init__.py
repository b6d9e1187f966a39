"""Runners: the plan's work units on an engine (``run_units``), each unit through ``units.UnitProcessor``,
and a run's ingest tasks on the same engine (``ingest_executor``), each through ``part.TaskRunner``.

In: a ``RunConfig`` (its output, where the plan is), ``EngineOptions`` and the plan's unit ids (or
the ingest's task ids). Out: what the units write (shards, completion records; nothing else) or the
tasks (manifest parts), the engine's own output in the engine log (``engine_output_to``), the count
of finished units as they finish (``watch_progress``). The adapters run any processor the same way:
``run(make, items, workers, options)`` calls ``make(folder)`` once per worker thread or process (the
run's work folder, or on another Ray node its own), then the processor with each item. ``beam``
builds an Apache Beam pipeline (FnApiRunner locally; any runner through standard pipeline options),
``ray`` an actor per CPU of every Ray node, a worker process running one item at a time (a local
instance or a cluster address),
``local`` a plain loop in this process (debugging). They share every line of data logic.
``engine_session`` keeps an engine started once for all the calls inside it (Ray: a run's ingest
tasks and its units).
"""
from __future__ import annotations

import gc
import logging
import os
import sys
import threading
from contextlib import contextmanager
from functools import partial
from typing import Callable, Iterator

from pipelines.core import outputs
from pipelines.core.config import ENGINES, EngineOptions, RunConfig
from pipelines.core.remote import Mirror


def pending_units(out: str, units: list[str]) -> list[str]:
    return [u for u in units if not os.path.exists(outputs.unit_done_path(out, u))]


def watch_progress(out: str, units: list[str], advance: Callable[[int], None]) -> Callable[[], None]:
    """Poll the completion records in a thread and report how many units are done; returns stop().

    One listing of the completion folder per poll, not a stat per unit, so that asking stays cheap
    however many units a run has (bench/README.md, "Fixed costs")."""
    stop = threading.Event()
    folder = os.path.dirname(outputs.unit_done_path(out, "x"))
    expected = {os.path.basename(outputs.unit_done_path(out, unit)) for unit in units}

    def done() -> int:
        try:
            return len(expected.intersection(os.listdir(folder)))
        except FileNotFoundError:
            return 0

    def poll() -> None:
        while True:
            advance(done())
            if stop.wait(0.5):
                advance(done())
                return

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join()

    return finish


@contextmanager
def engine_output_to(log_path: str) -> Iterator[None]:
    """Send what the engine's own processes print to ``log_path``; this process's messages and
    progress bar stay on the terminal.

    Beam's SDK worker processes (with ``--direct_running_mode=multi_processing``) log their start-up
    at INFO to the stderr they inherit (the local runner gives them no pipeline options to quiet
    them), and Ray's daemons and core worker print notices from C++: all of it is written to file
    descriptor 2, which is pointed at the log while the engine runs; ``sys.stderr`` is kept on the
    terminal through a duplicate of the original. Log
    records of this process that reach the root logger or no handler at all (the engine's driver
    side: Beam's import notices and the worker messages it forwards, Ray's notices) go to the same
    log rather than to the terminal."""
    try:
        sys.stderr.flush()
        terminal_fd = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield  # no usable stderr (a closed descriptor, a replaced stream): nothing to keep apart
        return
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    previous = sys.stderr
    terminal = os.fdopen(os.dup(terminal_fd), "w", buffering=1, encoding=getattr(previous, "encoding", None) or "utf-8",
                         errors="backslashreplace")
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stderr = terminal
    records = logging.FileHandler(log_path, encoding="utf-8")
    records.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    last_resort = logging.lastResort  # what loggers with no handler (Ray's, unconfigured) fall back to
    logging.getLogger().addHandler(records)
    logging.lastResort = records
    try:
        yield
    finally:
        logging.lastResort = last_resort
        logging.getLogger().removeHandler(records)
        records.close()
        terminal.flush()
        sys.stderr = previous
        os.dup2(terminal_fd, 2)
        os.close(terminal_fd)
        terminal.close()


def run_units(config: RunConfig, options: EngineOptions, units: list[str]) -> None:
    """Run the units of ``config``'s plan that have no completion record on the engine ``options`` name.

    The one place an engine is started, for ``audioprep run`` and the DAG's shard task alike: with no
    worker count given, it starts one worker per core of this machine, at most one per pending unit."""
    out = config.local_out
    todo = pending_units(out, units)
    if not todo:
        return
    if options.engine not in ENGINES:
        raise ValueError(f"unknown engine {options.engine!r}; choose one of {', '.join(ENGINES)}")
    from pipelines.prepare.units import UnitProcessor

    mirror = Mirror(out, config.remote)
    # a unit done on another node: its completion record fetched, for the progress this process shows
    finished = partial(_fetch_done, mirror, out)
    _run_on_engine(options, partial(UnitProcessor, remote=config.remote), todo, "PrepareAndShard", config, finished)


def _fetch_done(mirror: Mirror, out: str, unit: str) -> None:
    mirror.fetch(outputs.unit_done_path(out, unit))


def engine_runs_ingest(options: EngineOptions) -> bool:
    """Whether a run's ingest tasks go to its engine: on Ray and on a Beam runner the user chooses
    (``--runner=...``), yes. The local engine runs them in this process, and Beam's local runner
    would run them in threads of this process, where ingest (Python, holding the interpreter lock)
    does not run side by side: a pool of processes does, without starting a pipeline (the caller's
    ``processes``, ``pipelines.ingest.pool``)."""
    if options.engine is None:  # the default: Beam's local runner, or Ray given a cluster
        return bool(options.ray_address)
    if options.engine == "local":
        return False
    return options.engine != "beam" or any(a == "--runner" or a.startswith("--runner=") for a in options.beam_args)


def ingest_executor(config: RunConfig, options: EngineOptions) -> Callable[[list[str]], None]:
    """What runs a run's ingest tasks on the engine ``options`` name (``make_plan``'s ``run_tasks``):
    each task through ``part.TaskRunner`` on a worker, as many workers as for the units."""
    from pipelines.ingest.part import TaskRunner

    if options.engine not in ENGINES:
        raise ValueError(f"unknown engine {options.engine!r}; choose one of {', '.join(ENGINES)}")

    def run(tasks: list[str]) -> None:
        if tasks:
            _run_on_engine(options, partial(TaskRunner, remote=config.remote), tasks, "Ingest", config)

    return run


@contextmanager
def engine_session(config: RunConfig, options: EngineOptions) -> Iterator[None]:
    """One start of the engine for everything run on it inside (a run's ingest tasks, then its
    units): on Ray, the first ``run_units`` or ``ingest_executor`` call starts it (a local instance
    of ``workers`` CPUs, default this machine's, or the ``ray_address`` cluster) and the end of the
    block shuts it down, its notices going to the engine log; nothing is started when nothing runs.
    Beam and the local engine start nothing lasting: a no-op for them."""
    if options.engine != "ray":
        yield
        return
    from pipelines.runners.ray import session

    log = outputs.engine_log_path(config.local_out)
    with session(options.workers or os.cpu_count() or 1, quiet=lambda: engine_output_to(log)):
        yield


def _run_on_engine(
    options: EngineOptions, make: Callable, items: list[str], label: str, config: RunConfig, finished: Callable | None = None,
) -> None:
    """``items`` through ``make(folder)``'s processor on the engine: with no worker count given, one
    worker per core of this machine, at most one per item; ``finished`` (optional) is told, in this
    process, each item done where the engine reports items (Ray)."""
    workers = options.workers or max(1, min(os.cpu_count() or 1, len(items)))
    engine_options = {
        "beam_args": list(options.beam_args), "ray_address": options.ray_address, "remote": config.remote,
        "out": config.local_out, "finished": finished,
    }
    _import_engine(options.engine)(make, items, workers, engine_options, label)


def _import_engine(engine: str) -> Callable[[Callable, list[str], int, dict, str], None]:
    """The engine adapter's ``run``, imported with the garbage collector paused."""
    collecting = gc.isenabled()
    gc.disable()  # importing Beam makes many lasting objects: collecting while they are made is wasted (bench/README.md)
    try:
        if engine == "beam":
            from pipelines.runners.beam import run
        elif engine == "ray":
            from pipelines.runners.ray import run
        else:
            from pipelines.runners.local import run
    finally:
        if collecting:
            gc.enable()
    return run
