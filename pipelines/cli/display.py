"""What the commands show on the terminal: the error line, progress bars, the plan and the summary."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, Iterator, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

#: messages, progress and tables go to stderr; stdout is left to what a command prints as its result
console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """The red ``error:`` line, then exit with ``code`` (2: the command as given cannot run)."""
    # one line, wrapped by the terminal: a path broken by a hard line break cannot be copied
    from rich.markup import escape

    # the message is text, never markup: an install hint's 'audioprep[longform]' is shown as written
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _show_progress() -> bool:
    return console.is_terminal or os.environ.get("AUDIOPREP_PROGRESS") == "1"


def progress() -> Progress:
    """A bar counting done items against a total."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False, disable=not _show_progress(),
    )


@contextmanager
def ingest_progress() -> Iterator[Callable[[str, int], None]]:
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


def print_plan(plan) -> None:
    """The planned hours per corpus (with its weighting factor) and per task."""
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
    config = plan.run_config()
    print_filters(config.filters, config.dnsmos)


def print_filters(filters: dict, with_dnsmos: bool = False) -> None:
    """The run's quality filters (docs/quality.md): measured on the decoded clips, so the planned hours
    above are before them; and whether DNSMOS is measured."""
    from pipelines.prepare.filters import describe

    console.print(f"DNSMOS: {'measured on speech clips (the dnsmos extra)' if with_dnsmos else 'off'}")
    rules = describe(filters)
    if not rules:
        console.print("quality filters: none (every clip is measured, none is refused for its quality)")
        return
    console.print("quality filters (applied after decoding: the hours above are before them):")
    for line in rules:
        console.print(f"  {line}", markup=False)


def print_summary(summary: dict) -> None:
    """A finished run's counts per dataset, its shards and hours, and what was quarantined, by reason."""
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
