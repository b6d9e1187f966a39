"""Commands over corpora before any run: ``demo`` writes small corpora, ``ingest`` reads corpora into
manifests, or shows (``--dry-run``) their first records with their tags and every problem."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from pipelines.cli.display import console, fail, ingest_progress
from pipelines.core import outputs
from pipelines.core.config import DatasetSpec

DATASET_HELP = (
    "NAME=ROOT: a built-in schema name (or NAME:SCHEMA_FILE) and the corpus root as unpacked; a schema that "
    "declares extra roots takes them after commas: covost2=ROOT,common_voice=PATH. Repeat per corpus."
)


def check_roots(spec: DatasetSpec) -> None:
    """Fail naming a local root of ``spec`` that is not a folder, or where its schema's metadata
    pattern matches nothing (suggesting the folder where it does); s3:// roots are checked when listed."""
    from schemas.loader import SchemaError, load

    from pipelines.ingest.rootcheck import check_root

    try:
        spec.check_roots()
        check_root(load(spec.schema), spec)
    except (ValueError, SchemaError) as exc:
        fail(str(exc))


def demo(directory: Path = typer.Argument(..., help="Folder to write the demo corpora into.")) -> None:
    """Write small demo corpora (LibriSpeech, Clotho, CochlScene) in their genuine layouts."""
    from pipelines.demo import write_demo

    roots = write_demo(str(directory))
    for name, root in roots.items():
        console.print(f"{name}: {root}")
    flags = " ".join(f"--dataset {n}={r}" for n, r in roots.items())
    console.print(f"next: audioprep run {flags} --out out/")


def ingest(
    dataset: List[str] = typer.Option([], "--dataset", "-d", help=DATASET_HELP),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write manifests/NAME.parquet here."),
    dry_run: bool = typer.Option(False, help="Write nothing; print the first records with their tags and every problem."),
    limit: int = typer.Option(20, help="With --dry-run: how many records to print."),
) -> None:
    """Read corpora into canonical records (a Parquet manifest per dataset) without decoding audio."""
    from schemas.loader import SchemaError, load

    from pipelines.ingest.manifest import ingest_dataset

    specs = _specs(dataset)
    if not dry_run and out is None:
        fail("give --out (or --dry-run)")
    for spec in specs:
        try:
            schema = load(spec.schema)
        except SchemaError as exc:
            fail(str(exc))
        if dry_run:
            _show_records(spec, schema, limit)
            continue
        with ingest_progress() as seen:
            counts = ingest_dataset(spec, str(out), report=lambda n, name=spec.name: seen(name, n))
        console.print(f"{spec.name}: {counts['records']} records, {counts['drops']} quarantined -> {outputs.manifest_path(str(out), spec.name)}")


def _specs(datasets: list[str]) -> tuple[DatasetSpec, ...]:
    from pipelines.core.run_request import parse_corpora

    if not datasets:
        fail("give at least one --dataset NAME=ROOT")
    try:
        specs = parse_corpora(datasets)
    except ValueError as exc:
        fail(str(exc))
    for spec in specs:
        check_roots(spec)
    return specs


def _show_records(spec: DatasetSpec, schema, limit: int) -> None:
    """The dry run: the first ``limit`` records with their views, every problem, then the counts."""
    from pipelines.core.record import Drop
    from pipelines.ingest.corpus import ingest as ingest_records
    from pipelines.ingest.windows import pack_windows
    from pipelines.prepare.stages import Sample, check_language, make_tagger

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
                _show_sample(item)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    problems = sum(reasons.values())
    by_reason = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
    console.print(
        f"{spec.name}: {total} input(s), {total - problems} record(s), {problems} problem(s)" + (f" ({by_reason})" if by_reason else ""),
        highlight=False, markup=False, soft_wrap=True,
    )


def _show_sample(sample) -> None:
    """A record's key, split, role, audio and span, then each of its views (prompt and target)."""
    record = sample.record
    span = f" {record.offset:.2f}+{record.duration:.2f}s" if record.duration is not None else ""
    where = f"{record.audio_root}:{record.audio}" if record.audio_root else record.audio
    console.print(f"{record.key} ({record.split}, {record.role}) {where}{span}", style="bold", highlight=False, markup=False, soft_wrap=True)
    for view in sample.views:
        console.print(f"    {view.prompt}{view.target}", highlight=False, markup=False, soft_wrap=True)
