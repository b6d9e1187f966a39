"""Commands over a finished run's output: ``verify`` re-reads every shard, ``stats`` reports what the
run holds from its index and statistics (no audio read)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.display import console, fail, progress
from pipelines.core import outputs


def verify(
    out: str = typer.Argument(..., help="A run's output folder or s3://bucket/prefix/."),
    endpoint_url: Optional[str] = typer.Option(None, help="S3-compatible endpoint; default: AWS_ENDPOINT_URL, else AWS."),
    duplicates: bool = typer.Option(
        False, "--duplicates",
        help="Also list audio written twice (bit-identical 16 kHz PCM): in training and evaluation (a problem) or across corpora.",
    ),
) -> None:
    """Re-read every shard: checksums against the index, tar structure, audio, tags, counts, evaluation leaks."""
    from pipelines.core.atomic import read_json
    from pipelines.finalize.verify import verify as verify_run

    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    index = os.path.join(out, outputs.INDEX)
    total = len(read_json(index)["shards"]) if os.path.exists(index) else None
    with progress() as bar:
        task = bar.add_task("verify shards", total=total)
        report = verify_run(str(out), advance=lambda n: bar.advance(task, n), duplicates=duplicates)
    for problem in report.problems:
        console.print(f"[red]✗[/] {problem}", highlight=False)
    for note in report.notes:
        console.print(f"[yellow]•[/] {note}", highlight=False)
    status = "[green]OK[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]"
    console.print(f"{status}: {report.shards} shards, {report.samples} samples, {report.seconds / 3600:.3f} h")
    if not report.ok:
        raise typer.Exit(1)


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

    from pipelines.report.build import build_report
    from pipelines.report.load import StatsError, load_run
    from pipelines.report.sections import sections
    from pipelines.report.warnings import EVAL_SPLIT_PATTERN, Thresholds

    try:
        limits = Thresholds(min_task_hours, min_label_examples, max_quarantine_rate, max_language_mismatch, eval_split_pattern or EVAL_SPLIT_PATTERN)
        report = build_report(load_run(str(out)), limits, load_run(str(compare)) if compare else None)
    except StatsError as exc:
        fail(str(exc))
    parts = sections(report, top)
    _print_sections(parts)
    if json_path:
        write_json(str(json_path), report)
        console.print(f"statistics: {json_path}")
    if html:
        from pipelines.report.html import write_html

        write_html(str(html), parts, "audioprep stats", f"{out}" + (f", compared with {compare}" if compare else ""))
        console.print(f"report: {html}")
    if report["warnings"] and fail_on_warnings:
        fail(f"{len(report['warnings'])} warning(s)", code=1)


def _print_sections(parts) -> None:
    """The report's sections as terminal tables on stdout, each under a rule with its title."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

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
