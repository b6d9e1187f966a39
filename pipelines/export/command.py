"""``audioprep export OUT --format F --to DIR``: a finished run's sets as a training framework reads them.

Streams every shard of the chosen sets once (one shard at a time, from a folder or ``s3://``): each
sample's FLAC is written once under ``DIR/audio/`` (``files.AudioFiles``), each of its task views
becomes rows of the format (``FORMATS``) in JSONL files under DIR. A rerun skips the audio already
written and rewrites the small JSONL files whole. ``export.json``, written last, says what was
exported from where and how many rows and audio files each set gave.
"""
from __future__ import annotations

from typing import Callable

from pipelines.export.chatml import ChatML
from pipelines.export.files import AudioFiles, Destination, JsonlParts
from pipelines.export.qwen_eval import QwenAudioEval
from pipelines.export.sharegpt import LlamaFactory, MsSwift
from pipelines.reader.shards import iter_samples, open_run

FORMATS = {cls.name: cls for cls in (QwenAudioEval, MsSwift, LlamaFactory, ChatML)}
SUMMARY = "export.json"
DEFAULT_ROWS_PER_FILE = 100_000


class ExportFailed(ValueError):
    """The export was asked for something it cannot do (unknown format, no such set)."""


def export(
    out: str,
    fmt: str,
    to: str,
    *,
    sets: list[str] | None = None,
    absolute_paths: bool = False,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    workdir: str | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> dict:
    """Export the run ``out`` (folder or ``s3://``) in format ``fmt`` to ``to`` (folder or ``s3://``).

    ``sets`` chooses sets by name (``train``, ``eval/NAME/SPLIT``; default: every set the format
    takes); audio paths in rows are relative to ``to`` unless ``absolute_paths``; ``workdir`` is the
    local work folder of an ``s3://`` destination. ``advance`` is called with 1 after each shard.
    Returns the summary also written to ``export.json``.
    """
    if fmt not in FORMATS:
        raise ExportFailed(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    if rows_per_file < 1:
        raise ExportFailed(f"--rows-per-file must be at least 1, not {rows_per_file}")
    family = FORMATS[fmt]()
    destination = Destination(to, workdir)
    audio = AudioFiles(destination)
    series: dict[str, JsonlParts] = {}
    per_set: dict[str, dict] = {}
    with open_run(out) as run:
        chosen = family.sets(run.sets())
        unknown = sorted(set(sets or ()) - set(chosen))
        if unknown:
            raise ExportFailed(f"format {fmt} cannot export set(s) {unknown} of {out}; its sets: {', '.join(chosen) or 'none'}")
        for group in [g for g in chosen if sets is None or g in sets]:
            counts = per_set.setdefault(group, {"samples": 0, "rows": 0})
            for entry in run.set_shards(group):
                with run.local(entry) as path:
                    for sample in iter_samples(path):
                        reference = destination.reference(audio.add(sample.flac), absolute_paths)
                        counts["samples"] += 1
                        for name, row in family.rows(group, sample, reference):
                            if name not in series:
                                series[name] = JsonlParts(destination, name, rows_per_file if family.split_files else None)
                            series[name].write(row)
                            counts["rows"] += 1
                advance(1)
    files = {name: parts.close() for name, parts in sorted(series.items())}
    summary = {
        "format": fmt,
        "run": out,
        "audio_paths": "absolute" if absolute_paths else "relative to the export folder",
        "sets": per_set,
        "files": files,
        "audio_files": {"written": audio.written, "already_there": audio.found},
        **family.finish(destination, files),
    }
    destination.write_json(SUMMARY, summary)
    return summary


