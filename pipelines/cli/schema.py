"""The ``schema`` commands (validate dataset schemas, print their JSON Schema, list the built-in ones)
and ``text explain`` (what normalization and the language check make of a transcript)."""
from __future__ import annotations

import itertools
import sys
from typing import List, Optional

import typer

from pipelines.cli.display import console, fail


def schema_validate(files: List[str] = typer.Argument(..., help="Schema files or built-in names.")) -> None:
    """Validate schemas and run the worked examples written inside them."""
    from schemas.loader import SchemaError, load

    from pipelines.ingest.examples import run_example

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


def schema_jsonschema() -> None:
    """Print the JSON Schema of dataset schema files (for editor completion and checks)."""
    from schemas.loader import json_schema

    sys.stdout.write(json_schema() + "\n")


def schema_list() -> None:
    """List the built-in dataset schemas."""
    from schemas.loader import builtin_names, load

    for name in builtin_names():
        schema = load(name)
        tasks = ", ".join(t.task for t in schema.tasks)
        sys.stdout.write(f"{name}\t{schema.license}\t{tasks}\n")


def text_explain(
    text: str = typer.Argument(..., help="The text, as a corpus writes it."),
    lang: str = typer.Option("en", "--lang", help="Declared text language (en, zh, zh_tr, de, es, fr, it, ja, ko)."),
    schema: Optional[str] = typer.Option(None, "--schema", help="Apply this schema's `normalize` section (built-in name or file)."),
) -> None:
    """Show what each normalization step did to TEXT, then the language check's verdict."""
    from schemas.loader import SchemaError, load
    from schemas.text import Normalize

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from pipelines.prepare.language_check import check
    from pipelines.ingest.text import explain

    rules = Normalize()
    if schema is not None:
        try:
            rules = load(schema).normalize
        except SchemaError as exc:
            fail(str(exc))
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
