"""Apache Beam adapter: items (units, ingest tasks) -> Reshuffle -> the step that runs them (PrepareAndShard, Ingest).

Locally it uses the FnApiRunner (the DirectRunner would first try to download the Prism binary):
with one worker the units run in this process (Beam's in-memory mode), with more in Beam's
multi-threading mode, one SDK harness per worker in a thread of this process. A unit's CPU is the
codecs' (soundfile, soxr, FLAC), which release the interpreter lock: two threads run two units side
by side, and a run starts no worker process (whose imports the threads share; bench/README.md,
"Beam's workers are threads"). Any standard pipeline option given by the user
(``--runner=FlinkRunner``, ``--flink_master=...``, ``--runner=DataflowRunner --project=...``,
``--direct_running_mode=multi_processing`` for a process per worker) is passed through unchanged.
"""
from __future__ import annotations

import os
import sys
import threading

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions


class Process(beam.DoFn):
    """One worker's processor (``make(out)``: a ``UnitProcessor``, an ingest ``TaskRunner``), called
    per item; the counts of each result it did not skip become the pipeline's metrics."""

    def __init__(self, make, out: str):
        self.make, self.out = make, out
        self.processor = None

    def setup(self):
        self.processor = self.make(self.out)

    def process(self, item: str):
        result = self.processor(item).to_dict()
        if not result.get("skipped"):
            for name, value in result.items():
                if type(value) is int:
                    Metrics.counter("audioprep", name).inc(value)
        yield result


def _given(flags: list[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in flags)


def pipeline_options(workers: int, args: list[str]) -> PipelineOptions:
    """The user's Beam options, completed for a local run unless they choose a runner: the
    FnApiRunner with ``workers`` workers, as threads of this process when there are several (unless
    they choose a running mode, e.g. ``--direct_running_mode=multi_processing``)."""
    flags = list(args)
    if not _given(args, "--runner"):
        flags.append("--runner=FnApiRunner")
        chosen = _given(args, "--direct_num_workers")
        if not chosen:
            flags.append(f"--direct_num_workers={workers}")
        if (workers > 1 or chosen) and not _given(args, "--direct_running_mode"):
            flags.append("--direct_running_mode=multi_threading")
    return PipelineOptions(flags)


#: exit status when a local Beam worker process died (EX_TEMPFAIL: rerunning resumes)
WORKER_DIED = 75


def _fail_fast_when_a_worker_dies() -> None:
    """With a process per worker (``--direct_running_mode=multi_processing``), the local FnApiRunner
    does not retry a bundle whose worker process died (SIGKILL, OOM killer): its thread raises and
    the pipeline then waits forever. Exit at once instead, saying so; finished units are kept and the
    dead worker's unit left no shard under a final name, so rerunning resumes."""
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


def run(make, items: list[str], workers: int, options: dict, label: str = "PrepareAndShard") -> None:
    args = list(options.get("beam_args", []))
    if not _given(args, "--runner"):
        _fail_fast_when_a_worker_dies()
    with beam.Pipeline(options=pipeline_options(workers, args)) as pipeline:
        (
            pipeline
            | "Items" >> beam.Create(items)
            | "Reshuffle" >> beam.Reshuffle()
            | label >> beam.ParDo(Process(make, options["out"]))
        )
