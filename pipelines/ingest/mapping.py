"""Mapping: a batch of metadata rows -> the columns of their records, step by step, no audio decoded.

Each row first gets its fields completed (``row_fields``: the schema's defaults, exclusions and
derived fields, joined fields, its audio file), a row at a time; then ``map_rows`` fills the
record's fields for the whole batch column by column (``Batch``): templates, the check that the
audio path stays inside its root and exists (one listing per folder, ``Locator``), split role,
languages, span and licence, then normalization (``normalize_columns``) and the check that every
string is text. A row is refused by the first step that refuses it, exactly as if it were mapped
alone (``map_row``, a batch of one, is what the schemas' worked examples use). Every item of a
batch becomes exactly one record or one drop.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from schemas.model import DatasetSchema
from schemas.templates import MissingField, render

from pipelines.core.keys import sample_keys
from pipelines.core.origins import has_identity
from pipelines.core.record import RECORD_FIELDS, Drop, DropSpan, Record
from pipelines.ingest.audio_index import AudioIndex
from pipelines.ingest.batch import Batch, Mapped
from pipelines.ingest.guards import is_text, not_text_drops, printable_drop
from pipelines.ingest.joins import JoinTable
from pipelines.ingest.layouts import Row
from pipelines.ingest.layouts.paths import Locator
from pipelines.ingest.refusals import STAGE, Refused
from pipelines.ingest.rows import apply_row_rules, audio_path, dropped_span, known_split, language_code, number_of, span
from pipelines.ingest.text import normalize_columns, refusal
from pipelines.ingest.wordtimes import WordTimesError, words_of


@dataclass
class Context:
    """What mapping rows needs beyond the schema: roots, loaded joins, the audio index."""

    roots: dict[str, str] = field(default_factory=dict)
    joins: list[JoinTable] = field(default_factory=list)
    audio: AudioIndex | None = None
    check_files: bool = True
    locate: Locator = field(default_factory=Locator)


def row_fields(schema: DatasetSchema, context: Context, row: Row) -> dict[str, str]:
    """A row's fields with the schema's defaults, exclusions, derived fields, joins and audio file."""
    if not (schema.defaults or schema.exclude or schema.derive or context.joins or context.audio is not None):
        return row.fields  # nothing to add: the reader's own dict (never changed later)
    fields = dict(row.fields)
    excluded = apply_row_rules(schema, fields) if schema.defaults or schema.exclude or schema.derive else None
    try:
        for join in context.joins:
            join.apply(fields)
        if context.audio is not None:
            context.audio.apply(fields)
    except (Refused, MissingField):
        if excluded is None:
            raise
    if excluded is not None:  # refused with where its audio lies: a window never runs across it
        raise Excluded(excluded.reason, excluded.detail, dropped_span(schema, fields))
    return fields


class Excluded(Refused):
    """A row the schema excludes, with the span of audio it covers (``dropped_span``) when known."""

    def __init__(self, reason: str, detail: str, span: DropSpan | None):
        super().__init__(reason, detail)
        self.span = span


def map_rows(schema: DatasetSchema, dataset: str, root: str, items: list[Row | Drop], context: Context) -> Mapped:
    """A batch of metadata rows (and the reader's drops among them) -> the manifest columns of its
    records, their positions in ``items``, and the drops with theirs: every item is exactly one
    record or one drop. Each step runs over the whole batch, in the order of the record's fields; a
    row is refused by the first step that refuses it, as if it were mapped alone (``map_row``).
    A column made by one step and used by a later one is kept in ``batch.out`` (a refusal in between
    removes the row from it too)."""
    batch = _batch_of(schema, dataset, items, context)
    _map_split_and_audio(batch, schema, root, context)
    _map_span(batch, schema)
    _map_languages_and_key(batch, schema, dataset)
    _map_content(batch, schema)
    _map_seconds(batch, schema)
    _map_translation(batch, schema)
    _map_words(batch, schema, root)
    _map_origins(batch, schema)
    _add_fixed_fields(batch, schema, dataset)
    return _normalized_and_checked(batch, schema, dataset)


def map_row(schema: DatasetSchema, dataset: str, root: str, row: Row, *, context: Context | None = None) -> Record | Drop:
    """One row of fields -> one record, or a drop naming the source and the reason (``map_rows``
    over a batch of one)."""
    return map_rows(schema, dataset, root, [row], context or Context()).items()[0]


def _batch_of(schema: DatasetSchema, dataset: str, items: list[Row | Drop], context: Context) -> Batch:
    """The items' rows with their fields completed (``row_fields``); the reader's drops, and the rows
    refused while completing them, are the batch's first drops."""
    rows, drops = [], []
    for position, item in enumerate(items):
        if isinstance(item, Drop):
            drops.append((position, replace(item, dataset=dataset)))
            continue
        try:
            rows.append((position, row_fields(schema, context, item), item.source))
        except MissingField as exc:
            drops.append((position, Drop(STAGE, "missing_field", f"{item.source}: {exc}", dataset=dataset, source=item.source)))
        except Refused as exc:
            dropped = getattr(exc, "span", None)
            drop = Drop(STAGE, exc.reason, f"{item.source}: {exc.detail}", dataset=dataset, source=item.source, span=dropped)
            drops.append((position, drop))
    return Batch(dataset, rows, drops)


def _map_split_and_audio(batch: Batch, schema: DatasetSchema, root: str, context: Context) -> None:
    """The split (one the schema declares) and the audio path (inside its root, and a file there)."""
    mapping, out = schema.record, batch.out
    out["split"] = batch.value(mapping.split, "split")
    out["split"] = batch.apply_distinct(lambda split: known_split(schema, split), out["split"])
    base = root if mapping.audio_root is None else context.roots.get(mapping.audio_root, f"/{mapping.audio_root}")
    out["audio"] = batch.render(mapping.audio)
    joined = "\n".join(out["audio"])
    checked = "\x00" not in joined and is_text(joined)  # one search for the whole batch
    must_exist = context.check_files and context.audio is None  # the audio index found its files already
    out["audio"] = batch.apply(lambda path: audio_path(base, path, context.locate, must_exist, checked), out["audio"])


def _map_span(batch: Batch, schema: DatasetSchema) -> None:
    """Offset and duration in the audio file (from an offset and a duration, or an end)."""
    mapping, out = schema.record, batch.out
    out["offset"] = batch.number(mapping.offset, "offset")
    out["duration"] = batch.number(mapping.duration, "duration")
    out["_end"] = batch.number(mapping.end, "end")
    spans = batch.apply(span, out["offset"], out["duration"], out["_end"])
    del out["_end"]
    out["offset"], out["duration"] = [offset for offset, _ in spans], [duration for _, duration in spans]


def _map_languages_and_key(batch: Batch, schema: DatasetSchema, dataset: str) -> None:
    """The spoken language, the text's and the translation's, and the key. The key is rendered before
    the text language is checked: a row that fails both is refused for its key."""
    mapping, out = schema.record, batch.out
    declared = batch.value(mapping.language, "language") if mapping.language is not None else batch.constant(schema.language)
    # '' from a map's default: no language
    out["language"] = batch.apply_distinct(lambda code: language_code(code or None, "language"), declared)
    if mapping.text_language is not None:
        out["text_language"] = batch.value(mapping.text_language, "text_language")
    elif mapping.language is not None:
        out["text_language"] = [code or schema.text_language for code in out["language"]]
    else:
        out["text_language"] = batch.constant(schema.text_language)
    out["translation_language"] = (
        batch.value(mapping.translation_language, "translation_language")
        if mapping.translation_language is not None else batch.constant(None)
    )
    out["key"] = sample_keys(dataset, batch.render(mapping.key))
    out["text_language"] = batch.apply_distinct(lambda code: language_code(code, "text language"), out["text_language"])


def _map_content(batch: Batch, schema: DatasetSchema) -> None:
    """Text, captions, labels, speaker, licence and meta."""
    mapping, out = schema.record, batch.out
    out["text"] = batch.value(mapping.text, "text") if mapping.text is not None else batch.constant(None)
    for index, template in enumerate(mapping.captions):
        out[f"captions.{index}"] = batch.render(template)
    captions = [out.pop(f"captions.{index}") for index in range(len(mapping.captions))]
    out["captions"] = list(zip(*captions)) if captions else batch.constant(())
    for name, template in mapping.labels.items():
        out[f"labels.{name}"] = batch.value(template, f"labels.{name}")
    labels = {name: out.pop(f"labels.{name}") for name in mapping.labels}
    # one empty dict shared by the rows that have none: a record's containers are never changed in place
    out["labels"] = [dict(zip(labels, values)) for values in zip(*labels.values())] if labels else batch.constant({})
    out["speaker"] = [value or None for value in batch.render(mapping.speaker)] if mapping.speaker else batch.constant(None)
    if mapping.license:
        out["license"] = [value or schema.license for value in batch.render(mapping.license)]
    else:
        out["license"] = batch.constant(schema.license)
    for name, template in mapping.meta.items():
        out[f"meta.{name}"] = batch.render(template)
    meta = {name: out.pop(f"meta.{name}") for name in mapping.meta}
    out["meta"] = (
        [{name: value for name, value in zip(meta, values) if value} for values in zip(*meta.values())]
        if meta else batch.constant({})
    )


def _map_seconds(batch: Batch, schema: DatasetSchema) -> None:
    """The record's length: its duration, else the schema's ``seconds`` (read only where no duration is known)."""
    mapping, out = schema.record, batch.out
    if mapping.seconds is None:
        out["seconds"] = list(out["duration"])
        return
    known = out["duration"]
    seconds = batch.each_row(lambda fields, i: number_of(mapping.seconds, fields, "seconds"), only=[d is None for d in known])
    out["seconds"] = [d if d is not None else s for d, s in zip(out["duration"], seconds)]


def _map_translation(batch: Batch, schema: DatasetSchema) -> None:
    """The translation, and the check that its language (rendered earlier) has a token."""
    mapping, out = schema.record, batch.out
    if mapping.translation is not None:
        out["translation"] = batch.value(mapping.translation, "translation")
    else:
        out["translation"] = batch.constant(None)
    out["translation_language"] = batch.apply_distinct(
        lambda code: language_code(code, "translation language"), out["translation_language"]
    )


def _map_words(batch: Batch, schema: DatasetSchema, root: str) -> None:
    """Word times the corpus ships (docs/long-form.md); a corpus whose word times are optional keeps a
    record whose times cannot be read, without them."""
    if schema.words is None:
        batch.out["words"] = batch.constant(())
        return
    offsets, durations = batch.out["offset"], batch.out["duration"]

    def words(fields: dict[str, str], i: int) -> tuple:
        try:
            return words_of(schema.words, fields, root, offsets[i], durations[i])
        except WordTimesError as exc:
            if schema.words.required:
                raise Refused(exc.reason, exc.detail) from None
            return ()

    batch.out["words"] = batch.each_row(words)


def _map_origins(batch: Batch, schema: DatasetSchema) -> None:
    """The record's upstream identities (``origin``: one template or several); one that renders
    without an identity (an empty or missing field) is left out, never the record."""
    templates = schema.record.origins()
    if not templates:
        batch.out["origins"] = batch.constant(())
        return

    def origins(fields: dict[str, str], _: int) -> tuple[str, ...]:
        found = []
        for template in templates:
            try:
                origin = render(template, fields)
            except MissingField:  # an optional join without a match: this origin is unknown, the record stays
                continue
            if has_identity(origin) and origin not in found:
                found.append(origin)
        return tuple(found)

    batch.out["origins"] = batch.each_row(origins)


def _add_fixed_fields(batch: Batch, schema: DatasetSchema, dataset: str) -> None:
    """The fields every record of the batch has alike (and the role its split gives)."""
    out = batch.out
    out.update(
        dataset=batch.constant(dataset), role=[schema.splits[split] for split in out["split"]], channel=batch.constant(None),
        text_form=batch.constant(schema.text_form), text_raw=batch.constant(None), source=list(batch.sources),
        copy=batch.constant(0), audio_root=batch.constant(schema.record.audio_root), spans=batch.constant(()),
    )


def _span(out: dict[str, list], i: int, schema: DatasetSchema) -> DropSpan | None:
    """Row ``i``'s segment (its audio file and times), for the drop that refuses it; None for a whole file."""
    duration = out["duration"][i]
    return None if duration is None else DropSpan(schema.record.audio_root, out["audio"][i], out["offset"][i], duration)


def _normalized_and_checked(batch: Batch, schema: DatasetSchema, dataset: str) -> Mapped:
    """The batch's texts normalized (``normalize_columns``) and every string checked to be text: the
    records' columns, their positions, and every drop of the batch with its position."""
    out = batch.out
    refused = normalize_columns(out, schema.normalize)
    batch.remove({
        i: replace(refusal(what, result, dataset, out["key"][i], batch.sources[i]), span=_span(out, i, schema))
        for i, (what, result) in refused.items()
    })
    batch.remove(not_text_drops(out))
    columns = {name: out[name] for name in RECORD_FIELDS}
    drops = sorted(((position, printable_drop(drop)) for position, drop in batch.drops), key=lambda d: d[0])
    return Mapped(columns, batch.positions, drops)
