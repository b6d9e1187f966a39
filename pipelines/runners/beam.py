"""Apache Beam adapter: units -> Reshuffle -> PrepareAndShard.

Locally it uses the FnApiRunner (the DirectRunner would first try to download the Prism binary):
with more than one worker, one SDK worker process per worker, started as ``beam_worker`` (Beam's SDK
harness without the interpreter's garbage-collection costs at start and exit); any standard pipeline
option given by the user (``--runner=FlinkRunner``, ``--flink_master=...``,
``--runner=DataflowRunner --project=...``, ``--direct_running_mode=...``) is passed through unchanged.
"""
from __future__ import annotations

import logging
import os
import shlex
import sys
import threading

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.transforms.environments import SubprocessSDKEnvironment

from ..units import UnitProcessor


class PrepareAndShard(beam.DoFn):
    def __init__(self, out: str, remote: str | None):
        self.out, self.remote = out, remote
        self.processor = None
        self.written = Metrics.counter("audioprep", "written")
        self.quarantined = Metrics.counter("audioprep", "quarantined")

    def setup(self):
        self.processor = UnitProcessor(self.out, self.remote)

    def process(self, unit: str):
        result = self.processor(unit)
        if not result.skipped:
            self.written.inc(result.written)
            self.quarantined.inc(result.quarantined)
        yield result.to_dict()


#: the command of a local SDK worker process: Beam's own (``-m apache_beam.runners.worker.sdk_worker_main``)
#: run by ``beam_worker``
WORKER_COMMAND = f"{shlex.quote(sys.executable)} -m pipelines.runners.beam_worker"  # run by a shell


def _given(flags: list[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in flags)


def pipeline_options(workers: int, args: list[str]) -> PipelineOptions:
    flags = list(args)
    if not _given(flags, "--runner"):
        flags.append("--runner=FnApiRunner")
        if not _given(flags, "--direct_num_workers"):
            flags.append(f"--direct_num_workers={workers}")
    return PipelineOptions(flags)


def local_runner(workers: int, args: list[str]) -> FnApiRunner | None:
    """The FnApiRunner with one ``beam_worker`` process per worker, unless the user chose a runner or a
    running mode (``None``: Beam builds the runner from the options, in-memory for one worker).

    What Beam's own multi-processing mode runs, started with ``WORKER_COMMAND`` instead: that mode
    would replace the environment given here by its built-in command."""
    if workers < 2 or _given(args, "--runner") or _given(args, "--direct_running_mode"):
        return None
    return FnApiRunner(default_environment=SubprocessSDKEnvironment.from_command_string(command_string=WORKER_COMMAND))


class _NotTheRunningModeWarning(logging.Filter):
    """The FnApiRunner warns that more than one worker needs a multi-processing running mode; with
    ``local_runner``'s worker processes the warning is wrong and would mislead whoever reads the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "direct_running_mode" not in record.getMessage()


#: exit status when a local Beam worker process died (EX_TEMPFAIL: rerunning resumes)
WORKER_DIED = 75


def _fail_fast_when_a_worker_dies() -> None:
    """The local FnApiRunner does not retry a bundle whose worker process died (SIGKILL, OOM killer):
    its thread raises and the pipeline then waits forever. Exit at once instead, saying so; finished
    units are kept and the dead worker's unit left no shard under a final name, so rerunning resumes."""
    previous = threading.excepthook
    if getattr(previous, "audioprep", False):
        return  # installed by an earlier run in this process

    def hook(args) -> None:
        if args.exc_type is RuntimeError and "Worker subprocess exited" in str(args.exc_value):
            sys.stderr.write(
                f"audioprep: a Beam worker process died ({args.exc_value}); the local FnApiRunner does not "
                "retry its bundle. Finished work units are kept: rerun the same command to resume.\n"
            )
            sys.stderr.flush()
            os._exit(WORKER_DIED)
        previous(args)

    hook.audioprep = True
    threading.excepthook = hook


def run(out: str, units: list[str], workers: int, options: dict) -> None:
    args = list(options.get("beam_args", []))
    if not _given(args, "--runner"):
        _fail_fast_when_a_worker_dies()
    runner = local_runner(workers, args)
    runner_log = logging.getLogger(FnApiRunner.__module__)
    quiet = _NotTheRunningModeWarning()
    if runner is not None:  # a running mode the user chose keeps Beam's warning about it
        runner_log.addFilter(quiet)
    try:
        with beam.Pipeline(runner=runner, options=pipeline_options(workers, args)) as pipeline:
            (
                pipeline
                | "Units" >> beam.Create(units)
                | "Reshuffle" >> beam.Reshuffle()
                | "PrepareAndShard" >> beam.ParDo(PrepareAndShard(out, options.get("remote")))
            )
    finally:
        runner_log.removeFilter(quiet)
