"""The ``audioprep`` command line."""
from __future__ import annotations

import gc
import itertools
import os
import shutil
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.core import outputs
from pipelines.core.process import prefer_system_allocator
from pipelines.core.config import (
    DEFAULT_SHARD_MAX_BYTES,
    DEFAULT_SHARD_MAX_SAMPLES,
    DatasetSpec,
    MIN_SECONDS,
    EngineOptions,
    RunConfig,
)

app = typer.Typer(
    help="Turn public audio corpora into Qwen-Audio style multi-task WebDataset shards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="Check dataset schemas and list the built-in ones.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
text_app = typer.Typer(help="Show how transcripts are normalized and language-checked.", no_args_is_help=True)
app.add_typer(text_app, name="text")
console = Console(stderr=True)
DATASET_HELP = (
    "NAME=ROOT: a built-in schema name (or NAME:SCHEMA_FILE) and the corpus root as unpacked; a schema that "
    "declares extra roots takes them after commas: covost2=ROOT,common_voice=PATH. Repeat per corpus."
)


def _fail(message: str, code: int = 2) -> None:
    # one line, wrapped by the terminal: a path broken by a hard line break cannot be copied
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
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
        _check_roots(spec)
    return specs


def _check_roots(spec: DatasetSpec) -> None:
    """Local roots must be folders; s3:// roots are checked when they are listed."""
    from pipelines.core.remote import is_remote

    if not is_remote(spec.root) and not os.path.isdir(spec.root):
        _fail(f"corpus root {spec.root} for dataset {spec.name!r} is not a directory")
    for extra, path in spec.roots.items():
        if not is_remote(path) and not os.path.isdir(path):
            _fail(f"extra root {extra}={path} for dataset {spec.name!r} is not a directory")


def _show_progress() -> bool:
    return console.is_terminal or os.environ.get("AUDIOPREP_PROGRESS") == "1"


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False, disable=not _show_progress(),
    )


@contextmanager
def _ingest_progress() -> Iterator[Callable[[str, int], None]]:
    """A line per dataset counting the metadata items its ingest has read (no total is known before
    the end). Redrawn only when a count arrives, from the planning thread: no display thread runs,
    so corpora are still ingested in forked processes."""
    display = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,.0f} items"), TimeElapsedColumn(),
        console=console, transient=False, auto_refresh=False, disable=not _show_progress(),
    )
    tasks: dict[str, int] = {}

    def seen(name: str, count: int) -> None:
        if name not in tasks:
            tasks[name] = display.add_task(f"ingest {name}", total=None)
        display.update(tasks[name], completed=count)
        display.refresh()

    with display:
        yield seen


@app.command()
def demo(directory: Path = typer.Argument(..., help="Folder to write the demo corpora into.")) -> None:
    """Write small demo corpora (LibriSpeech, Clotho, CochlScene) in their genuine layouts."""
    from pipelines.demo import write_demo

    roots = write_demo(str(directory))
    for name, root in roots.items():
        console.print(f"{name}: {root}")
    flags = " ".join(f"--dataset {n}={r}" for n, r in roots.items())
    console.print(f"next: audioprep run {flags} --out out/")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    config_file: Optional[Path] = typer.Argument(None, metavar="[CONFIG.yaml]", help="A run config file (corpora, weights, output, engine); see docs/run-config.md."),
    dataset: List[str] = typer.Option([], "--dataset", "-d", help=DATASET_HELP),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Output folder or s3://bucket/prefix/: shards, index.json, summary.json, quarantine.jsonl."),
    work_dir: Optional[Path] = typer.Option(None, help="With an s3:// output: the local work folder (default: under ~/.cache/audioprep)."),
    endpoint_url: Optional[str] = typer.Option(None, help="S3-compatible endpoint (MinIO, Ceph, ...); default: AWS_ENDPOINT_URL, else AWS."),
    engine: Optional[str] = typer.Option(None, help="beam (Apache Beam), ray (Ray Data) or local (one process, for debugging). Default: beam, or ray with --ray-address."),
    workers: Optional[int] = typer.Option(None, help="Parallel workers for the local Beam runner or local Ray. Default: CPU count."),
    ray_address: Optional[str] = typer.Option(None, help="Run on this Ray cluster (ray://head:10001): the engine is then ray."),
    shard_max_bytes: int = typer.Option(DEFAULT_SHARD_MAX_BYTES, help="Roll over to a new shard before passing this size."),
    shard_max_samples: int = typer.Option(DEFAULT_SHARD_MAX_SAMPLES, help="At most this many samples per shard."),
    seed: int = typer.Option(0, help="Seed of the deterministic shuffle."),
    min_seconds: float = typer.Option(MIN_SECONDS, help="Quarantine clips shorter than this many seconds (too_short)."),
    plan_only: bool = typer.Option(False, "--plan", help="Ingest and print the planned hours per corpus and task, then stop."),
    overwrite: bool = typer.Option(False, help="Delete OUT first instead of resuming the run in it."),
    srwt: bool = typer.Option(False, "--srwt", help="Add an SRWT view (word timestamps) to every ASR window of each speech corpus whose schema gives word times or whose language has an aligner (docs/long-form.md)."),
    ctc_model: List[str] = typer.Option([], "--ctc-model", help="LANG=MODEL.pt: a TorchScript CTC model (tokens.txt beside it) aligning that language for --srwt; needs the ctc extra."),
) -> None:
    """Ingest, prepare audio, tag and shard corpora, then write the index and summary.

    Give the corpora as a run config file or as --dataset flags. Rerunning the same command resumes:
    finished work units are skipped. Standard Apache Beam pipeline options go after `--`
    (e.g. `-- --runner=FlinkRunner --flink_master=host:8081`).
    """
    from schemas.loader import SchemaError

    from pipelines.finalize.collect import finalize
    from pipelines.plan.model import PlanError
    from pipelines.plan.planner import make_plan
    from pipelines.core.remote import RemoteError
    from pipelines.core.run_config import RunConfigError, load_run_config
    from pipelines.runners import engine_output_to, run_units, watch_progress
    from pipelines.prepare.shards import ShardWriteError

    beam_args = list(ctx.args)
    if config_file is not None and str(config_file).startswith("-"):
        # a pipeline option after `--` lands in the CONFIG argument when no config file is given
        beam_args.insert(0, str(config_file))
        config_file = None
    if config_file is not None:
        if dataset:
            _fail("give either a run config file or --dataset flags, not both")
        try:
            config, options = load_run_config(config_file)
        except (RunConfigError, OSError) as exc:
            _fail(str(exc))
        if out is not None:
            config = replace(config, out=out)
    else:
        if out is None:
            _fail("give --out (or a run config file)")
        if shard_max_bytes < 1 << 16 or shard_max_samples < 1:
            _fail("--shard-max-bytes must be at least 65536 and --shard-max-samples at least 1")
        config = RunConfig(
            datasets=_specs(dataset), out=out, seed=seed, shard_max_bytes=shard_max_bytes, shard_max_samples=shard_max_samples,
            min_seconds=min_seconds,
        )
        options = EngineOptions(workers=max(1, os.cpu_count() or 1))
    try:
        options = options.overridden(engine, workers, ray_address, tuple(beam_args))
    except ValueError as exc:
        _fail(str(exc))
    if work_dir is not None:
        config = replace(config, work_dir=str(work_dir))
    if srwt or ctc_model:
        config = _with_srwt(config, srwt, ctc_model)
    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url  # read by boto3 here and in every worker
    for spec in config.datasets:
        _check_roots(spec)
    if overwrite and config.remote:
        _fail("--overwrite does not delete objects in a bucket: choose a new s3:// prefix instead")
    if overwrite and os.path.exists(config.out):
        shutil.rmtree(config.out)
    try:
        # datasets are ingested side by side, one process each, up to the workers and this machine's
        # cores (the local engine is one process by design)
        processes = 1 if options.engine == "local" else min(options.workers, os.cpu_count() or 1)
        with _ingest_progress() as seen:
            plan = make_plan(config, progress=lambda msg: console.print(f"[dim]{msg}[/]"), processes=processes, seen=seen)
    except (SchemaError, PlanError, FileNotFoundError, RemoteError) as exc:
        _fail(str(exc))
    _print_plan(plan)
    if plan_only:
        return
    local = config.local_out
    engine_options = {"beam_args": list(options.beam_args), "ray_address": options.ray_address, "remote": config.remote}
    with _progress() as progress:
        task = progress.add_task(f"prepare and shard ({options.engine})", total=len(plan.units))
        stop = watch_progress(local, plan.units, lambda done: progress.update(task, completed=done))
        engine_log = outputs.engine_log_path(local)
        try:
            with engine_output_to(engine_log):
                run_units(options.engine, local, plan.units, options.workers, engine_options)
        except RemoteError as exc:
            _fail(f"{exc}\nnothing incomplete was published; rerun the same command to resume", code=1)
        except ShardWriteError as exc:  # disk full, file size limit: the message says no shard was published
            _fail(str(exc), code=1)
        except BaseException:
            console.print(f"[dim]the engine's own output is in {engine_log}[/]", highlight=False, soft_wrap=True)
            raise
        finally:
            stop()
    summary = finalize(local, config.remote)
    _print_summary(summary)
    if not summary["balanced"]:
        _fail("the counts do not balance: input != written + quarantined + excluded", code=1)


def _with_srwt(config: RunConfig, srwt: bool, ctc_model: list[str]) -> RunConfig:
    """--srwt: SRWT on for every speech corpus that ships word times or whose language has an aligner."""
    from schemas.loader import SchemaError, load

    from pipelines.prepare.timestamps import srwt_capable

    models = dict(config.ctc_models)
    for item in ctc_model:
        language, sep, path = item.partition("=")
        if not sep or not language or not os.path.isfile(path):
            _fail(f"--ctc-model {item!r}: expected LANG=MODEL_FILE with an existing file, e.g. zh=/models/mms-zh.pt")
        models[language] = path
    config = replace(config, ctc_models=models)
    if not srwt:
        return config
    languages = frozenset({"en", *models})
    specs = []
    for spec in config.datasets:
        try:
            capable = srwt_capable(load(spec.schema), languages)
        except SchemaError as exc:
            _fail(str(exc))
        specs.append(replace(spec, srwt=spec.srwt or capable))
        if capable:
            console.print(f"[dim]SRWT views for {spec.name}[/]")
    return replace(config, datasets=tuple(specs))


def _print_plan(plan) -> None:
    table = Table(title="planned mix (hours; training data weighted, evaluation data as is)")
    for column in ("dataset", "available train h", "factor", "train h", "train samples", "eval h", "eval samples"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    tasks: dict[str, float] = {}
    for name, mix in plan.mix.items():
        table.add_row(
            name, f"{mix['available_train_hours']:.3f}", f"{mix['factor']:.3f}", f"{mix.get('train_hours', 0):.3f}",
            str(mix.get("train_samples", 0)), f"{mix.get('eval_hours', 0):.3f}", str(mix.get("eval_samples", 0)),
        )
        for key, hours in mix.items():
            if key.startswith("task:"):
                tasks[key[5:]] = tasks.get(key[5:], 0.0) + hours
    console.print(table)
    by_task = Table(title="planned hours per task (training and evaluation)")
    by_task.add_column("task")
    by_task.add_column("hours", justify="right")
    for name, hours in sorted(tasks.items()):
        by_task.add_row(name, f"{hours:.3f}")
    console.print(by_task)
    unknown = {n: m["unknown_durations"] for n, m in plan.mix.items() if m.get("unknown_durations")}
    if unknown:
        console.print(f"[yellow]durations unknown before decoding (not in the hours above):[/] {unknown}")


def _print_summary(summary: dict) -> None:
    table = Table(title="records (input = written + quarantined + excluded by weighting)", show_lines=False)
    columns = ("input", "written", "quarantined", "excluded", "samples")
    table.add_column("dataset")
    for column in columns:
        table.add_column(column, justify="right")
    for name, counts in summary["datasets"].items():
        table.add_row(name, *(str(counts.get(c, 0)) for c in columns))
    table.add_row("[bold]all", *(str(summary.get(c, 0)) for c in columns))
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
def verify(
    out: str = typer.Argument(..., help="A run's output folder or s3://bucket/prefix/."),
    endpoint_url: Optional[str] = typer.Option(None, help="S3-compatible endpoint; default: AWS_ENDPOINT_URL, else AWS."),
) -> None:
    """Re-read every shard: checksums against the index, tar structure, audio, tags, counts."""
    from pipelines.core.atomic import read_json
    from pipelines.finalize.verify import verify as verify_run

    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    index = os.path.join(out, outputs.INDEX)
    total = len(read_json(index)["shards"]) if os.path.exists(index) else None
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
def export(
    out: str = typer.Argument(..., help="A finished run's output folder or s3://bucket/prefix/."),
    fmt: str = typer.Option(..., "--format", "-f", help="qwen-audio-eval, ms-swift, llama-factory or chatml (docs/exports.md)."),
    to: str = typer.Option(..., "--to", help="Export folder or s3://bucket/prefix/: JSONL files and audio/."),
    sets: List[str] = typer.Option([], "--set", help="Only this set (train, eval/NAME/SPLIT); repeatable. Default: every set the format takes."),
    absolute_paths: bool = typer.Option(False, "--absolute-paths", help="Audio paths in rows absolute (or s3:// URIs) instead of relative to --to."),
    rows_per_file: int = typer.Option(100_000, help="Rows per JSONL part of a set (the chat formats)."),
    work_dir: Optional[Path] = typer.Option(None, help="With an s3:// destination: the local work folder (default: under ~/.cache/audioprep)."),
    endpoint_url: Optional[str] = typer.Option(None, help="S3-compatible endpoint; default: AWS_ENDPOINT_URL, else AWS."),
) -> None:
    """Export a finished run for a training or evaluation framework (provisional wiring: pipelines/export/command.py)."""
    from pipelines.export.command import ExportFailed
    from pipelines.export.command import export as export_run
    from pipelines.reader.shards import RunError

    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    try:
        summary = export_run(out, fmt, to, sets=sets or None, absolute_paths=absolute_paths, rows_per_file=rows_per_file,
                             workdir=str(work_dir) if work_dir else None)
    except (ExportFailed, RunError) as exc:
        _fail(str(exc))
    for name, counts in summary["sets"].items():
        console.print(f"{name}: {counts['samples']} samples, {counts['rows']} rows", highlight=False)
    audio = summary["audio_files"]
    console.print(f"[green]OK[/]: {fmt} in {to} ({audio['written']} audio files written, {audio['already_there']} already there)", highlight=False)


@app.command()
def stats(
    out: Path = typer.Argument(..., help="A finished run's output folder."),
    compare: Optional[Path] = typer.Option(None, "--compare", help="A baseline run: show what changed from it to OUT."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML page with plots here."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write every statistic as JSON here."),
    top: int = typer.Option(20, help="How many tag sequences the tables show."),
    min_task_hours: float = typer.Option(1.0, help="Warn about a task with fewer hours of training audio."),
    min_label_examples: int = typer.Option(5, help="Warn about a label with fewer training examples."),
    max_quarantine_rate: float = typer.Option(0.05, help="Warn about a corpus that quarantines a larger share of its records."),
    max_language_mismatch: float = typer.Option(0.05, help="Warn about a corpus whose detected language differs more often."),
    eval_split_pattern: Optional[str] = typer.Option(None, help="Regex of split names that must not reach training shards (default: test/eval/evaluation)."),
    fail_on_warnings: bool = typer.Option(False, help="Exit with status 1 when any warning fires."),
) -> None:
    """Hours, tasks, languages, tag sequences, labels and quarantine of a run, from its index and stats (no audio read)."""
    from pipelines.core.atomic import write_json
    from rich.text import Text

    from pipelines.report.stats import (
        EVAL_SPLIT_PATTERN,
        StatsError,
        Thresholds,
        build_report,
        load_run,
        sections,
    )

    try:
        limits = Thresholds(min_task_hours, min_label_examples, max_quarantine_rate, max_language_mismatch, eval_split_pattern or EVAL_SPLIT_PATTERN)
        report = build_report(load_run(str(out)), limits, load_run(str(compare)) if compare else None)
    except StatsError as exc:
        _fail(str(exc))
    parts = sections(report, top)
    terminal = Console()
    for section in parts:
        terminal.rule(f"[bold]{section.title}")
        if section.note:
            terminal.print(f"[dim]{section.note}[/]", highlight=False)
        for table in section.tables:
            view = Table(title=table.title, title_justify="left")
            for column, align in zip(table.columns, table.alignment()):
                view.add_column(column, justify="right" if align == "r" else "left", overflow="fold")
            for row in table.rows:
                view.add_row(*(Text(cell) for cell in row))  # cells are data, never rich markup
            terminal.print(view)
    if json_path:
        write_json(str(json_path), report)
        console.print(f"statistics: {json_path}")
    if html:
        from pipelines.report.html import write_html

        write_html(str(html), parts, "audioprep stats", f"{out}" + (f", compared with {compare}" if compare else ""))
        console.print(f"report: {html}")
    if report["warnings"] and fail_on_warnings:
        _fail(f"{len(report['warnings'])} warning(s)", code=1)


@app.command()
def ingest(
    dataset: List[str] = typer.Option([], "--dataset", "-d", help=DATASET_HELP),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write manifests/NAME.parquet here."),
    dry_run: bool = typer.Option(False, help="Write nothing; print the first records with their tags and every problem."),
    limit: int = typer.Option(20, help="With --dry-run: how many records to print."),
) -> None:
    """Read corpora into canonical records (a Parquet manifest per dataset) without decoding audio."""
    from schemas.loader import SchemaError, load

    from pipelines.ingest.corpus import ingest as ingest_records
    from pipelines.ingest.manifest import ingest_dataset
    from pipelines.core.record import Drop
    from pipelines.prepare.stages import Sample, check_language, make_tagger
    from pipelines.ingest.windows import pack_windows

    specs = _specs(dataset)
    if not dry_run and out is None:
        _fail("give --out (or --dry-run)")
    for spec in specs:
        try:
            schema = load(spec.schema)
        except SchemaError as exc:
            _fail(str(exc))
        if not dry_run:
            with _ingest_progress() as seen:
                counts = ingest_dataset(spec, str(out), report=lambda n, name=spec.name: seen(name, n))
            console.print(f"{spec.name}: {counts['records']} records, {counts['drops']} quarantined -> {outputs.manifest_path(str(out), spec.name)}")
            continue
        tagger = make_tagger({spec.name: schema})
        shown, total = 0, 0
        reasons: dict[str, int] = {}
        try:
            # windows as the manifest will hold them (docs/long-form.md); a dry run decodes nothing (no VAD)
            for item in pack_windows(ingest_records(schema, spec.name, spec.root, spec.roots), schema.windows):
                total += 1
                if not isinstance(item, Drop):
                    item = tagger(Sample(item))
                if not isinstance(item, Drop):
                    item = check_language(item)
                if isinstance(item, Drop):
                    reasons[item.reason] = reasons.get(item.reason, 0) + 1
                    console.print(f"problem {item.reason}: {item.detail}", style="red", highlight=False, markup=False, soft_wrap=True)
                elif shown < limit:
                    shown += 1
                    record = item.record
                    span = f" {record.offset:.2f}+{record.duration:.2f}s" if record.duration is not None else ""
                    where = f"{record.audio_root}:{record.audio}" if record.audio_root else record.audio
                    console.print(f"{record.key} ({record.split}, {record.role}) {where}{span}", style="bold", highlight=False, markup=False, soft_wrap=True)
                    for view in item.views:
                        console.print(f"    {view.prompt}{view.target}", highlight=False, markup=False, soft_wrap=True)
        except (FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
        problems = sum(reasons.values())
        by_reason = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
        console.print(
            f"{spec.name}: {total} input(s), {total - problems} record(s), {problems} problem(s)" + (f" ({by_reason})" if by_reason else ""),
            highlight=False, markup=False, soft_wrap=True,
        )


@text_app.command("explain")
def text_explain(
    text: str = typer.Argument(..., help="The text, as a corpus writes it."),
    lang: str = typer.Option("en", "--lang", help="Declared text language (en, zh, zh_tr, de, es, fr, it, ja, ko)."),
    schema: Optional[str] = typer.Option(None, "--schema", help="Apply this schema's `normalize` section (built-in name or file)."),
) -> None:
    """Show what each normalization step did to TEXT, then the language check's verdict."""
    from schemas.loader import SchemaError, load
    from schemas.model import Normalize

    from rich.text import Text

    from pipelines.prepare.language_check import check
    from pipelines.ingest.text import explain

    rules = Normalize()
    if schema is not None:
        try:
            rules = load(schema).normalize
        except SchemaError as exc:
            _fail(str(exc))
    result = explain(text, lang, rules)
    table = Table(title=f"normalize ({lang}{', schema ' + schema if schema else ''})")
    table.add_column("step")
    table.add_column("text after the step")
    for step in result.trace:
        table.add_row(step.step, Text(step.note or (step.text if step.changed else "(unchanged)")), style=None if step.changed or step.note else "dim")
    stdout = Console()
    stdout.print(table)
    if not result.ok:
        stdout.print(f"refused: {result.reason}: {result.detail}", highlight=False, markup=False)
        raise typer.Exit(1)
    stdout.print(f"text ({result.language}): {result.text}", highlight=False, markup=False)
    verdict = check(result.text, result.language)
    if verdict is not None:
        stdout.print(f"langid: {verdict.detected} (score {verdict.score}) -> {verdict.verdict}", highlight=False, markup=False)


@schema_app.command("validate")
def schema_validate(files: List[str] = typer.Argument(..., help="Schema files or built-in names.")) -> None:
    """Validate schemas and run the worked examples written inside them."""
    from schemas.loader import SchemaError, load

    from pipelines.ingest.corpus import run_example

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


def main() -> None:
    """The ``audioprep`` console script: the app, then the interpreter's exit without its final
    garbage collections over every imported module's objects (~0.4 s once Beam is imported;
    atexit handlers and open files are closed as usual)."""
    prefer_system_allocator()
    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()
