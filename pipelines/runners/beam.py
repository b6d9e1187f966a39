"""Apache Beam adapter: units -> Reshuffle -> PrepareAndShard.

Locally it uses the FnApiRunner in multi-processing mode (the DirectRunner would first try to
download the Prism binary); any standard pipeline option given by the user (``--runner=FlinkRunner``,
``--flink_master=...``, ``--runner=DataflowRunner --project=...``) is passed through unchanged.
"""
from __future__ import annotations

import os
import sys
import threading

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

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


def pipeline_options(workers: int, args: list[str]) -> PipelineOptions:
    flags = list(args)
    if not any(a.startswith("--runner") for a in flags):
        flags.append("--runner=FnApiRunner")
        if not any(a.startswith("--direct_running_mode") for a in flags):
            flags.append("--direct_running_mode=multi_processing" if workers > 1 else "--direct_running_mode=in_memory")
        if not any(a.startswith("--direct_num_workers") for a in flags):
            flags.append(f"--direct_num_workers={workers}")
    return PipelineOptions(flags)


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
    if not any(a.startswith("--runner") for a in options.get("beam_args", [])):
        _fail_fast_when_a_worker_dies()
    with beam.Pipeline(options=pipeline_options(workers, options.get("beam_args", []))) as pipeline:
        (
            pipeline
            | "Units" >> beam.Create(units)
            | "Reshuffle" >> beam.Reshuffle()
            | "PrepareAndShard" >> beam.ParDo(PrepareAndShard(out, options.get("remote")))
        )
