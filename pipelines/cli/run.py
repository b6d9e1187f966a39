"""``audioprep run``: the run the command line describes, resolved as the DAG resolves it
(``pipelines.core.run_request``), then planned, run on its engine under a progress bar, finalized."""
from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import typer

from pipelines.cli.corpora import DATASET_HELP, check_roots
from pipelines.cli.display import console, fail, ingest_progress, print_plan, print_summary, progress
from pipelines.core import outputs
from pipelines.core.config import DEFAULT_SHARD_MAX_BYTES, DEFAULT_SHARD_MAX_SAMPLES, MIN_SECONDS, EngineOptions, RunConfig

#: the options Beam's pipeline takes are not ours: they are passed through, after ``--``
PASS_BEAM_OPTIONS = {"allow_extra_args": True, "ignore_unknown_options": True}


def run(
    ctx: typer.Context,
    config_file: Optional[Path] = typer.Argument(None, metavar="[CONFIG.yaml]", help="A run config file (corpora, weights, output, engine); see docs/run-config.md."),
    dataset: List[str] = typer.Option([], "--dataset", "-d", help=DATASET_HELP),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Output folder or s3://bucket/prefix/: shards, index.json, summary.json, quarantine.jsonl."),
    work_dir: Optional[Path] = typer.Option(None, help="With an s3:// output: the local work folder (default: under ~/.cache/audioprep)."),
    endpoint_url: Optional[str] = typer.Option(None, help="S3-compatible endpoint (MinIO, Ceph, ...); default: AWS_ENDPOINT_URL, else AWS."),
    engine: Optional[str] = typer.Option(None, help="beam (Apache Beam), ray (Ray) or local (one process, for debugging). Default: beam, or ray with --ray-address."),
    workers: Optional[int] = typer.Option(None, help="Parallel workers for the local Beam runner or local Ray. Default: CPU count, at most one per pending work unit."),
    ray_address: Optional[str] = typer.Option(None, help="Run on this Ray cluster (ray://head:10001): the engine is then ray."),
    shard_max_bytes: int = typer.Option(DEFAULT_SHARD_MAX_BYTES, help="Roll over to a new shard before passing this size."),
    shard_max_samples: int = typer.Option(DEFAULT_SHARD_MAX_SAMPLES, help="At most this many samples per shard."),
    seed: int = typer.Option(0, help="Seed of the deterministic shuffle."),
    min_seconds: float = typer.Option(MIN_SECONDS, help="Quarantine clips shorter than this many seconds (too_short)."),
    plan_only: bool = typer.Option(False, "--plan", help="Ingest and print the planned hours per corpus and task, then stop."),
    overwrite: bool = typer.Option(False, help="Delete OUT first instead of resuming the run in it."),
    srwt: bool = typer.Option(False, "--srwt", help="Add an SRWT view (word timestamps) to every ASR window of each speech corpus whose schema gives word times or whose language has an aligner (docs/long-form.md)."),
    protect_origins: List[str] = typer.Option([], "--protect-origins", help="A file of origins (one a line) or another run's output: training records from those evaluation clips are quarantined (eval_leak; docs/leakage.md)."),
    allow_empty: List[str] = typer.Option([], "--allow-empty", metavar="NAME", help="Corpus NAME may yield no record (any other corpus that yields none fails the run before any audio is read)."),
    ctc_model: List[str] = typer.Option([], "--ctc-model", help="LANG=MODEL.pt: a TorchScript CTC model (tokens.txt beside it) aligning that language for --srwt; needs the ctc extra."),
) -> None:
    """Ingest, prepare audio, tag and shard corpora, then write the index and summary.

    Give the corpora as a run config file or as --dataset flags; the options given override the
    file's values. Rerunning the same command resumes: finished work units are skipped. Standard
    Apache Beam pipeline options go after `--` (e.g. `-- --runner=FlinkRunner --flink_master=host:8081`).
    """
    from pipelines.core.run_config import RunConfigError
    from pipelines.core.run_request import RunRequest, resolve
    from pipelines.finalize.collect import finalize

    beam_args = list(ctx.args)
    if config_file is not None and str(config_file).startswith("-"):
        # a pipeline option after `--` lands in the CONFIG argument when no config file is given
        beam_args.insert(0, str(config_file))
        config_file = None
    request = RunRequest(
        config_file=None if config_file is None else str(config_file), corpora=tuple(dataset), out=out,
        engine=engine, workers=workers, ray_address=ray_address, beam_args=tuple(beam_args),
        work_dir=None if work_dir is None else str(work_dir), ctc_models=tuple(ctc_model), allow_empty=tuple(allow_empty),
        protected_origins=tuple(protect_origins),
        **_given(ctx, seed=seed, shard_max_bytes=shard_max_bytes, shard_max_samples=shard_max_samples, min_seconds=min_seconds),
    )
    try:
        config, options = resolve(request)
    except RunConfigError as exc:
        fail(str(exc))
    if srwt:
        config = _with_srwt_views(config)
    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url  # read by boto3 here and in every worker
    for spec in config.datasets:
        check_roots(spec)
    _check_aligners(config)
    _clear_output(config, overwrite)
    from pipelines.runners import engine_session

    with engine_session(config, options):  # on Ray: one start for the ingest tasks and the units
        plan = _plan(config, options)
        print_plan(plan)
        if plan_only:
            return
        _prepare_and_shard(config, options, plan.units)
    summary = finalize(config.local_out, config.remote)
    print_summary(summary)
    if not summary["balanced"]:
        fail("the counts do not balance: input != written + quarantined + excluded", code=1)


def _given(ctx: typer.Context, **values) -> dict:
    """The options the user gave: the others keep a run config file's values (their defaults, shown
    in the help, are also ``RunConfig``'s)."""
    # (typer carries its own copy of click: its ParameterSource is compared by name)
    return {name: value for name, value in values.items() if ctx.get_parameter_source(name).name != "DEFAULT"}


def _with_srwt_views(config: RunConfig) -> RunConfig:
    """--srwt: SRWT on for every speech corpus that ships word times or whose language has an aligner
    (English, and the languages of the run's CTC models)."""
    from schemas.loader import SchemaError, load

    from pipelines.prepare.timestamps import srwt_capable

    languages = frozenset({"en", *config.ctc_models})
    specs = []
    for spec in config.datasets:
        try:
            capable = srwt_capable(load(spec.schema), languages)
        except SchemaError as exc:
            fail(str(exc))
        specs.append(replace(spec, srwt=spec.srwt or capable))
        if capable:
            console.print(f"[dim]SRWT views for {spec.name}[/]")
    return replace(config, datasets=tuple(specs))


def _check_aligners(config: RunConfig) -> None:
    """Fail before any work when a corpus with SRWT on needs an aligner that is not installed."""
    if not any(spec.srwt for spec in config.datasets):
        return
    from schemas.loader import load

    from pipelines.prepare.align import AlignError
    from pipelines.prepare.timestamps import check_aligners

    try:
        check_aligners(config, {spec.name: load(spec.schema) for spec in config.datasets})
    except AlignError as exc:
        fail(str(exc))


def _clear_output(config: RunConfig, overwrite: bool) -> None:
    """--overwrite: delete a local output folder first (a bucket's objects are never deleted)."""
    if overwrite and config.remote:
        fail("--overwrite does not delete objects in a bucket: choose a new s3:// prefix instead")
    if overwrite and os.path.exists(config.out):
        shutil.rmtree(config.out)


def _plan(config: RunConfig, options: EngineOptions):
    """Ingest (its tasks on the run's engine when ``engine_runs_ingest``, else side by side in
    processes up to the workers and this machine's cores; the local engine is one process by
    design), weight and partition, showing what ingest reads; the engine's own output goes to its log."""
    from schemas.loader import SchemaError

    from pipelines.core.remote import RemoteError
    from pipelines.plan.model import PlanError
    from pipelines.plan.planner import make_plan
    from pipelines.runners import engine_output_to, engine_runs_ingest, ingest_executor

    cores = os.cpu_count() or 1
    processes = 1 if options.engine == "local" else min(options.workers or cores, cores)
    run_tasks = ingest_executor(config, options) if engine_runs_ingest(options) else None
    try:
        engine = engine_output_to(outputs.engine_log_path(config.local_out)) if run_tasks else contextlib.nullcontext()
        with ingest_progress() as seen, engine:
            return make_plan(config, progress=lambda msg: console.print(f"[dim]{msg}[/]"), processes=processes, seen=seen,
                             run_tasks=run_tasks)
    except (SchemaError, PlanError, FileNotFoundError, RemoteError) as exc:
        fail(str(exc))


def _prepare_and_shard(config: RunConfig, options: EngineOptions, units: list[str]) -> None:
    """The units on the engine, under a progress bar; the engine's own output goes to its log."""
    from pipelines.core.remote import RemoteError
    from pipelines.prepare.shards import ShardWriteError
    from pipelines.runners import engine_output_to, run_units, watch_progress

    local = config.local_out
    with progress() as bar:
        task = bar.add_task(f"prepare and shard ({options.engine})", total=len(units))
        stop = watch_progress(local, units, lambda done: bar.update(task, completed=done))
        engine_log = outputs.engine_log_path(local)
        try:
            with engine_output_to(engine_log):
                run_units(config, options, units)
        except RemoteError as exc:
            fail(f"{exc}\nnothing incomplete was published; rerun the same command to resume", code=1)
        except ShardWriteError as exc:  # disk full, file size limit: the message says no shard was published
            fail(str(exc), code=1)
        except BaseException:
            console.print(f"[dim]the engine's own output is in {engine_log}[/]", highlight=False, soft_wrap=True)
            raise
        finally:
            stop()
