"""``audioprep export``: a finished run (or one of its sets) for a training or evaluation framework
(pipelines/export/, docs/exports.md)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from pipelines.cli.display import console, fail


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
    """Export a finished run as JSONL for Qwen-Audio's evaluation scripts, ms-swift, LLaMA-Factory or ChatML, with its audio as FLAC files."""
    from pipelines.export.command import ExportFailed
    from pipelines.export.command import export as export_run
    from pipelines.reader.shards import RunError

    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    try:
        summary = export_run(out, fmt, to, sets=sets or None, absolute_paths=absolute_paths, rows_per_file=rows_per_file,
                             workdir=str(work_dir) if work_dir else None)
    except (ExportFailed, RunError) as exc:
        fail(str(exc))
    for name, counts in summary["sets"].items():
        console.print(f"{name}: {counts['samples']} samples, {counts['rows']} rows", highlight=False)
    audio = summary["audio_files"]
    console.print(f"[green]OK[/]: {fmt} in {to} ({audio['written']} audio files written, {audio['already_there']} already there)", highlight=False)
