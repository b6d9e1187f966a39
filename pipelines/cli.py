"""The ``audioprep`` command line."""
from __future__ import annotations

import itertools
import os
import shutil
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import outputs
from .config import DEFAULT_SHARD_MAX_BYTES, DEFAULT_SHARD_MAX_SAMPLES, DatasetSpec, RunConfig

app = typer.Typer(
    help="Turn public audio corpora into Qwen-Audio style multi-task WebDataset shards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="Check dataset schemas and list the built-in ones.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
console = Console(stderr=True)
DATASET_HELP = "NAME=ROOT: a built-in schema name (or NAME:SCHEMA_FILE) and the corpus root as unpacked. Repeat per corpus."


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _specs(datasets: list[str]) -> tuple[DatasetSpec, ...]:
    if not datasets:
        _fail("give at least one --dataset NAME=ROOT")
    try:
        specs = tuple(DatasetSpec.parse(d) for d in datasets)
    except ValueError as exc:
        _fail(str(exc))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        _fail(f"dataset names must be unique: {', '.join(names)}")
    for spec in specs:
        if not os.path.isdir(spec.root):
            _fail(f"corpus root {spec.root} for dataset {spec.name!r} is not a directory")
    return specs


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False, disable=not console.is_terminal and os.environ.get("AUDIOPREP_PROGRESS") != "1",
    )


@app.command()
def demo(directory: Path = typer.Argument(..., help="Folder to write the demo corpora into.")) -> None:
    """Write small demo corpora (LibriSpeech, Clotho, CochlScene) in their genuine layouts."""
    from .demo import write_demo

    roots = write_demo(str(directory))
    for name, root in roots.items():
        console.print(f"{name}: {root}")
    flags = " ".join(f"--dataset {n}={r}" for n, r in roots.items())
    console.print(f"next: audioprep run {flags} --out out/ --engine ray")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    dataset: List[str] = typer.Option([], "--dataset", "-d", help=DATASET_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: shards, index.json, summary.json, quarantine.jsonl."),
    engine: str = typer.Option("ray", help="beam (Apache Beam), ray (Ray Data) or local (one process, for debugging)."),
    workers: int = typer.Option(max(1, os.cpu_count() or 1), help="Parallel workers for the local Beam runner or local Ray."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster instead of starting a local one."),
    shard_max_bytes: int = typer.Option(DEFAULT_SHARD_MAX_BYTES, help="Roll over to a new shard before passing this size."),
    shard_max_samples: int = typer.Option(DEFAULT_SHARD_MAX_SAMPLES, help="At most this many samples per shard."),
    seed: int = typer.Option(0, help="Seed of the deterministic shuffle."),
    overwrite: bool = typer.Option(False, help="Delete OUT first instead of resuming the run in it."),
) -> None:
    """Ingest, prepare audio, tag and shard the given corpora, then write the index and summary.

    Rerunning with the same arguments resumes: finished work units are skipped. Standard Apache Beam
    pipeline options go after `--` (e.g. `-- --runner=FlinkRunner --flink_master=host:8081`).
    """
    from .finalize import finalize
    from .plan import PlanError, make_plan
    from .runners import ENGINES, run_units, watch_progress

    if engine not in ENGINES:
        _fail(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    specs = _specs(dataset)
    if shard_max_bytes < 1 << 16 or shard_max_samples < 1:
        _fail("--shard-max-bytes must be at least 65536 and --shard-max-samples at least 1")
    if overwrite and out.exists():
        shutil.rmtree(out)
    config = RunConfig(datasets=specs, out=str(out), seed=seed, shard_max_bytes=shard_max_bytes, shard_max_samples=shard_max_samples)
    from schemas.loader import SchemaError

    try:
        plan = make_plan(config, progress=lambda msg: console.print(f"[dim]{msg}[/]"))
    except (SchemaError, PlanError, FileNotFoundError) as exc:
        _fail(str(exc))
    options = {"beam_args": list(ctx.args), "ray_address": ray_address}
    with _progress() as progress:
        task = progress.add_task(f"prepare and shard ({engine})", total=len(plan.units))
        stop = watch_progress(str(out), plan.units, lambda done: progress.update(task, completed=done))
        try:
            run_units(engine, str(out), plan.units, workers, options)
        finally:
            stop()
    summary = finalize(str(out))
    _print_summary(summary)
    if not summary["balanced"]:
        _fail("the counts do not balance: input != written + quarantined", code=1)


def _print_summary(summary: dict) -> None:
    table = Table(title="records", show_lines=False)
    for column in ("dataset", "input", "written", "quarantined"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    for name, counts in summary["datasets"].items():
        table.add_row(name, str(counts["input"]), str(counts["written"]), str(counts["quarantined"]))
    table.add_row("[bold]all", str(summary["input"]), str(summary["written"]), str(summary["quarantined"]))
    console.print(table)
    console.print(f"{summary['shards']} shards, {summary['seconds'] / 3600:.3f} h of audio")
    if summary["quarantine_reasons"]:
        reasons = Table(title="quarantined, by reason (details in quarantine.jsonl)")
        reasons.add_column("dataset/stage/reason")
        reasons.add_column("records", justify="right")
        for reason, count in summary["quarantine_reasons"].items():
            reasons.add_row(reason, str(count))
        console.print(reasons)


@app.command()
def verify(out: Path = typer.Argument(..., help="A run's output folder.")) -> None:
    """Re-read every shard: checksums against the index, tar structure, audio, tags, counts."""
    from .atomic import read_json
    from .verify import verify as verify_run

    index = os.path.join(out, outputs.INDEX)
    total = len(read_json(index)["shards"]) if os.path.exists(index) else 0
    with _progress() as progress:
        task = progress.add_task("verify shards", total=total)
        report = verify_run(str(out), advance=lambda n: progress.advance(task, n))
    for problem in report.problems:
        console.print(f"[red]✗[/] {problem}", highlight=False)
    status = "[green]OK[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]"
    console.print(f"{status}: {report.shards} shards, {report.samples} samples, {report.seconds / 3600:.3f} h")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def ingest(
    dataset: List[str] = typer.Option([], "--dataset", "-d", help=DATASET_HELP),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write manifests/NAME.parquet here."),
    dry_run: bool = typer.Option(False, help="Write nothing; print the first records with their tags and every problem."),
    limit: int = typer.Option(20, help="With --dry-run: how many records to print."),
) -> None:
    """Read corpora into canonical records (a Parquet manifest per dataset) without decoding audio."""
    from schemas.loader import SchemaError, load

    from .ingest import ingest as ingest_records
    from .plan import ingest_dataset
    from .record import Drop
    from .stages import Sample, clean_text, make_tagger

    specs = _specs(dataset)
    if not dry_run and out is None:
        _fail("give --out (or --dry-run)")
    for spec in specs:
        try:
            schema = load(spec.schema)
        except SchemaError as exc:
            _fail(str(exc))
        if not dry_run:
            counts = ingest_dataset(spec, str(out))
            console.print(f"{spec.name}: {counts['records']} records, {counts['drops']} quarantined -> {outputs.manifest_path(str(out), spec.name)}")
            continue
        tagger = make_tagger({spec.name: schema})
        shown, problems, total = 0, 0, 0
        for item in ingest_records(schema, spec.name, spec.root):
            total += 1
            if not isinstance(item, Drop):
                item = tagger(clean_text(Sample(item)))
            if isinstance(item, Drop):
                problems += 1
                console.print(f"[red]{item.reason}[/] {item.detail}", highlight=False)
            elif shown < limit:
                shown += 1
                console.print(f"[bold]{item.record.key}[/] ({item.record.split}, {item.record.role}) {item.record.audio}", highlight=False)
                for view in item.views:
                    console.print(f"    {view.prompt}{view.target}", highlight=False, markup=False)
        console.print(f"{spec.name}: {total} rows, {problems} problem(s)")


@schema_app.command("validate")
def schema_validate(files: List[str] = typer.Argument(..., help="Schema files or built-in names.")) -> None:
    """Validate schemas and run the worked examples written inside them."""
    from schemas.loader import SchemaError, load

    from .ingest import run_example

    failed = False
    for name in files:
        try:
            schema = load(name)
        except SchemaError as exc:
            console.print(f"[red]✗[/] {exc}", highlight=False)
            failed = True
            continue
        problems = list(itertools.chain.from_iterable(run_example(schema, e) for e in schema.examples))
        for problem in problems:
            console.print(f"[red]✗[/] {name}: {problem}", highlight=False)
        failed |= bool(problems)
        if not problems:
            console.print(f"[green]✓[/] {name}: valid, {len(schema.examples)} example(s) hold", highlight=False)
    if failed:
        raise typer.Exit(1)


@schema_app.command("jsonschema")
def schema_jsonschema() -> None:
    """Print the JSON Schema of dataset schema files (for editor completion and checks)."""
    from schemas.loader import json_schema

    sys.stdout.write(json_schema() + "\n")


@schema_app.command("list")
def schema_list() -> None:
    """List the built-in dataset schemas."""
    from schemas.loader import builtin_names, load

    for name in builtin_names():
        schema = load(name)
        tasks = ", ".join(t.task for t in schema.tasks)
        sys.stdout.write(f"{name}\t{schema.license}\t{tasks}\n")


if __name__ == "__main__":
    app()
