"""The ``audioprep`` command line: the typer ``app`` and its console script ``main``.

In: the command line (a run config file or ``--dataset`` flags with options; a run's output folder;
schema files; a transcript). Out: what the stages called write (manifests, shards, index, summary,
statistics, reports), and on the terminal the plan, progress, counts and any error as one red line
(exit status 2 for a command that cannot run as given, 1 for a run or check that failed).
Commands by module: ``corpora`` (demo, ingest), ``run``, ``inspect`` (verify, stats), ``export``, ``schema``
(schema validate/jsonschema/list, text explain); ``display`` draws what they show. Each imports the
stages it calls when it runs, so ``audioprep --help`` loads no engine and no audio or Arrow library.
"""
from __future__ import annotations

import gc

import typer

from pipelines.cli import corpora, export, inspect, run, schema
from pipelines.core.process import prefer_system_allocator

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

app.command()(corpora.demo)
app.command(context_settings=run.PASS_BEAM_OPTIONS)(run.run)
app.command()(inspect.verify)
app.command()(inspect.stats)
app.command()(corpora.ingest)
app.command()(export.export)
text_app.command("explain")(schema.text_explain)
schema_app.command("validate")(schema.schema_validate)
schema_app.command("jsonschema")(schema.schema_jsonschema)
schema_app.command("list")(schema.schema_list)


def main() -> None:
    """The ``audioprep`` console script: the allocator chosen before Arrow loads, the app, then an
    exit that skips the interpreter's final garbage collections over every imported module's objects
    (``gc.freeze``; bench/README.md says what that saves; atexit handlers and open files are closed
    as usual)."""
    prefer_system_allocator()
    try:
        app()
    finally:
        gc.freeze()
